//! MySQL/MariaDB row-based binlog decoding: framing of binlog files and of the replication stream,
//! event parsing, table maps, row images, binary JSON, and the [`BinlogDecoder`] state machine that
//! turns committed row events into change batches (docs/design.md "The change batch").
//!
//! Protocol references: MySQL "Binary log" internals (`libbinlogevents`), MariaDB KB "Replication
//! protocol" pages; facts collected in `notes/binlog.md`.

pub mod compress;
pub mod decoder;
pub mod event;
pub mod framing;
mod handlers;
pub mod json;
pub mod json_diff;
pub mod rows;
pub mod table_map;
mod txn;
pub mod xa;

pub use decoder::{BinlogDecoder, DdlQuery, DecoderOptions, DecoderStats, SkippedStatement};
pub use txn::{ColumnDetail, TakenOutcome};
pub use xa::{XaEvent, Xid};

use crate::reader::{Reader, Short};

/// Reads a MySQL length-encoded ("packed") integer: < 0xFB is the value, 0xFC/0xFD/0xFE introduce
/// a 2/3/8-byte little-endian value (protocol "Length-Encoded Integer").
pub fn packed_uint(r: &mut Reader<'_>) -> Result<u64, Short> {
    let first = r.u8()?;
    match first {
        0xFC => r.uint_le(2),
        0xFD => r.uint_le(3),
        0xFE => r.uint_le(8),
        b => Ok(u64::from(b)),
    }
}

/// The number in a binlog file name's extension (`mysql-bin.000042` → 42); 0 when there is none.
pub fn file_number(name: &str) -> u32 {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.rsplit_once('.')
        .and_then(|(_, ext)| ext.parse::<u32>().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_integers() {
        let mut r = Reader::new(&[0x05, 0xFC, 0x01, 0x02, 0xFD, 1, 0, 0]);
        assert_eq!(packed_uint(&mut r).unwrap(), 5);
        assert_eq!(packed_uint(&mut r).unwrap(), 0x0201);
        assert_eq!(packed_uint(&mut r).unwrap(), 1);
        assert!(packed_uint(&mut r).is_err());
    }

    #[test]
    fn file_numbers() {
        assert_eq!(file_number("/x/mysql-bin.000057"), 57);
        assert_eq!(file_number("json-opaque.binlog"), 0);
    }
}
