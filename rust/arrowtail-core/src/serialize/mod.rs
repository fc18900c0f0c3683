//! Serialization of change batches into Kafka messages: Debezium-compatible JSON keys and values,
//! vectorised over a batch (one pass, one reused buffer, Arrow binary arrays out), so that the
//! Python sink never loops over rows.
//!
//! - [`json`]: JSON text helpers (escaping, base64, ISO instants and intervals, decimals).
//! - [`encoder`]: one JSON encoder per column and Arrow type.
//! - [`debezium`]: the envelope (`before`, `after`, `source`, `op`, timestamps), keys, tombstones
//!   and key changes.
//! - [`keys`]: what both read from a batch first, and the key-only pass ([`row_keys`]) that
//!   partitions Arrow IPC messages without writing JSON values.
//! - [`schema`]: the Kafka Connect JSON schemas for `{"schema":..,"payload":..}` messages.
//! - [`avro`]: the same events in Avro, in the Confluent wire format of a schema registry.

pub mod avro;
pub mod debezium;
pub mod encoder;
pub mod json;
pub mod keys;
pub mod schema;

pub use debezium::{serialize, DebeziumOptions, Serialized};
pub use encoder::{Unavailable, UNAVAILABLE};
pub use keys::row_keys;

/// How decimal128 values are written (Debezium's `decimal.handling.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecimalMode {
    /// A plain decimal string, exact and readable without a schema (`"12.30"`). The default:
    /// without schemas the base64 form would lose the scale.
    #[default]
    String,
    /// Base64 of the unscaled value's big-endian two's complement bytes, scale in the schema
    /// (Kafka Connect `Decimal`, Debezium's own default `precise`).
    Precise,
    /// A JSON number (may lose precision).
    Double,
}

impl DecimalMode {
    /// Parses `string`, `precise` or `double`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "string" => Some(Self::String),
            "precise" => Some(Self::Precise),
            "double" => Some(Self::Double),
            _ => None,
        }
    }
}
