//! Column types compared: how wide an integer or text is, and whether a change of type
//! widens, narrows or rewrites.

use sqlparser::ast::{CharacterLength, DataType, ExactNumberInfo};

/// Integer width in bits, for the integer types.
pub(super) fn int_bits(data_type: &DataType) -> Option<u32> {
    Some(match data_type {
        DataType::TinyInt(_) => 8,
        DataType::SmallInt(_) | DataType::Int2(_) => 16,
        DataType::MediumInt(_) => 24,
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => 32,
        DataType::BigInt(_) | DataType::Int8(_) => 64,
        _ => return None,
    })
}

/// A varchar's length (`None`: unbounded, as text).
pub(super) fn varchar_len(data_type: &DataType) -> Option<Option<u64>> {
    match data_type {
        DataType::Varchar(len) | DataType::CharacterVarying(len) | DataType::Nvarchar(len) => {
            Some(match len {
                Some(CharacterLength::IntegerLength { length, .. }) => Some(*length),
                _ => None,
            })
        }
        DataType::Text => Some(None),
        _ => None,
    }
}

pub(super) fn numeric(data_type: &DataType) -> Option<(u64, i64)> {
    match data_type {
        DataType::Numeric(info) | DataType::Decimal(info) => Some(match info {
            ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s),
            ExactNumberInfo::Precision(p) => (*p, 0),
            ExactNumberInfo::None => (1000, 1000),
        }),
        _ => None,
    }
}

/// How a column type change relates old to new.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Change {
    Same,
    /// Holds every old value, without a rewrite on PostgreSQL.
    Widening,
    /// May fail on or truncate existing values.
    Narrowing,
    /// Anything else (a different kind of type).
    Other,
}

pub(super) fn change(old: &DataType, new: &DataType) -> Change {
    if old == new {
        return Change::Same;
    }
    if let (Some(a), Some(b)) = (varchar_len(old), varchar_len(new)) {
        return match (a, b) {
            (_, None) => Change::Widening,
            (None, Some(_)) => Change::Narrowing,
            (Some(a), Some(b)) if b >= a => Change::Widening,
            _ => Change::Narrowing,
        };
    }
    if let (Some(a), Some(b)) = (int_bits(old), int_bits(new)) {
        // Wider integers are still a rewrite on PostgreSQL.
        return if b < a {
            Change::Narrowing
        } else {
            Change::Other
        };
    }
    if let (Some((p1, s1)), Some((p2, s2))) = (numeric(old), numeric(new)) {
        return if s2 == s1 && p2 >= p1 {
            Change::Widening
        } else if p2 < p1 || s2 < s1 {
            Change::Narrowing
        } else {
            Change::Other
        };
    }
    Change::Other
}
