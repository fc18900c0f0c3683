//! Bare scans: the floor a decoder is measured against. A scan walks the same input as the
//! decoder — every record framed, every tuple split into its values, every byte read — but knows
//! no types and builds nothing. Its speed is what reading the bytes costs on this machine; a
//! decoder's share of it is the part of the time that goes to turning bytes into Arrow.

use arrowtail_core::binlog::event::{Checksum, FormatDescription};
use arrowtail_core::binlog::rows;
use arrowtail_core::binlog::table_map::TableMap;
use arrowtail_core::pgoutput::CaptureReader;
use arrowtail_core::types::mysql::{code, decimal, ColumnInfo};

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

/// Scans a binlog file: every event framed by its header's length and its bytes touched, and
/// every row image of a rows event split into its values, by the lengths the table map's column
/// types give (a value's width, or its length prefix) — what a pgoutput tuple gives by its
/// length fields. No value is read as its type and nothing is built. A table map is parsed when
/// its bytes are new (a repeated one is recognised by them, as the decoder does), into each
/// column's width rule. Returns the number of events.
pub fn binlog(data: &[u8], sink: &mut u64) -> u64 {
    // The 4-byte magic, then events: timestamp (4), type (1), server id (4), event size (4), ...
    let mut at = 4;
    let mut events = 0;
    let mut acc = 0u64;
    let mut fde = FormatDescription::default();
    // Table id, the map's bytes and its columns' widths; a few tables, so a list is quickest.
    let mut maps: Vec<(u64, Vec<u8>, Vec<Width>)> = Vec::new();
    while at + 19 <= data.len() {
        let size = u32::from_le_bytes([data[at + 9], data[at + 10], data[at + 11], data[at + 12]])
            as usize;
        assert!(size >= 19 && at + size <= data.len(), "binlog event frames");
        let event = &data[at..at + size];
        at += size;
        events += 1;
        let kind = event[4];
        if kind == FDE {
            fde = FormatDescription::parse(event).expect("FORMAT_DESCRIPTION parses");
            acc = touch(acc, event);
            continue;
        }
        let end = size
            - if fde.checksum == Checksum::Crc32 {
                4
            } else {
                0
            };
        let body = &event[usize::from(fde.header_len)..end];
        let post = fde.post_header_len(kind, 8);
        match kind {
            TABLE_MAP => {
                let id = table_id(body, post);
                let known = maps.iter().position(|m| m.0 == id);
                if known.is_none_or(|i| maps[i].1[..] != *body) {
                    let map = TableMap::parse(body, post).expect("TABLE_MAP parses");
                    let widths = map.columns.iter().map(width).collect();
                    let entry = (id, body.to_vec(), widths);
                    match known {
                        Some(i) => maps[i] = entry,
                        None => maps.push(entry),
                    }
                }
                acc = touch(acc, event);
            }
            WRITE_V1 | UPDATE_V1 | DELETE_V1 | WRITE_V2 | UPDATE_V2 | DELETE_V2 => {
                let v2 = kind >= WRITE_V2;
                let update = kind == UPDATE_V1 || kind == UPDATE_V2;
                let header = rows::parse_header(body, post, v2).expect("rows header");
                let columns = &maps
                    .iter()
                    .find(|m| m.0 == header.table_id)
                    .expect("a table map before its rows")
                    .2;
                acc = touch(acc, &event[..event.len() - header.rest.len()]);
                acc = images(header.rest, columns, update, acc);
            }
            // Other events, the compressed and partial rows events among them: bytes alone.
            _ => acc = touch(acc, event),
        }
    }
    *sink = sink.wrapping_add(acc);
    events
}

const FDE: u8 = 15;
const TABLE_MAP: u8 = 19;
const WRITE_V1: u8 = 23;
const UPDATE_V1: u8 = 24;
const DELETE_V1: u8 = 25;
const WRITE_V2: u8 = 30;
const UPDATE_V2: u8 = 31;
const DELETE_V2: u8 = 32;

