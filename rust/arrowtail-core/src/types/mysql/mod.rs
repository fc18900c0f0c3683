//! MySQL/MariaDB column types: the type codes and metadata of a TABLE_MAP event, the codec each
//! column resolves to, its Arrow type (mapping in docs/design.md) and the decoding of row values.
//!
//! Decisions (documented here and in the report):
//! - Integers without signedness metadata (MINIMAL metadata before MySQL 8.0.1, MariaDB < 10.5)
//!   are taken as signed.
//! - Zero/invalid DATE, DATETIME, TIMESTAMP values decode to null and are counted.
//! - GEOMETRY becomes `binary` holding the value as stored: 4-byte little-endian SRID then WKB
//!   (MySQL's internal format), so no information is lost; strip the first 4 bytes for plain WKB.
//! - VECTOR becomes `list<float32>` (its storage is little-endian float32s).
//! - DECIMAL with precision above 38 becomes its exact text (`string`).
//! - CHAR/VARCHAR without charset metadata are decoded as UTF-8 (invalid bytes replaced and
//!   counted); BLOB/TEXT without it are `binary`, since TEXT and BLOB cannot be told apart.

pub mod charset;
mod charset_tables;
pub mod decimal;
pub mod temporal;
pub mod text;
pub mod value;

use arrow_schema::{DataType, TimeUnit};

pub use charset::Charset;

/// Type codes of `enum_field_types` (MySQL `include/field_types.h`).
#[allow(missing_docs)]
pub mod code {
    pub const DECIMAL: u8 = 0;
    pub const TINY: u8 = 1;
    pub const SHORT: u8 = 2;
    pub const LONG: u8 = 3;
    pub const FLOAT: u8 = 4;
    pub const DOUBLE: u8 = 5;
    pub const NULL: u8 = 6;
    pub const TIMESTAMP: u8 = 7;
    pub const LONGLONG: u8 = 8;
    pub const INT24: u8 = 9;
    pub const DATE: u8 = 10;
    pub const TIME: u8 = 11;
    pub const DATETIME: u8 = 12;
    pub const YEAR: u8 = 13;
    pub const NEWDATE: u8 = 14;
    pub const VARCHAR: u8 = 15;
    pub const BIT: u8 = 16;
    pub const TIMESTAMP2: u8 = 17;
    pub const DATETIME2: u8 = 18;
    pub const TIME2: u8 = 19;
    pub const TYPED_ARRAY: u8 = 20;
    pub const VECTOR: u8 = 242;
    pub const JSON: u8 = 245;
    pub const NEWDECIMAL: u8 = 246;
    pub const ENUM: u8 = 247;
    pub const SET: u8 = 248;
    pub const TINY_BLOB: u8 = 249;
    pub const MEDIUM_BLOB: u8 = 250;
    pub const LONG_BLOB: u8 = 251;
    pub const BLOB: u8 = 252;
    pub const VAR_STRING: u8 = 253;
    pub const STRING: u8 = 254;
    pub const GEOMETRY: u8 = 255;
}

/// Bytes of per-column metadata in a TABLE_MAP for a type code (MySQL
/// `Table_map_log_event` "field metadata").
pub fn metadata_len(type_code: u8) -> Option<usize> {
    use code::*;
    Some(match type_code {
        FLOAT | DOUBLE | BLOB | TINY_BLOB | MEDIUM_BLOB | LONG_BLOB | GEOMETRY | JSON | VECTOR
        | TIMESTAMP2 | DATETIME2 | TIME2 => 1,
        VARCHAR | VAR_STRING | BIT | NEWDECIMAL | STRING | ENUM | SET | DECIMAL => 2,
        TINY | SHORT | LONG | LONGLONG | INT24 | NULL | TIMESTAMP | DATE | TIME | DATETIME
        | YEAR | NEWDATE => 0,
        _ => return None,
    })
}

/// True for the types the SIGNEDNESS metadata has a bit for (MySQL `is_numeric_type`).
pub fn is_numeric(type_code: u8) -> bool {
    use code::*;
    matches!(
        type_code,
        TINY | SHORT | INT24 | LONG | LONGLONG | FLOAT | DOUBLE | NEWDECIMAL | DECIMAL
    )
}

/// How one column's values are stored in a rows event, resolved from type code and metadata.
#[derive(Debug, Clone, PartialEq)]
pub enum Codec {
    /// Integer of 1, 2, 3, 4 or 8 bytes.
    Int {
        bytes: u8,
        unsigned: bool,
    },
    Float,
    Double,
    /// Binary DECIMAL; `text` when the precision exceeds decimal128.
    Decimal {
        precision: u8,
        scale: u8,
    },
    Date,
    DateTime2 {
        fsp: u8,
    },
    Timestamp2 {
        fsp: u8,
    },
    Time2 {
        fsp: u8,
    },
    DateTimeOld,
    TimestampOld,
    TimeOld,
    Year,
    /// CHAR/VARCHAR: 1- or 2-byte length prefix. `pad_to`: BINARY(n) is stored without its
    /// trailing zero bytes, which are restored to the declared length.
    String {
        len_bytes: u8,
        charset: Option<Charset>,
        pad_to: Option<u16>,
    },
    /// BLOB/TEXT: 1..4-byte length prefix.
    Blob {
        len_bytes: u8,
        charset: Option<Charset>,
    },
    Enum {
        bytes: u8,
        labels: Vec<String>,
    },
    Set {
        bytes: u8,
        labels: Vec<String>,
    },
    /// BIT(n): `bytes` big-endian bytes.
    Bit {
        bytes: u8,
    },
    Json {
        len_bytes: u8,
    },
    Geometry {
        len_bytes: u8,
    },
    Vector {
        len_bytes: u8,
    },
    /// The NULL type: no bytes.
    Null,
}

