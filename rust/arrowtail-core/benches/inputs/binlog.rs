//! Binlog inputs: fixture files written by real servers (`tests/fixtures/binlog` in the repository, or
//! `ARROWTAIL_BINLOG_FIXTURES`), and larger files made from them by repeating their row
//! transactions.
//!
//! Repeating keeps every byte a real server wrote except the two fields that tie an event to its
//! place in the file (MySQL binlog, "Binlog Event Header"): `log_pos` (the end offset of the
//! event) is rewritten, and the CRC32 trailer is recomputed when the FORMAT_DESCRIPTION announces
//! checksums. The FORMAT_DESCRIPTION itself is copied untouched.

use std::io::Read;
use std::path::PathBuf;

use arrowtail_core::binlog::event::{kind, Checksum, FormatDescription, HEADER_LEN};

/// The fixture directory.
pub fn fixture_dir() -> PathBuf {
    std::env::var_os("ARROWTAIL_BINLOG_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/binlog")
        })
}

/// The bytes of a fixture file, gunzipped when its name ends in `.gz`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_dir().join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("gunzip fixture");
        out
    } else {
        raw
    }
}

/// The events of a binlog file (after the 4-byte magic), whole.
fn events(file: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 4;
    while let Some(h) = file.get(at..at + HEADER_LEN) {
        let size = u32::from_le_bytes([h[9], h[10], h[11], h[12]]) as usize;
        let Some(ev) = file.get(at..at + size) else {
            break;
        };
        out.push(ev);
        at += size;
    }
    out
}

/// Is this the GTID event that opens a transaction (either server)?
fn is_gtid(ev: &[u8]) -> bool {
    matches!(ev[4], kind::GTID | kind::ANONYMOUS_GTID | kind::MARIA_GTID)
}

/// `file` with the transactions from its first row-carrying transaction to its end (without a
/// trailing ROTATE or STOP) repeated `times` times.
pub fn repeat_transactions(file: &[u8], times: usize) -> Vec<u8> {
    let evs = events(file);
    let fde = evs
        .iter()
        .find(|e| e[4] == kind::FORMAT_DESCRIPTION)
        .expect("a FORMAT_DESCRIPTION event");
    let crc = matches!(
        FormatDescription::parse(fde).expect("FDE").checksum,
        Checksum::Crc32
    );
    let first_map = evs
        .iter()
        .position(|e| e[4] == kind::TABLE_MAP)
        .expect("a TABLE_MAP event");
    // The transaction opens with its GTID event, or, on servers without GTIDs, its BEGIN query.
    let start = (0..first_map)
        .rev()
        .take_while(|&i| evs[i][4] != kind::XID)
        .find(|&i| is_gtid(evs[i]))
        .or_else(|| (0..first_map).rev().find(|&i| evs[i][4] == kind::QUERY))
        .unwrap_or(first_map);
    let mut end = evs.len();
    while end > start && matches!(evs[end - 1][4], kind::ROTATE | kind::STOP) {
        end -= 1;
    }
    let mut out = file[..4].to_vec();
    let push = |ev: &[u8], out: &mut Vec<u8>, rewrite: bool| {
        let at = out.len();
        out.extend_from_slice(ev);
        if rewrite {
            let end = (out.len() as u32).to_le_bytes();
            out[at + 13..at + 17].copy_from_slice(&end);
            if crc {
                let n = out.len();
                let sum = crc32fast::hash(&out[at..n - 4]);
                out[n - 4..].copy_from_slice(&sum.to_le_bytes());
            }
        }
    };
    for ev in &evs[..start] {
        push(ev, &mut out, false);
    }
    for _ in 0..times {
        for ev in &evs[start..end] {
            push(ev, &mut out, true);
        }
    }
    out
}
