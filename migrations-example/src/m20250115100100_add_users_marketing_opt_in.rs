//! A column with a constant default: existing rows get `false` without a table rewrite on
//! Postgres 11+ and MySQL 8 (instant ADD COLUMN).

use shiplap::prelude::*;

use crate::idens::Users;

/// Add users.marketing_opt_in, false unless the user says otherwise.
#[migration(version = 20250115100100)]
fn add_users_marketing_opt_in(s: &mut Schema) {
    s.add_column(
        Users::Table,
        ColumnDef::new(Users::MarketingOptIn)
            .boolean()
            .not_null()
            .default(false),
    );
}