/// What the TABLE_MAP tells about one column.
#[derive(Debug, Clone, Default)]
pub struct ColumnInfo {
    /// The type code in the TABLE_MAP type array.
    pub type_code: u8,
    /// Raw metadata bytes of the column, little-endian in a u16 as read.
    pub meta: [u8; 2],
    /// From SIGNEDNESS metadata; None when absent.
    pub unsigned: Option<bool>,
    /// Collation id from DEFAULT_CHARSET / COLUMN_CHARSET metadata.
    pub collation: Option<u64>,
    pub enum_values: Option<Vec<String>>,
    pub set_values: Option<Vec<String>>,
}

impl ColumnInfo {
    /// The real type: STRING columns carry ENUM/SET/STRING in their first metadata byte.
    pub fn real_type(&self) -> u8 {
        if self.type_code == code::STRING {
            let b0 = self.meta[0];
            if b0 != 0 && (b0 & 0x30) != 0x30 {
                // Long CHAR: bits 4-5 of the type byte hold bits 8-9 of the length, inverted.
                b0 | 0x30
            } else if b0 != 0 {
                b0
            } else {
                code::STRING
            }
        } else {
            self.type_code
        }
    }

    /// True for columns the charset metadata covers (MySQL `is_character_type`). GEOMETRY is
    /// among them: the server treats it as a BLOB there and lists its (binary) collation, so
    /// leaving it out would shift the collations of every later text and binary column.
    pub fn is_character(&self) -> bool {
        use code::*;
        matches!(
            self.real_type(),
            STRING | VAR_STRING | VARCHAR | BLOB | TINY_BLOB | MEDIUM_BLOB | LONG_BLOB | GEOMETRY
        )
    }

    /// True for ENUM and SET columns.
    pub fn is_enum_or_set(&self) -> bool {
        matches!(self.real_type(), code::ENUM | code::SET)
    }

    /// Resolves the codec. Errors name what is unsupported.
    pub fn codec(&self) -> Result<Codec, String> {
        use code::*;
        let m0 = self.meta[0];
        let m1 = self.meta[1];
        let charset = self.collation.map(Charset::from_collation);
        Ok(match self.real_type() {
            TINY => self.int(1),
            SHORT => self.int(2),
            INT24 => self.int(3),
            LONG => self.int(4),
            LONGLONG => self.int(8),
            FLOAT => Codec::Float,
            DOUBLE => Codec::Double,
            NEWDECIMAL => {
                if m0 == 0 || m1 > m0 || m0 > 65 {
                    return Err(format!("DECIMAL with precision {m0} scale {m1}"));
                }
                Codec::Decimal {
                    precision: m0,
                    scale: m1,
                }
            }
            DATE | NEWDATE => Codec::Date,
            DATETIME2 => Codec::DateTime2 { fsp: m0.min(6) },
            TIMESTAMP2 => Codec::Timestamp2 { fsp: m0.min(6) },
            TIME2 => Codec::Time2 { fsp: m0.min(6) },
            DATETIME => Codec::DateTimeOld,
            TIMESTAMP => Codec::TimestampOld,
            TIME => Codec::TimeOld,
            YEAR => Codec::Year,
            VARCHAR | VAR_STRING => {
                let max = u16::from_le_bytes(self.meta);
                Codec::String {
                    len_bytes: if max < 256 { 1 } else { 2 },
                    charset,
                    pad_to: None,
                }
            }
            STRING => {
                let max = if self.type_code == STRING && (m0 & 0x30) != 0x30 && m0 != 0 {
                    u16::from(m1) | (u16::from((m0 & 0x30) ^ 0x30) << 4)
                } else {
                    u16::from(m1)
                };
                Codec::String {
                    len_bytes: if max < 256 { 1 } else { 2 },
                    charset,
                    pad_to: (charset == Some(Charset::Binary)).then_some(max),
                }
            }
            BLOB | TINY_BLOB | MEDIUM_BLOB | LONG_BLOB => Codec::Blob {
                len_bytes: check_len_bytes(m0)?,
                charset,
            },
            ENUM => Codec::Enum {
                bytes: if m1 == 0 { 1 } else { m1.min(2) },
                labels: self.enum_values.clone().unwrap_or_default(),
            },
            SET => Codec::Set {
                bytes: m1.clamp(1, 8),
                labels: self.set_values.clone().unwrap_or_default(),
            },
            BIT => {
                // Metadata: bits (n % 8) then whole bytes (n / 8). Damaged metadata can say
                // 255 whole bytes and some bits: counted wider than a byte, it is refused.
                let bytes = u16::from(m1) + u16::from(m0 > 0);
                match u8::try_from(bytes) {
                    Ok(bytes @ 0..=8) => Codec::Bit { bytes },
                    _ => return Err(format!("BIT with {bytes} bytes")),
                }
            }
            JSON => Codec::Json {
                len_bytes: check_len_bytes(m0)?,
            },
            GEOMETRY => Codec::Geometry {
                len_bytes: check_len_bytes(m0)?,
            },
            VECTOR => Codec::Vector {
                len_bytes: check_len_bytes(m0)?,
            },
            NULL => Codec::Null,
            other => return Err(format!("column type code {other}")),
        })
    }

