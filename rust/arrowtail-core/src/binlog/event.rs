//! Binlog event header, event type codes, FORMAT_DESCRIPTION, checksums, and the small control
//! events (ROTATE, QUERY, XID, GTIDs, TRANSACTION_PAYLOAD header) — MySQL `libbinlogevents`
//! `control_events.h` / `statement_events.h`, MariaDB KB "Replication protocol".

use crate::reader::{Reader, Short};

use super::packed_uint;

/// Length of the v4 common event header.
pub const HEADER_LEN: usize = 19;
/// The binlog file magic.
pub const MAGIC: [u8; 4] = [0xFE, b'b', b'i', b'n'];
/// Header flag LOG_EVENT_BINLOG_IN_USE_F: set in the FDE of a file still being written.
pub const FLAG_IN_USE: u16 = 0x1;

/// Event type codes (`Log_event_type`).
#[allow(missing_docs)]
pub mod kind {
    pub const START_V3: u8 = 1;
    pub const QUERY: u8 = 2;
    pub const STOP: u8 = 3;
    pub const ROTATE: u8 = 4;
    pub const INTVAR: u8 = 5;
    pub const RAND: u8 = 13;
    pub const USER_VAR: u8 = 14;
    pub const FORMAT_DESCRIPTION: u8 = 15;
    pub const XID: u8 = 16;
    pub const TABLE_MAP: u8 = 19;
    pub const WRITE_ROWS_V0: u8 = 20;
    pub const UPDATE_ROWS_V0: u8 = 21;
    pub const DELETE_ROWS_V0: u8 = 22;
    pub const WRITE_ROWS_V1: u8 = 23;
    pub const UPDATE_ROWS_V1: u8 = 24;
    pub const DELETE_ROWS_V1: u8 = 25;
    pub const INCIDENT: u8 = 26;
    pub const HEARTBEAT: u8 = 27;
    pub const IGNORABLE: u8 = 28;
    pub const ROWS_QUERY: u8 = 29;
    pub const WRITE_ROWS_V2: u8 = 30;
    pub const UPDATE_ROWS_V2: u8 = 31;
    pub const DELETE_ROWS_V2: u8 = 32;
    pub const GTID: u8 = 33;
    pub const ANONYMOUS_GTID: u8 = 34;
    pub const PREVIOUS_GTIDS: u8 = 35;
    pub const TRANSACTION_CONTEXT: u8 = 36;
    pub const VIEW_CHANGE: u8 = 37;
    pub const XA_PREPARE: u8 = 38;
    pub const PARTIAL_UPDATE_ROWS: u8 = 39;
    pub const TRANSACTION_PAYLOAD: u8 = 40;
    pub const HEARTBEAT_V2: u8 = 41;
    pub const GTID_TAGGED: u8 = 42;
    pub const MARIA_ANNOTATE_ROWS: u8 = 160;
    pub const MARIA_BINLOG_CHECKPOINT: u8 = 161;
    pub const MARIA_GTID: u8 = 162;
    pub const MARIA_GTID_LIST: u8 = 163;
    pub const MARIA_START_ENCRYPTION: u8 = 164;
    pub const MARIA_QUERY_COMPRESSED: u8 = 165;
    pub const MARIA_WRITE_ROWS_COMPRESSED_V1: u8 = 166;
    pub const MARIA_UPDATE_ROWS_COMPRESSED_V1: u8 = 167;
    pub const MARIA_DELETE_ROWS_COMPRESSED_V1: u8 = 168;
    pub const MARIA_WRITE_ROWS_COMPRESSED: u8 = 169;
    pub const MARIA_UPDATE_ROWS_COMPRESSED: u8 = 170;
    pub const MARIA_DELETE_ROWS_COMPRESSED: u8 = 171;
}

/// The common header of every v4 event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHeader {
    pub timestamp: u32,
    pub type_code: u8,
    pub server_id: u32,
    pub event_size: u32,
    /// Position of the next event in the source file (0 for artificial and payload events).
    pub log_pos: u32,
    pub flags: u16,
}

