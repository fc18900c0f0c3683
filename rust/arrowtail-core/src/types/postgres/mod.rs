//! PostgreSQL type codecs: a column's type (OID and typmod) resolves once to a [`PgType`], which
//! names its Arrow type (the mapping in docs/design.md) and appends values given in either wire
//! form — text output (`t` in pgoutput tuples) or binary send format (`b`, and COPY BINARY) — to
//! the column's [`ColumnBuilder`]. Both forms give identical Arrow values.
//!
//! Text parsing assumes the session settings the sources pin: `DateStyle=ISO`,
//! `IntervalStyle=postgres`, `TimeZone=UTC`, `extra_float_digits=3`, `bytea_output=hex` (the
//! escape form is read too).
//!
//! Choices worth knowing:
//! - `numeric(p, s)` with 1 <= p <= 38 and 0 <= s <= p -> `decimal128(p, s)`; NaN (and ±Infinity,
//!   which such a column cannot hold) -> null, reported as [`Appended::SpecialNumeric`] so callers
//!   count it. Other numerics -> their exact text.
//! - ±infinity dates and timestamps -> PostgreSQL's own sentinels (see [`datetime`]).
//! - Arrays -> `list<element>`; see [`array`] for values that do not fit a flat list.
//! - Enums, domains over unmapped types, and unknown OIDs -> text. In binary mode such values are
//!   stored when they are valid UTF-8 without NUL bytes (an enum's binary form is its label; no
//!   PostgreSQL text contains NUL); anything else fails with an error naming the OID, so a binary
//!   image is never stored as a garbled string.

pub mod array;
pub mod datetime;
pub mod numeric;
pub mod oid;
mod value;

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, IntervalUnit, TimeUnit};

pub use value::{
    append, append_binary_quick, append_text_quick, has_plain_storage, Appended, Format,
};

/// How a PostgreSQL column is decoded and which Arrow type it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgType {
    Bool,
    Int2,
    Int4,
    Int8,
    /// `oid` -> uint32.
    Oid,
    Float4,
    Float8,
    /// `numeric(p, s)` that fits `decimal128(p, s)`.
    Decimal {
        precision: u8,
        scale: i8,
    },
    /// Any other `numeric`, as its exact text.
    NumericText,
    /// text, varchar, bpchar, name, citext.
    Text,
    /// The one-byte `"char"` type, as its text form.
    Char,
    Bytea,
    Date,
    Timestamp,
    TimestampTz,
    Time,
    /// timetz -> its text form.
    TimeTz,
    Interval,
    Uuid,
    Json,
    Jsonb,
    /// One-dimensional array of the element type.
    Array(Arc<PgType>),
    /// Enums, unmapped domains, unknown types: their text form.
    Other,
}

/// Field metadata key naming a source type that the Arrow type alone does not tell apart
/// (`timetz`, carried as its text).
pub const LOGICAL_TYPE: &str = "arrowtail.logical_type";

/// Decodes a `numeric` typmod: `((precision << 16) | (scale & 0x7ff)) + 4`, -1 = unconstrained.
pub fn numeric_typmod(typmod: i32) -> Option<(u16, i16)> {
    if typmod < 4 {
        return None;
    }
    let t = typmod - 4;
    let precision = ((t >> 16) & 0xffff) as u16;
    // The scale is an 11-bit signed field since PostgreSQL 15 (negative scales allowed).
    let raw = (t & 0x7ff) as i16;
    let scale = if raw & 0x400 != 0 { raw - 0x800 } else { raw };
    Some((precision, scale))
}

