//! Framing: splitting a binlog file into events, and reassembling events from the replication
//! stream's MySQL packets (3-byte length + sequence id; payload `00` [+ `ef` ack flag when
//! semi-sync] + event; payloads of 0xFFFFFF bytes continue in the next packet; `ff` error packet;
//! `fe` EOF) — MySQL protocol "COM_BINLOG_DUMP" and "Semi-synchronous replication".

use super::event::{HEADER_LEN, MAGIC};

/// Longest packet payload; a payload of exactly this size continues in the next packet.
pub const MAX_PACKET: usize = 0xFF_FFFF;

/// Checks the file magic.
pub fn check_magic(data: &[u8]) -> Result<(), String> {
    match data.get(..4) {
        Some(m) if m == MAGIC => Ok(()),
        Some(m) => Err(format!(
            "not a binlog file: magic is {m:02x?}, expected fe 62 69 6e"
        )),
        None => Err(format!("file of {} bytes has no binlog magic", data.len())),
    }
}

/// The next complete event of a file at `at`: Ok(None) at the end, Err when truncated or invalid.
pub fn next_file_event(data: &[u8], at: usize) -> Result<Option<&[u8]>, String> {
    let rest = data.get(at..).unwrap_or_default();
    if rest.is_empty() {
        return Ok(None);
    }
    if rest.len() < HEADER_LEN {
        return Err(format!(
            "truncated event header: {} of {HEADER_LEN} bytes",
            rest.len()
        ));
    }
    // Only the size (offset 9) and, for the message, the type (offset 4) are needed here; the
    // whole header is parsed once, by the event's handler.
    let size = u32::from_le_bytes([rest[9], rest[10], rest[11], rest[12]]) as usize;
    if size < HEADER_LEN {
        return Err(format!("event size {size} is smaller than its header"));
    }
    if size > rest.len() {
        return Err(format!(
            "truncated event of type {}: {size} bytes announced, {} present",
            rest[4],
            rest.len()
        ));
    }
    Ok(Some(&rest[..size]))
}

/// One reassembled packet of the dump stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// An event (OK byte and semi-sync header removed); `ack` when the server asked for a
    /// semi-sync acknowledgement.
    Event { event: &'a [u8], ack: bool },
    /// EOF: the end of a non-blocking dump.
    Eof,
    /// An error packet.
    Error { code: u16, message: String },
}

/// Interprets a complete packet payload (all continuation packets joined).
pub fn parse_packet(p: &[u8], semi_sync: bool) -> Result<Packet<'_>, String> {
    match p.first() {
        Some(0x00) => {
            let ev = &p[1..];
            if semi_sync {
                match ev {
                    [0xEF, flag, rest @ ..] => Ok(Packet::Event {
                        event: rest,
                        ack: *flag != 0,
                    }),
                    _ => Err("semi-sync packet without the 0xef magic byte".into()),
                }
            } else {
                Ok(Packet::Event {
                    event: ev,
                    ack: false,
                })
            }
        }
        Some(0xFF) => {
            let code = p.get(1..3).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
            let mut msg = p.get(3..).unwrap_or_default();
            let mut state = String::new();
            if msg.first() == Some(&b'#') && msg.len() >= 6 {
                state = String::from_utf8_lossy(&msg[1..6]).into_owned();
                msg = &msg[6..];
            }
            let text = String::from_utf8_lossy(msg);
            Ok(Packet::Error {
                code,
                message: if state.is_empty() {
                    text.into_owned()
                } else {
                    format!("({state}) {text}")
                },
            })
        }
        Some(0xFE) if p.len() < 9 => Ok(Packet::Eof),
        Some(b) => Err(format!("unexpected packet header byte {b:#04x}")),
        None => Err("empty packet".into()),
    }
}

/// Finds the next complete packet payload in `buf` at `at`: (payload, next offset). Continuation
/// packets are reported one by one; the caller joins payloads of `MAX_PACKET` bytes.
pub fn next_packet(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(at..)?;
    if rest.len() < 4 {
        return None;
    }
    let len = usize::from(rest[0]) | usize::from(rest[1]) << 8 | usize::from(rest[2]) << 16;
    let p = rest.get(4..4 + len)?;
    Some((p, at + 4 + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets() {
        let buf = [3, 0, 0, 1, 0, 0xAA, 0xBB, 2, 0];
        let (p, next) = next_packet(&buf, 0).unwrap();
        assert_eq!(p, &[0, 0xAA, 0xBB]);
        assert_eq!(next, 7);
        assert!(next_packet(&buf, next).is_none());
        assert_eq!(
            parse_packet(p, false).unwrap(),
            Packet::Event {
                event: &[0xAA, 0xBB],
                ack: false
            }
        );
        let err = [0xFF, 0xC4, 0x04, b'#', b'H', b'Y', b'0', b'0', b'0', b'x'];
        assert_eq!(
            parse_packet(&err, false).unwrap(),
            Packet::Error {
                code: 1220,
                message: "(HY000) x".into()
            }
        );
        assert_eq!(
            parse_packet(&[0xFE, 0, 0, 2, 0], false).unwrap(),
            Packet::Eof
        );
        assert!(parse_packet(&[0x00, 1], true).is_err());
    }

    #[test]
    fn magic() {
        assert!(check_magic(&MAGIC).is_ok());
        assert!(check_magic(b"\xef\xbf\xbdbin").is_err());
    }
}