impl EventHeader {
    /// Parses the first 19 bytes.
    pub fn parse(b: &[u8]) -> Result<Self, Short> {
        // Every event pays for this: fixed-offset reads after one length check. A short header
        // goes through the reader, whose error says which field is missing.
        let Some(h) = b.first_chunk::<HEADER_LEN>() else {
            let mut r = Reader::new(b);
            return Ok(Self {
                timestamp: r.u32_le()?,
                type_code: r.u8()?,
                server_id: r.u32_le()?,
                event_size: r.u32_le()?,
                log_pos: r.u32_le()?,
                flags: r.u16_le()?,
            });
        };
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        Ok(Self {
            timestamp: u32_at(0),
            type_code: h[4],
            server_id: u32_at(5),
            event_size: u32_at(9),
            log_pos: u32_at(13),
            flags: u16::from_le_bytes([h[17], h[18]]),
        })
    }
}

/// Checksum algorithm announced by the FORMAT_DESCRIPTION event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    None,
    Crc32,
}

/// What a FORMAT_DESCRIPTION event says about the events that follow it.
#[derive(Debug, Clone)]
pub struct FormatDescription {
    pub binlog_version: u16,
    pub server_version: String,
    pub header_len: u8,
    /// Post-header length per event type (index = type code − 1).
    pub post_header: Vec<u8>,
    pub checksum: Checksum,
    pub mariadb: bool,
}

impl Default for FormatDescription {
    /// The format assumed before any FDE is seen (a stream resumed mid-file): MySQL 5.6+ lengths,
    /// no checksum.
    fn default() -> Self {
        Self {
            binlog_version: 4,
            server_version: String::new(),
            header_len: HEADER_LEN as u8,
            post_header: Vec::new(),
            checksum: Checksum::None,
            mariadb: false,
        }
    }
}

fn version_tuple(v: &str) -> (u32, u32, u32) {
    let mut it = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

impl FormatDescription {
    /// Parses an FDE; `event` is the whole event including header (and checksum, if any).
    /// Returns the description and whether a CRC32 trailer is present on the FDE itself.
    pub fn parse(event: &[u8]) -> Result<Self, String> {
        let body = event
            .get(HEADER_LEN..)
            .ok_or("FORMAT_DESCRIPTION too short")?;
        let mut r = Reader::new(body);
        let e = |s: Short| s.to_string();
        let binlog_version = r.u16_le().map_err(e)?;
        let sv = r.take(50).map_err(e)?;
        let end = sv.iter().position(|&b| b == 0).unwrap_or(sv.len());
        let server_version = String::from_utf8_lossy(&sv[..end]).into_owned();
        r.skip(4).map_err(e)?;
        let header_len = r.u8().map_err(e)?;
        if usize::from(header_len) < HEADER_LEN {
            return Err(format!("event header length {header_len} below 19"));
        }
        let rest = r.take_rest();
        let mariadb = server_version.contains("MariaDB");
        let v = version_tuple(&server_version);
        // Checksums exist since MySQL 5.6.1 and MariaDB 5.3: the FDE then ends with the algorithm
        // byte and a 4-byte checksum.
        let has_alg = if mariadb {
            v >= (5, 3, 0)
        } else {
            v >= (5, 6, 1)
        };
        let (post_header, checksum) = if has_alg && rest.len() >= 5 {
            let (ph, tail) = rest.split_at(rest.len() - 5);
            let checksum = match tail[0] {
                0 => Checksum::None,
                1 => Checksum::Crc32,
                a => return Err(format!("unknown checksum algorithm {a}")),
            };
            (ph.to_vec(), checksum)
        } else {
            (rest.to_vec(), Checksum::None)
        };
        Ok(Self {
            binlog_version,
            server_version,
            header_len,
            post_header,
            checksum,
            mariadb,
        })
    }

    /// True when the FDE carried the checksum-algorithm byte (and a 4-byte checksum).
    pub fn has_trailer(event_len: usize, server_version: &str) -> bool {
        let mariadb = server_version.contains("MariaDB");
        let v = version_tuple(server_version);
        event_len >= HEADER_LEN + 57 + 5
            && if mariadb {
                v >= (5, 3, 0)
            } else {
                v >= (5, 6, 1)
            }
    }

    /// The post-header length of an event type, or `default` when the FDE does not list it.
    pub fn post_header_len(&self, type_code: u8, default: usize) -> usize {
        usize::from(type_code)
            .checked_sub(1)
            .and_then(|i| self.post_header.get(i))
            .map_or(default, |&l| usize::from(l))
    }
}

/// Verifies the CRC32 trailer of `event` (the FDE with LOG_EVENT_BINLOG_IN_USE_F cleared, since
/// the server sets that flag in place after checksumming).
pub fn verify_crc32(event: &[u8], is_fde: bool) -> Result<(), String> {
    if event.len() < HEADER_LEN + 4 {
        return Err("event too short for a checksum".into());
    }
    let (data, tail) = event.split_at(event.len() - 4);
    let want = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    // A new hasher asks the CPU which instructions it has; a copy of a prepared one does not.
    static PREPARED: std::sync::OnceLock<crc32fast::Hasher> = std::sync::OnceLock::new();
    let mut h = PREPARED.get_or_init(crc32fast::Hasher::new).clone();
    if is_fde && data.len() > 18 && data[17] & (FLAG_IN_USE as u8) != 0 {
        h.update(&data[..17]);
        h.update(&[data[17] & !(FLAG_IN_USE as u8)]);
        h.update(&data[18..]);
    } else {
        h.update(data);
    }
    let got = h.finalize();
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "CRC32 mismatch: event says {want:08x}, bytes give {got:08x}"
        ))
    }
}

