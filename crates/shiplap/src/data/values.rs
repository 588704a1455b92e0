//! Binding sea-query's values as sqlx arguments, the same way on every backend.

use sea_query::{OptionEnum, Value};

use crate::error::{Error, Result};

/// Values ready to bind: each one a type every backend's driver encodes.
#[derive(Debug, Default)]
pub(crate) struct Bound(Vec<Arg>);

#[derive(Debug)]
enum Arg {
    Bool(Option<bool>),
    I16(Option<i16>),
    I32(Option<i32>),
    I64(Option<i64>),
    F32(Option<f32>),
    F64(Option<f64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    /// JSON: `jsonb` on PostgreSQL (which a `json` or `jsonb` column takes without a
    /// cast), `JSON` on MySQL, text on SQLite.
    Json(Option<serde_json::Value>),
}

impl Bound {
    /// Converts sea-query values; refuses one no backend can hold (an unsigned 64-bit
    /// integer above `i64::MAX`).
    pub(crate) fn new(values: impl IntoIterator<Item = Value>) -> Result<Self> {
        values
            .into_iter()
            .map(arg)
            .collect::<Result<_>>()
            .map(Bound)
    }
}

fn arg(value: Value) -> Result<Arg> {
    Ok(match value {
        Value::Bool(v) => Arg::Bool(v),
        Value::TinyInt(v) => Arg::I16(v.map(i16::from)),
        Value::SmallInt(v) => Arg::I16(v),
        Value::Int(v) => Arg::I32(v),
        Value::BigInt(v) => Arg::I64(v),
        Value::TinyUnsigned(v) => Arg::I16(v.map(i16::from)),
        Value::SmallUnsigned(v) => Arg::I32(v.map(i32::from)),
        Value::Unsigned(v) => Arg::I64(v.map(i64::from)),
        Value::BigUnsigned(v) => Arg::I64(
            v.map(|v| {
                i64::try_from(v).map_err(|_| Error::Data {
                    message: format!("the value {v} does not fit a signed 64-bit integer"),
                })
            })
            .transpose()?,
        ),
        Value::Float(v) => Arg::F32(v),
        Value::Double(v) => Arg::F64(v),
        Value::String(v) => Arg::Text(v),
        Value::Char(v) => Arg::Text(v.map(String::from)),
        Value::Enum(v) => Arg::Text(match v {
            OptionEnum::Some(v) => Some(v.value.into_owned()),
            OptionEnum::None(_) => None,
        }),
        Value::Bytes(v) => Arg::Bytes(v),
        Value::Json(v) => Arg::Json(v.map(|v| *v)),
        #[allow(unreachable_patterns)] // variants of sea-query features shiplap leaves off
        other => {
            return Err(Error::Data {
                message: format!("shiplap cannot bind this value: {other:?}"),
            });
        }
    })
}

macro_rules! into_arguments {
    ($feature:literal, $db:ty, $args:ty) => {
        #[cfg(feature = $feature)]
        impl sqlx::IntoArguments<$db> for Bound {
            fn into_arguments(self) -> $args {
                use sqlx::Arguments as _;
                let mut args = <$args>::default();
                for arg in self.0 {
                    // Adding fails only for a type the driver cannot encode: none of these.
                    let _ = match arg {
                        Arg::Bool(v) => args.add(v),
                        Arg::I16(v) => args.add(v),
                        Arg::I32(v) => args.add(v),
                        Arg::I64(v) => args.add(v),
                        Arg::F32(v) => args.add(v),
                        Arg::F64(v) => args.add(v),
                        Arg::Text(v) => args.add(v),
                        Arg::Bytes(v) => args.add(v),
                        Arg::Json(v) => args.add(v.map(sqlx::types::Json)),
                    };
                }
                args
            }
        }
    };
}

into_arguments!("_sqlite", sqlx::Sqlite, sqlx::sqlite::SqliteArguments);
into_arguments!("postgres", sqlx::Postgres, sqlx::postgres::PgArguments);
into_arguments!("mysql", sqlx::MySql, sqlx::mysql::MySqlArguments);

#[cfg(test)]
mod tests {
    use super::Bound;

    #[test]
    fn refuses_an_unsigned_value_past_i64() {
        assert!(Bound::new([sea_query::Value::BigUnsigned(Some(u64::MAX))]).is_err());
        assert!(Bound::new([sea_query::Value::BigUnsigned(Some(7))]).is_ok());
    }
}