    fn int(&self, bytes: u8) -> Codec {
        Codec::Int {
            bytes,
            unsigned: self.unsigned.unwrap_or(false),
        }
    }
}

fn check_len_bytes(n: u8) -> Result<u8, String> {
    if (1..=4).contains(&n) {
        Ok(n)
    } else {
        Err(format!("length prefix of {n} bytes"))
    }
}

impl Codec {
    /// The Arrow type of the column (docs/design.md type mapping).
    pub fn arrow_type(&self) -> DataType {
        match self {
            Codec::Int { bytes, unsigned } => match (bytes, unsigned) {
                (1, false) => DataType::Int8,
                (1, true) => DataType::UInt8,
                (2, false) => DataType::Int16,
                (2, true) => DataType::UInt16,
                (3 | 4, false) => DataType::Int32,
                (3 | 4, true) => DataType::UInt32,
                (_, false) => DataType::Int64,
                (_, true) => DataType::UInt64,
            },
            Codec::Float => DataType::Float32,
            Codec::Double => DataType::Float64,
            Codec::Decimal { precision, scale } if *precision <= 38 => {
                DataType::Decimal128(*precision, *scale as i8)
            }
            Codec::Decimal { .. } => DataType::Utf8,
            Codec::Date => DataType::Date32,
            Codec::DateTime2 { .. } | Codec::DateTimeOld => {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            }
            Codec::Timestamp2 { .. } | Codec::TimestampOld => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            Codec::Time2 { .. } | Codec::TimeOld => DataType::Duration(TimeUnit::Microsecond),
            Codec::Year => DataType::Int16,
            Codec::String { charset, .. } => match charset {
                Some(Charset::Binary) => DataType::Binary,
                _ => DataType::Utf8,
            },
            Codec::Blob { charset, .. } => match charset {
                Some(Charset::Binary) | None => DataType::Binary,
                _ => DataType::Utf8,
            },
            Codec::Enum { .. } => DataType::Utf8,
            Codec::Set { .. } => crate::arrow::ColumnBuilder::list_type(DataType::Utf8),
            Codec::Bit { .. } => DataType::UInt64,
            Codec::Json { .. } => DataType::Utf8,
            Codec::Geometry { .. } => DataType::Binary,
            Codec::Vector { .. } => crate::arrow::ColumnBuilder::list_type(DataType::Float32),
            Codec::Null => DataType::Utf8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_char_length_is_unpacked() {
        // CHAR(100) utf8mb4 = 400 bytes: type byte 0xEE (0xFE with bits 4-5 = 0b10 xor 0b11).
        let c = ColumnInfo {
            type_code: code::STRING,
            meta: [0xEE, 0x90],
            ..Default::default()
        };
        assert_eq!(c.real_type(), code::STRING);
        assert!(matches!(
            c.codec().unwrap(),
            Codec::String { len_bytes: 2, .. }
        ));
        let e = ColumnInfo {
            type_code: code::STRING,
            meta: [code::ENUM, 1],
            ..Default::default()
        };
        assert!(matches!(e.codec().unwrap(), Codec::Enum { bytes: 1, .. }));
    }

    #[test]
    fn bit_metadata_past_eight_bytes_is_refused() {
        let bit = |m0, m1| ColumnInfo {
            type_code: code::BIT,
            meta: [m0, m1],
            ..Default::default()
        };
        assert!(matches!(
            bit(7, 7).codec().unwrap(),
            Codec::Bit { bytes: 8 }
        ));
        assert!(matches!(
            bit(0, 8).codec().unwrap(),
            Codec::Bit { bytes: 8 }
        ));
        assert_eq!(bit(1, 8).codec().unwrap_err(), "BIT with 9 bytes");
        // 255 whole bytes and some bits: 256 bytes, which a u8 count would wrap to 0.
        assert_eq!(bit(1, 255).codec().unwrap_err(), "BIT with 256 bytes");
    }

    #[test]
    fn signedness_decides_the_arrow_type() {
        let mut c = ColumnInfo {
            type_code: code::LONG,
            ..Default::default()
        };
        assert_eq!(c.codec().unwrap().arrow_type(), DataType::Int32);
        c.unsigned = Some(true);
        assert_eq!(c.codec().unwrap().arrow_type(), DataType::UInt32);
    }
}
