//! Bare scans: the floor a decoder is measured against. A scan walks the same input as the
//! decoder — every record framed, every tuple split into its values, every byte read — but knows
//! no types and builds nothing. Its speed is what reading the bytes costs on this machine; a
//! decoder's share of it is the part of the time that goes to turning bytes into Arrow.

use arrowtail_core::pgoutput::CaptureReader;

/// Folds every byte of `bytes` into `acc` (a sum the compiler can vectorise, so the read is as
/// cheap as it gets).
#[inline]
fn touch(acc: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(acc, |a, &b| a.wrapping_add(u64::from(b)))
}

fn u16_at(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// Splits the TupleData at `at` into its values, touching each; returns the offset after it.
fn tuple(msg: &[u8], mut at: usize, acc: &mut u64) -> usize {
    let columns = u16_at(msg, at);
    at += 2;
    for _ in 0..columns {
        let kind = msg[at];
        at += 1;
        if kind == b't' || kind == b'b' {
            let len = u32_at(msg, at);
            at += 4;
            *acc = touch(*acc, &msg[at..at + len]);
            at += len;
        }
    }
    at
}

/// Scans a pgoutput capture (protocol 1 or 2, not streamed): every message framed, every tuple
/// of Insert, Update and Delete split into values; every other message's bytes touched. Returns
/// the number of row changes (what the decoder's rows count), folding the bytes into `sink`.
pub fn pgoutput(data: &[u8], sink: &mut u64) -> u64 {
    let mut rows = 0;
    let mut acc = 0u64;
    for rec in CaptureReader::new(data) {
        let (_, msg) = rec.expect("capture frames");
        match msg[0] {
            // Insert: relation id, 'N', the new tuple.
            b'I' => {
                tuple(msg, 6, &mut acc);
                rows += 1;
            }
            // Update: relation id, an optional 'K'/'O' old tuple, 'N', the new tuple.
            b'U' => {
                let mut at = 5;
                if msg[at] == b'K' || msg[at] == b'O' {
                    at = tuple(msg, at + 1, &mut acc);
                }
                tuple(msg, at + 1, &mut acc);
                rows += 1;
            }
            // Delete: relation id, 'K'/'O', the old tuple.
            b'D' => {
                tuple(msg, 6, &mut acc);
                rows += 1;
            }
            _ => acc = touch(acc, msg),
        }
    }
    *sink = sink.wrapping_add(acc);
    rows
}

/// Scans a binlog file: every event framed by its header's length and its bytes touched (row
/// images cannot be split without the column types, which is decoding). Returns the number of
/// events.
pub fn binlog(data: &[u8], sink: &mut u64) -> u64 {
    // The 4-byte magic, then events: timestamp (4), type (1), server id (4), event size (4), ...
    let mut at = 4;
    let mut events = 0;
    let mut acc = 0u64;
    while at + 19 <= data.len() {
        let size = u32::from_le_bytes([data[at + 9], data[at + 10], data[at + 11], data[at + 12]])
            as usize;
        assert!(size >= 19 && at + size <= data.len(), "binlog event frames");
        acc = touch(acc, &data[at..at + size]);
        at += size;
        events += 1;
    }
    *sink = sink.wrapping_add(acc);
    events
}