/// A QUERY event's useful fields.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub database: &'a [u8],
    pub query: &'a [u8],
    pub error_code: u16,
}

/// Parses a QUERY body (after the common header). `post_len` is the QUERY post-header length.
/// For MariaDB QUERY_COMPRESSED, the query part is returned still compressed.
pub fn parse_query(body: &[u8], post_len: usize) -> Result<Query<'_>, Short> {
    let mut r = Reader::new(body);
    r.skip(8)?; // thread id, execution time
    let db_len = usize::from(r.u8()?);
    let error_code = r.u16_le()?;
    let status_len = if post_len >= 13 {
        usize::from(r.u16_le()?)
    } else {
        0
    };
    r.skip(post_len.saturating_sub(13))?;
    r.skip(status_len)?;
    let database = r.take(db_len)?;
    r.skip(1)?; // NUL
    Ok(Query {
        database,
        query: r.take_rest(),
        error_code,
    })
}

/// A MySQL GTID event (33/34): the source UUID and transaction number.
pub fn parse_mysql_gtid(body: &[u8]) -> Result<([u8; 16], u64), Short> {
    let mut r = Reader::new(body);
    r.skip(1)?;
    let mut sid = [0u8; 16];
    sid.copy_from_slice(r.take(16)?);
    let gno = r.u64_le()?;
    Ok((sid, gno))
}

