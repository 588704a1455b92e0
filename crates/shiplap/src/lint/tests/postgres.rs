//! The PostgreSQL rules, each firing and quiet.

use super::*;

#[test]
fn pg_index_not_concurrent() {
    let rule = "pg_index_not_concurrent";
    fires(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"CREATE INDEX "i" ON "users" ("email")"#],
        ),
    );
    quiet(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"CREATE INDEX CONCURRENTLY "i" ON "users" ("email")"#],
        )
        .without_transaction(),
    );
    // A table created in the same migration has no readers yet.
    quiet(
        rule,
        case(
            Postgres,
            &[],
            &[USERS_PG, r#"CREATE INDEX "i" ON "users" ("email")"#],
        ),
    );
}

#[test]
fn pg_concurrently_in_transaction() {
    let rule = "pg_concurrently_in_transaction";
    fires(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"CREATE INDEX CONCURRENTLY "i" ON "users" ("email")"#],
        ),
    );
    fires(
        rule,
        case(Postgres, &[USERS_PG], &[r#"DROP INDEX CONCURRENTLY "i""#]),
    );
    quiet(
        rule,
        case(Postgres, &[USERS_PG], &[r#"DROP INDEX CONCURRENTLY "i""#]).without_transaction(),
    );
}

#[test]
fn pg_drop_index_not_concurrent() {
    let rule = "pg_drop_index_not_concurrent";
    fires(
        rule,
        case(Postgres, &[USERS_PG], &[r#"DROP INDEX "users_email_key""#]),
    );
    quiet(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"DROP INDEX CONCURRENTLY "users_email_key""#],
        )
        .without_transaction(),
    );
}

#[test]
fn pg_constraint_not_valid() {
    let rule = "pg_constraint_not_valid";
    fires(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"ALTER TABLE "users" ADD CONSTRAINT "c" CHECK ("age" > 0)"#],
        ),
    );
    fires(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[
                r#"ALTER TABLE "users" ADD CONSTRAINT "fk" FOREIGN KEY ("id") REFERENCES "people" ("id")"#,
            ],
        ),
    );
    // Validated in the same transaction: the ADD's lock is held during the scan.
    fires(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[
                r#"ALTER TABLE "users" ADD CONSTRAINT "c" CHECK ("age" > 0) NOT VALID"#,
                r#"ALTER TABLE "users" VALIDATE CONSTRAINT "c""#,
            ],
        ),
    );
    quiet(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"ALTER TABLE "users" ADD CONSTRAINT "c" CHECK ("age" > 0) NOT VALID"#],
        ),
    );
    quiet(
        rule,
        case(
            Postgres,
            &[
                USERS_PG,
                r#"ALTER TABLE "users" ADD CONSTRAINT "c" CHECK ("age" > 0) NOT VALID"#,
            ],
            &[r#"ALTER TABLE "users" VALIDATE CONSTRAINT "c""#],
        ),
    );
}

#[test]
fn pg_set_not_null() {
    let rule = "pg_set_not_null";
    fires(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"ALTER TABLE "users" ALTER COLUMN "name" SET NOT NULL"#],
        ),
    );
    quiet(
        rule,
        case(
            Postgres,
            &[
                USERS_PG,
                r#"ALTER TABLE "users" ADD CONSTRAINT "name_nn" CHECK ("name" IS NOT NULL) NOT VALID"#,
                r#"ALTER TABLE "users" VALIDATE CONSTRAINT "name_nn""#,
            ],
            &[
                r#"ALTER TABLE "users" ALTER COLUMN "name" SET NOT NULL"#,
                r#"ALTER TABLE "users" DROP CONSTRAINT "name_nn""#,
            ],
        ),
    );
}

#[test]
fn pg_set_not_null_on_a_not_null_column_is_quiet() {
    // sea-query's modify_column repeats SET NOT NULL: on a NOT NULL column it scans nothing.
    quiet(
        "pg_set_not_null",
        case(
            Postgres,
            &[USERS_PG],
            &[
                r#"ALTER TABLE "users" ALTER COLUMN "email" TYPE varchar(400), ALTER COLUMN "email" SET NOT NULL"#,
            ],
        ),
    );
}