impl PgType {
    /// Resolves a column type. `aliases` maps OIDs learned from Type messages (domains) to the
    /// built-in OID of their base type.
    pub fn resolve(type_oid: u32, typmod: i32, aliases: &HashMap<u32, u32>) -> PgType {
        let oid = aliases.get(&type_oid).copied().unwrap_or(type_oid);
        if let Some(elem) = oid::array_element(oid) {
            return PgType::Array(Arc::new(Self::resolve(elem, typmod, aliases)));
        }
        match oid {
            oid::BOOL => PgType::Bool,
            oid::INT2 => PgType::Int2,
            oid::INT4 => PgType::Int4,
            oid::INT8 => PgType::Int8,
            oid::OID => PgType::Oid,
            oid::FLOAT4 => PgType::Float4,
            oid::FLOAT8 => PgType::Float8,
            oid::NUMERIC => match numeric_typmod(typmod) {
                Some((p, s)) if (1..=38).contains(&p) && s >= 0 && (s as u16) <= p => {
                    PgType::Decimal {
                        precision: p as u8,
                        scale: s as i8,
                    }
                }
                _ => PgType::NumericText,
            },
            oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME => PgType::Text,
            oid::CHAR => PgType::Char,
            oid::BYTEA => PgType::Bytea,
            oid::DATE => PgType::Date,
            oid::TIMESTAMP => PgType::Timestamp,
            oid::TIMESTAMPTZ => PgType::TimestampTz,
            oid::TIME => PgType::Time,
            oid::TIMETZ => PgType::TimeTz,
            oid::INTERVAL => PgType::Interval,
            oid::UUID => PgType::Uuid,
            oid::JSON => PgType::Json,
            oid::JSONB => PgType::Jsonb,
            _ => PgType::Other,
        }
    }

    /// The Arrow type of the column.
    pub fn data_type(&self) -> DataType {
        match self {
            PgType::Bool => DataType::Boolean,
            PgType::Int2 => DataType::Int16,
            PgType::Int4 => DataType::Int32,
            PgType::Int8 => DataType::Int64,
            PgType::Oid => DataType::UInt32,
            PgType::Float4 => DataType::Float32,
            PgType::Float8 => DataType::Float64,
            PgType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
            PgType::Bytea => DataType::Binary,
            PgType::Date => DataType::Date32,
            PgType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            PgType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            PgType::Time => DataType::Time64(TimeUnit::Microsecond),
            PgType::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
            PgType::Uuid => DataType::FixedSizeBinary(16),
            PgType::Array(elem) => crate::arrow::ColumnBuilder::list_type(elem.data_type()),
            PgType::NumericText
            | PgType::Text
            | PgType::Char
            | PgType::TimeTz
            | PgType::Json
            | PgType::Jsonb
            | PgType::Other => DataType::Utf8,
        }
    }

    /// The Arrow field of a column of this type, with the canonical extension type names
    /// (`arrow.uuid`, `arrow.json`) as field metadata, and `timetz` text marked with
    /// [`LOGICAL_TYPE`]` = timetz` (serializers write it as a time of day in UTC).
    pub fn field(&self, name: &str) -> Field {
        let f = Field::new(name, self.data_type(), true);
        let ext = match self {
            PgType::Uuid => "arrow.uuid",
            PgType::Json | PgType::Jsonb => "arrow.json",
            PgType::TimeTz => {
                return f.with_metadata(HashMap::from([(
                    LOGICAL_TYPE.to_string(),
                    "timetz".to_string(),
                )]))
            }
            _ => return f,
        };
        f.with_metadata(HashMap::from([(
            "ARROW:extension:name".to_string(),
            ext.to_string(),
        )]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typmods_and_resolution() {
        let none = HashMap::new();
        // numeric(10,2): ((10 << 16) | 2) + 4
        let tm = ((10 << 16) | 2) + 4;
        assert_eq!(numeric_typmod(tm), Some((10, 2)));
        assert_eq!(numeric_typmod(-1), None);
        assert_eq!(
            PgType::resolve(oid::NUMERIC, tm, &none).data_type(),
            DataType::Decimal128(10, 2)
        );
        assert_eq!(
            PgType::resolve(oid::NUMERIC, -1, &none),
            PgType::NumericText
        );
        let wide = ((50 << 16) | 2) + 4;
        assert_eq!(
            PgType::resolve(oid::NUMERIC, wide, &none),
            PgType::NumericText
        );
        // numeric(3,-2) (PostgreSQL 15) stays text.
        let neg = ((3 << 16) | (0x7ff & -2i32)) + 4;
        assert_eq!(numeric_typmod(neg), Some((3, -2)));
        assert_eq!(
            PgType::resolve(oid::NUMERIC, neg, &none),
            PgType::NumericText
        );
        assert_eq!(
            PgType::resolve(1007, -1, &none),
            PgType::Array(Arc::new(PgType::Int4))
        );
        assert_eq!(PgType::resolve(99_999, -1, &none), PgType::Other);
        let aliases = HashMap::from([(99_999, oid::INT8)]);
        assert_eq!(PgType::resolve(99_999, -1, &aliases), PgType::Int8);
        let f = PgType::Uuid.field("u");
        assert_eq!(f.metadata()["ARROW:extension:name"], "arrow.uuid");
    }
}