/// Formats a 16-byte server UUID the usual way.
pub fn format_uuid(sid: &[u8; 16]) -> String {
    let h: String = sid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A MySQL 8.3+ GTID_TAGGED event (42): serialised with the `mysql::serialization` format — a
/// packed total size, packed version fields, then fields as (packed id, value), with integers
/// in a variable-length encoding. Returns (uuid, gno, tag).
pub fn parse_gtid_tagged(body: &[u8]) -> Result<([u8; 16], u64, String), String> {
    let mut r = Reader::new(body);
    let e = |s: Short| s.to_string();
    let _size = varint(&mut r).map_err(e)?;
    let _version = varint(&mut r).map_err(e)?;
    let _backward = varint(&mut r).map_err(e)?;
    let mut sid = [0u8; 16];
    let mut gno = 0u64;
    let mut tag = String::new();
    let mut seen_sid = false;
    while !r.is_empty() {
        let id = varint(&mut r).map_err(e)?;
        match id {
            0 => {
                let _flags = varint(&mut r).map_err(e)?;
            }
            1 => {
                for b in &mut sid {
                    *b = varint(&mut r).map_err(e)? as u8;
                }
                seen_sid = true;
            }
            2 => gno = varint(&mut r).map_err(e)?,
            3 => {
                let len = varint(&mut r).map_err(e)? as usize;
                tag = String::from_utf8_lossy(r.take(len).map_err(e)?).into_owned();
            }
            // Remaining fields (timestamps, lengths, versions) are not needed.
            _ => break,
        }
    }
    if !seen_sid {
        return Err("GTID_TAGGED without a source UUID".into());
    }
    Ok((sid, gno, tag))
}

/// The variable-length integer of `mysql::serialization`: the number of trailing one bits of the
/// first byte tells how many further bytes follow; the value is little-endian after that prefix.
fn varint(r: &mut Reader<'_>) -> Result<u64, Short> {
    let first = r.u8()?;
    let extra = first.trailing_ones() as usize;
    if extra >= 8 {
        return r.u64_le();
    }
    let mut v = u64::from(first) >> (extra + 1);
    let rest = r.uint_le(extra)?;
    v |= rest << (7 - extra);
    Ok(v)
}

/// A MariaDB GTID event (162): (sequence number, domain id, flags).
pub fn parse_mariadb_gtid(body: &[u8]) -> Result<(u64, u32, u8), Short> {
    let mut r = Reader::new(body);
    Ok((r.u64_le()?, r.u32_le()?, r.u8()?))
}

/// MariaDB GTID flag FL_STANDALONE: the group is a single statement without BEGIN/COMMIT.
pub const MARIA_FL_STANDALONE: u8 = 1;

/// A MariaDB GTID_LIST event (163): (domain, server, sequence) triples.
pub fn parse_mariadb_gtid_list(body: &[u8]) -> Result<Vec<(u32, u32, u64)>, Short> {
    let mut r = Reader::new(body);
    let n = r.u32_le()? & 0x0FFF_FFFF;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push((r.u32_le()?, r.u32_le()?, r.u64_le()?));
    }
    Ok(out)
}

/// The TRANSACTION_PAYLOAD header TLVs (packed type, packed length, value): returns
/// (compression type, uncompressed size, payload bytes).
pub fn parse_payload(body: &[u8]) -> Result<(u64, u64, &[u8]), Short> {
    let mut r = Reader::new(body);
    let mut compression = 0;
    let mut size = 0;
    let mut uncompressed = 0;
    loop {
        let t = packed_uint(&mut r)?;
        if t == 0 {
            break; // OTW_PAYLOAD_HEADER_END_MARK
        }
        let len = packed_uint(&mut r)? as usize;
        let mut v = Reader::new(r.take(len)?);
        let val = packed_uint(&mut v)?;
        match t {
            1 => size = val,
            2 => compression = val,
            3 => uncompressed = val,
            _ => {}
        }
    }
    let payload = if size > 0 && (size as usize) <= r.remaining() {
        r.take(size as usize)?
    } else {
        r.take_rest()
    };
    Ok((compression, uncompressed, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_uuid() {
        let mut b = vec![1, 0, 0, 0, 16, 2, 0, 0, 0, 31, 0, 0, 0, 100, 0, 0, 0, 0, 0];
        let h = EventHeader::parse(&b).unwrap();
        assert_eq!(h.type_code, kind::XID);
        assert_eq!(h.event_size, 31);
        assert_eq!(h.log_pos, 100);
        b.truncate(10);
        assert!(EventHeader::parse(&b).is_err());
        let sid = [
            0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42,
            0x95, 0x62,
        ];
        assert_eq!(format_uuid(&sid), "3e11fa47-71ca-11e1-9e33-c80aa9429562");
    }

    #[test]
    fn serialization_varint() {
        // 1 byte: value << 1; 2 bytes: (value << 2) | 0b01.
        let mut r = Reader::new(&[0x08, 0x01 | (300u16 << 2) as u8, (300u16 << 2 >> 8) as u8]);
        assert_eq!(varint(&mut r).unwrap(), 4);
        assert_eq!(varint(&mut r).unwrap(), 300);
    }
}