#[test]
fn pg_add_unique_constraint() {
    let rule = "pg_add_unique_constraint";
    fires(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"ALTER TABLE "users" ADD CONSTRAINT "u" UNIQUE ("name")"#],
        ),
    );
    quiet(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"ALTER TABLE "users" ADD CONSTRAINT "u" UNIQUE USING INDEX "users_name_idx""#],
        ),
    );
}

#[test]
fn pg_volatile_default() {
    let rule = "pg_volatile_default";
    fires(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"ALTER TABLE "users" ADD COLUMN "token" uuid DEFAULT gen_random_uuid()"#],
        ),
    );
    quiet(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"ALTER TABLE "users" ADD COLUMN "seen_at" timestamp with time zone DEFAULT now()"#],
        ),
    );
}

#[test]
fn pg_type_change_rewrite() {
    let rule = "pg_type_change_rewrite";
    fires(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"ALTER TABLE "users" ALTER COLUMN "age" TYPE bigint"#],
        ),
    );
    quiet(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"ALTER TABLE "users" ALTER COLUMN "name" TYPE varchar(128)"#],
        ),
    );
    quiet(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"ALTER TABLE "users" ALTER COLUMN "total" TYPE numeric(12, 2)"#],
        ),
    );
}

#[test]
fn pg_column_types() {
    for (rule, bad, good) in [
        ("pg_json_type", r#""doc" json"#, r#""doc" jsonb"#),
        (
            "pg_timestamp_without_tz",
            r#""at" timestamp"#,
            r#""at" timestamp with time zone"#,
        ),
        (
            "pg_serial",
            r#""n" serial"#,
            r#""n" bigint GENERATED BY DEFAULT AS IDENTITY"#,
        ),
    ] {
        let bad: &'static str = Box::leak(format!(r#"CREATE TABLE "t" ({bad})"#).into_boxed_str());
        let good: &'static str =
            Box::leak(format!(r#"CREATE TABLE "t" ({good})"#).into_boxed_str());
        fires(rule, case(Postgres, &[], Box::leak(Box::new([bad]))));
        quiet(rule, case(Postgres, &[], Box::leak(Box::new([good]))));
        // Not a PostgreSQL rule.
        quiet(
            rule,
            case(
                MySql,
                &[],
                Box::leak(Box::new([bad.replace('"', "`").leak() as &str])),
            ),
        );
    }
}

#[test]
fn pg_identifier_too_long() {
    let rule = "pg_identifier_too_long";
    fires(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"CREATE INDEX CONCURRENTLY "users_email_lower_and_a_great_many_other_words_that_go_on_and_on_idx" ON "users" ("email")"#],
        )
        .without_transaction(),
    );
    quiet(
        rule,
        case(
            Postgres,
            &[USERS_PG],
            &[r#"CREATE INDEX CONCURRENTLY "users_email_idx" ON "users" ("email")"#],
        )
        .without_transaction(),
    );
}

#[test]
fn pg_missing_lock_timeout() {
    let rule = "pg_missing_lock_timeout";
    const ADD: &str = r#"ALTER TABLE "users" ADD COLUMN "bio" text"#;
    fires(
        rule,
        case(Postgres, &[USERS_PG], &[ADD]).without_runner_lock_timeout(),
    );
    quiet(
        rule,
        case(Postgres, &[USERS_PG], &["SET lock_timeout = '5s'", ADD])
            .without_runner_lock_timeout(),
    );
    quiet(rule, case(Postgres, &[USERS_PG], &[ADD]));
}

/// A NOT NULL column renamed away, and a nullable one renamed to its name: SET NOT NULL
/// on the new holder of the name scans the table (the nullability goes with the column).
#[test]
fn nullability_follows_a_renamed_column() {
    const BEFORE: &[&str] = &[
        "CREATE TABLE t (id bigint PRIMARY KEY, a int NOT NULL, b int)",
        "ALTER TABLE t RENAME COLUMN a TO old_a",
        "ALTER TABLE t RENAME COLUMN b TO a",
    ];
    let rule = "pg_set_not_null";
    fires(
        rule,
        case(
            Postgres,
            BEFORE,
            &["ALTER TABLE t ALTER COLUMN a SET NOT NULL"],
        ),
    );
    quiet(
        rule,
        case(
            Postgres,
            BEFORE,
            &["ALTER TABLE t ALTER COLUMN old_a SET NOT NULL"],
        ),
    );
}

const MOOD: &str = "CREATE TYPE mood AS ENUM ('sad', 'happy')";
const MOODS: &[&str] = &[
    MOOD,
    "CREATE TABLE people (id bigint PRIMARY KEY, mood mood)",
];
const ADD_OK: &str = "ALTER TYPE mood ADD VALUE 'it''s ok' AFTER 'sad'";
const USE_OK: &str = "UPDATE people SET mood = 'it''s ok' WHERE id = 1";

#[test]
fn pg_enum_value_order() {
    let rule = "pg_enum_value_order";
    fires(
        rule,
        case(Postgres, &[MOOD], &["ALTER TYPE mood ADD VALUE 'ok'"]),
    );
    fires(
        rule,
        case(
            Postgres,
            &[MOOD],
            &["ALTER TYPE mood ADD VALUE IF NOT EXISTS 'ok'"],
        ),
    );
    quiet(
        rule,
        case(
            Postgres,
            &[MOOD],
            &["ALTER TYPE mood ADD VALUE 'ok' BEFORE 'happy'"],
        ),
    );
    quiet(rule, case(Postgres, &[MOOD], &[ADD_OK]));
}

#[test]
fn pg_enum_value_in_transaction() {
    let rule = "pg_enum_value_in_transaction";
    fires(rule, case(Postgres, MOODS, &[ADD_OK, USE_OK]));
    fires(
        rule,
        case(
            Postgres,
            MOODS,
            &[
                "ALTER TYPE mood ADD VALUE 'ok'",
                "ALTER TABLE people ALTER COLUMN mood SET DEFAULT 'ok'",
            ],
        ),
    );
    // Committed first: a migration without a transaction runs each statement on its own.
    quiet(
        rule,
        case(Postgres, MOODS, &[ADD_OK, USE_OK]).without_transaction(),
    );
    // Naming it as a neighbour, or in a function's body, does not use it.
    quiet(
        rule,
        case(
            Postgres,
            MOODS,
            &[
                ADD_OK,
                "ALTER TYPE mood ADD VALUE 'fine' AFTER 'it''s ok'",
                "CREATE FUNCTION f() RETURNS mood LANGUAGE sql AS $$ SELECT 'it''s ok'::mood $$",
            ],
        ),
    );
}

const BEGUN: &[&str] = &[
    "BEGIN",
    "CREATE TABLE t (id bigint PRIMARY KEY)",
    "INSERT INTO t VALUES (1)",
];

#[test]
fn transaction_control() {
    let rule = "transaction_control";
    for backend in [Postgres, Sqlite] {
        fires(
            rule,
            case(
                backend,
                &[],
                &["CREATE TABLE t (id bigint PRIMARY KEY)", "COMMIT"],
            ),
        );
        fires(
            rule,
            case(
                backend,
                &[],
                &["BEGIN", "CREATE TABLE t (id bigint PRIMARY KEY)"],
            ),
        );
    }
    fires(rule, case(Postgres, &[], BEGUN).without_transaction());
    fires(
        rule,
        case(
            MySql,
            &[],
            &["START TRANSACTION", "INSERT INTO t VALUES (1)"],
        ),
    );
    quiet(
        rule,
        case(
            Postgres,
            &[],
            &[
                "BEGIN",
                "CREATE TABLE t (id bigint PRIMARY KEY)",
                "INSERT INTO t VALUES (1)",
                "COMMIT",
            ],
        )
        .without_transaction(),
    );
    quiet(
        rule,
        case(
            MySql,
            &[],
            &["START TRANSACTION", "INSERT INTO t VALUES (1)", "COMMIT"],
        ),
    );
}
