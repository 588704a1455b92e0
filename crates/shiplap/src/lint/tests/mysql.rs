//! The MySQL/MariaDB rules, each firing and quiet.

use super::*;

#[test]
fn mysql_table_copy() {
    let rule = "mysql_table_copy";
    fires(
        rule,
        case(
            MySql,
            &[USERS_MY],
            &["ALTER TABLE `users` MODIFY COLUMN `age` bigint"],
        ),
    );
    // varchar(32) → varchar(128): from one length byte to two.
    fires(
        rule,
        case(
            MySql,
            &[USERS_MY],
            &["ALTER TABLE `users` MODIFY COLUMN `name` varchar(128)"],
        ),
    );
    fires(
        rule,
        case(
            MySql,
            &[USERS_MY],
            &["ALTER TABLE `users` CONVERT TO CHARACTER SET utf8mb4"],
        ),
    );
    quiet(
        rule,
        case(
            MySql,
            &[USERS_MY],
            &["ALTER TABLE `users` MODIFY COLUMN `sku` varchar(128)"],
        ),
    );
}

#[test]
fn mysql_locking_ddl() {
    let rule = "mysql_locking_ddl";
    fires(
        rule,
        case(
            MySql,
            &[USERS_MY],
            &["ALTER TABLE `users` ADD COLUMN `bio` text, LOCK=SHARED"],
        ),
    );
    fires(
        rule,
        case(
            MySql,
            &[USERS_MY],
            &["CREATE FULLTEXT INDEX `ft` ON `users` (`name`)"],
        ),
    );
    quiet(
        rule,
        case(
            MySql,
            &[USERS_MY],
            &["ALTER TABLE `users` ADD COLUMN `bio` text, ALGORITHM=INPLACE, LOCK=NONE"],
        ),
    );
}

#[test]
fn mysql_foreign_key() {
    let rule = "mysql_foreign_key";
    fires(
        rule,
        case(
            MySql,
            &[USERS_MY],
            &[
                "ALTER TABLE `users` ADD CONSTRAINT `fk` FOREIGN KEY (`age`) REFERENCES `ages` (`id`)",
            ],
        ),
    );
    quiet(
        rule,
        case(
            MySql,
            &[],
            &[
                "CREATE TABLE `t` (`id` bigint NOT NULL PRIMARY KEY, `user_id` bigint, CONSTRAINT `fk` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`))",
            ],
        ),
    );
}
