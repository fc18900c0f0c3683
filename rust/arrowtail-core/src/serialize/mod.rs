//! Serialization of change batches into Kafka messages: Debezium-compatible JSON keys and values,
//! vectorised over a batch (one pass, one reused buffer, Arrow binary arrays out), so that the
//! Python sink never loops over rows.
//!
//! - [`json`]: JSON text helpers (escaping, base64, ISO instants and intervals, decimals).
//! - [`encoder`]: one JSON encoder per column and Arrow type.
//! - [`declared`]: the forms a column's declared source type decides (field metadata).
//! - [`debezium`]: the envelope (`before`, `after`, `source`, `op`, timestamps), keys, tombstones
//!   and key changes.
//! - [`keys`]: what both read from a batch first, and the key-only pass ([`row_keys`]) that
//!   partitions Arrow IPC messages without writing JSON values.
//! - [`marks`]: each snapshot row's `source.snapshot` marker, from the readers' metadata.
//! - [`pgtext`]: PostgreSQL text forms Debezium reshapes (bit strings, `hstore`, `point`).
//! - [`schema`]: the Kafka Connect JSON schemas for `{"schema":..,"payload":..}` messages.
//! - [`avro`]: the same events in Avro, in the Confluent wire format of a schema registry.

pub mod avro;
pub mod debezium;
pub mod declared;
pub mod encoder;
pub mod json;
pub mod keys;
pub mod marks;
pub mod pgtext;
pub mod schema;
pub mod spatial;
pub mod txmeta;

pub use debezium::{serialize, DebeziumOptions, Serialized};
pub use encoder::{Unavailable, UNAVAILABLE};
pub use keys::row_keys;

/// How the values whose JSON form depends on the options and on the connector are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Forms {
    pub decimals: DecimalMode,
    /// Instants (`timestamp[us, UTC]`) with as few fraction digits as the value needs, as
    /// Debezium's MySQL and MariaDB connectors write a `TIMESTAMP`; else six, as its PostgreSQL
    /// connector writes a `timestamptz`.
    pub short_instants: bool,
    /// The batch holds snapshot rows (`_op` `r`): a MySQL `TIMESTAMP(n)` keeps the short form
    /// there, as Debezium's snapshot writes it, and has `n` fraction digits in streamed changes.
    pub snapshot: bool,
    /// A value the source did not send takes the form Debezium's PostgreSQL connector gives its
    /// placeholder in the column's type ([`encoder::Unsent`]); else it is the placeholder string
    /// whatever the type (the MySQL/MariaDB connectors have no placeholder of their own, and the
    /// string tells a column a partial row image left out from a NULL).
    pub typed_unsent: bool,
}

impl Forms {
    /// Whether a `timestamp[us, UTC]` declared with `n` fraction digits is written with exactly
    /// that many: Debezium's PostgreSQL connector does so in every event (none for `n` = 0, as
    /// the value has no fraction then), its MySQL connectors in streamed changes (`n` > 0).
    pub fn instant_digits(&self, n: u8) -> bool {
        if self.short_instants {
            !self.snapshot && n > 0
        } else {
            true
        }
    }

    /// The forms of `connector`'s events under `decimals`.
    pub fn of(connector: keys::Connector, decimals: DecimalMode) -> Self {
        Self {
            decimals,
            short_instants: connector != keys::Connector::Postgres,
            snapshot: false,
            typed_unsent: connector == keys::Connector::Postgres,
        }
    }
}

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