/// A table map's table id: 4 bytes when the post-header is 6 long, else 6.
fn table_id(body: &[u8], post: usize) -> u64 {
    let n = if post == 6 { 4 } else { 6 };
    body[..n]
        .iter()
        .rev()
        .fold(0, |id, &b| (id << 8) | u64::from(b))
}

/// A packed integer of the binlog: its value and its length.
fn packed(b: &[u8]) -> (usize, usize) {
    match b[0] {
        0xFC => (usize::from(u16::from_le_bytes([b[1], b[2]])), 3),
        0xFD => (
            usize::from(b[1]) | usize::from(b[2]) << 8 | usize::from(b[3]) << 16,
            4,
        ),
        0xFE => (
            u64::from_le_bytes(b[1..9].try_into().expect("8 bytes")) as usize,
            9,
        ),
        n => (usize::from(n), 1),
    }
}

/// Splits the row images after a rows event's post-header into their values, touching each.
fn images(rest: &[u8], columns: &[Width], update: bool, mut acc: u64) -> u64 {
    let (n, mut at) = packed(rest);
    let width = n.div_ceil(8);
    let present = [
        &rest[at..at + width],
        &rest[at + if update { width } else { 0 }..][..width],
    ];
    at += width * if update { 2 } else { 1 };
    acc = touch(acc, &rest[..at]);
    let mut image = 0;
    while at < rest.len() {
        let bits = present[image % 2];
        image += usize::from(update);
        let count = bits.iter().map(|b| b.count_ones() as usize).sum::<usize>();
        let row = at;
        let nulls = &rest[at..at + count.div_ceil(8)];
        at += nulls.len();
        let mut k = 0;
        for (i, &w) in columns.iter().enumerate().take(n) {
            if bits[i / 8] & (1 << (i % 8)) == 0 {
                continue;
            }
            let null = nulls[k / 8] & (1 << (k % 8)) != 0;
            k += 1;
            if !null {
                at += match w {
                    Width::Fixed(n) => n,
                    Width::Prefix(n) => {
                        n + rest[at..at + n]
                            .iter()
                            .rev()
                            .fold(0, |l, &x| (l << 8) | usize::from(x))
                    }
                };
            }
        }
        acc = touch(acc, &rest[row..at]);
    }
    assert_eq!(at, rest.len(), "row images split to their end");
    acc
}

/// How a column's values are split: a fixed width, or a little-endian length prefix of so many
/// bytes followed by that many.
#[derive(Debug, Clone, Copy)]
enum Width {
    Fixed(usize),
    Prefix(usize),
}

/// The width rule of a column from its table map type and metadata (MySQL's row format).
fn width(column: &ColumnInfo) -> Width {
    let [m0, m1] = column.meta;
    let fraction = |fsp: u8| usize::from(fsp).div_ceil(2);
    Width::Fixed(match column.real_type() {
        code::TINY | code::YEAR => 1,
        code::SHORT => 2,
        code::INT24 | code::DATE | code::NEWDATE | code::TIME => 3,
        code::LONG | code::FLOAT | code::TIMESTAMP => 4,
        code::LONGLONG | code::DOUBLE | code::DATETIME => 8,
        code::NULL => 0,
        code::TIMESTAMP2 => 4 + fraction(m0),
        code::DATETIME2 => 5 + fraction(m0),
        code::TIME2 => 3 + fraction(m0),
        code::NEWDECIMAL => decimal::binary_size(m0, m1),
        code::BIT => usize::from(m1) + usize::from(m0 > 0),
        code::ENUM | code::SET => usize::from(m1),
        code::VARCHAR | code::VAR_STRING => {
            return Width::Prefix(if u16::from_le_bytes([m0, m1]) < 256 {
                1
            } else {
                2
            })
        }
        code::STRING => {
            let max = (usize::from((m0 & 0x30) ^ 0x30) << 4) | usize::from(m1);
            return Width::Prefix(if max < 256 { 1 } else { 2 });
        }
        code::BLOB
        | code::TINY_BLOB
        | code::MEDIUM_BLOB
        | code::LONG_BLOB
        | code::JSON
        | code::GEOMETRY
        | code::VECTOR => return Width::Prefix(usize::from(m0)),
        other => panic!("no scan for column type {other}"),
    })
}
