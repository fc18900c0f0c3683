//! The streaming replication framing around pgoutput messages (PostgreSQL docs, "Streaming
//! Replication Protocol": the CopyData payloads of `START_REPLICATION`), and the capture file of
//! docs/design.md: records of `[u64 BE LSN][u32 BE length][message]`.

use crate::reader::Reader;
use crate::types::postgres::datetime::PG_EPOCH_US;
use crate::{Error, Location, Result};

/// A CopyData payload sent by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `w` XLogData: start LSN of the data, the server's WAL end, its clock, then one pgoutput
    /// message.
    XLogData {
        start_lsn: u64,
        wal_end: u64,
        clock: i64,
        payload: &'a [u8],
    },
    /// `k` primary keepalive: the server's WAL end, its clock, and whether it wants a reply now.
    Keepalive {
        wal_end: u64,
        clock: i64,
        reply_requested: bool,
    },
}

/// Parses a CopyData payload of a replication stream.
pub fn parse_frame(data: &[u8]) -> Result<Frame<'_>> {
    let mut r = Reader::new(data);
    let err = |r: &Reader<'_>, what: &'static str, detail: String| {
        Error::decode(what, Location::Offset(r.pos() as u64), detail)
    };
    let tag = r
        .u8()
        .map_err(|e| err(&r, "replication frame", e.to_string()))?;
    match tag {
        b'w' => {
            let head =
                (|| Ok::<_, crate::reader::Short>((r.u64_be()?, r.u64_be()?, r.i64_be()?)))();
            let (start_lsn, wal_end, clock) =
                head.map_err(|e| err(&r, "XLogData frame", e.to_string()))?;
            Ok(Frame::XLogData {
                start_lsn,
                wal_end,
                clock,
                payload: r.take_rest(),
            })
        }
        b'k' => {
            let body = (|| Ok::<_, crate::reader::Short>((r.u64_be()?, r.i64_be()?, r.u8()?)))();
            let (wal_end, clock, reply) =
                body.map_err(|e| err(&r, "keepalive frame", e.to_string()))?;
            if !r.is_empty() {
                return Err(err(
                    &r,
                    "keepalive frame",
                    "unexpected trailing bytes".into(),
                ));
            }
            Ok(Frame::Keepalive {
                wal_end,
                clock,
                reply_requested: reply != 0,
            })
        }
        t => Err(err(
            &r,
            "replication frame",
            format!("unknown frame type {:?} ({t:#04x})", t as char),
        )),
    }
}

/// The client's standby status update (`r`): written, flushed and applied LSNs, the client clock
/// (µs since 2000-01-01) and whether the server should reply at once.
pub fn standby_status_update(
    write: u64,
    flush: u64,
    apply: u64,
    clock: i64,
    reply: bool,
) -> [u8; 34] {
    let mut out = [0u8; 34];
    out[0] = b'r';
    out[1..9].copy_from_slice(&write.to_be_bytes());
    out[9..17].copy_from_slice(&flush.to_be_bytes());
    out[17..25].copy_from_slice(&apply.to_be_bytes());
    out[25..33].copy_from_slice(&clock.to_be_bytes());
    out[33] = u8::from(reply);
    out
}

/// PostgreSQL time (µs since 2000-01-01) to Unix µs.
pub fn pg_time_to_unix_us(pg: i64) -> i64 {
    pg.saturating_add(PG_EPOCH_US)
}

/// Unix µs to PostgreSQL time.
pub fn unix_us_to_pg_time(unix: i64) -> i64 {
    unix.saturating_sub(PG_EPOCH_US)
}

/// Appends one capture record.
pub fn write_capture_record(out: &mut Vec<u8>, lsn: u64, message: &[u8]) -> Result<()> {
    let len = u32::try_from(message.len())
        .map_err(|_| Error::Config("capture record longer than 4 GiB".into()))?;
    out.extend(lsn.to_be_bytes());
    out.extend(len.to_be_bytes());
    out.extend(message);
    Ok(())
}

/// Iterates over the records of a capture file held in memory: `(lsn, message)`. A truncated
/// record is an error naming its byte offset; iteration stops after it.
#[derive(Debug, Clone)]
pub struct CaptureReader<'a> {
    r: Reader<'a>,
    failed: bool,
}

impl<'a> CaptureReader<'a> {
    /// A reader over a whole capture file (or a prefix made of whole records).
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            r: Reader::new(data),
            failed: false,
        }
    }

    /// Byte offset of the next record.
    pub fn offset(&self) -> usize {
        self.r.pos()
    }
}

impl<'a> Iterator for CaptureReader<'a> {
    type Item = Result<(u64, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.r.is_empty() {
            return None;
        }
        let start = self.r.pos();
        let rec = (|| {
            let lsn = self.r.u64_be()?;
            let len = self.r.u32_be()?;
            Ok::<_, crate::reader::Short>((lsn, self.r.take(len as usize)?))
        })();
        Some(rec.map_err(|e| {
            self.failed = true;
            Error::decode(
                "capture record",
                Location::Offset(start as u64),
                e.to_string(),
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xlogdata_and_keepalive() {
        let mut w = vec![b'w'];
        w.extend(1u64.to_be_bytes());
        w.extend(2u64.to_be_bytes());
        w.extend(3i64.to_be_bytes());
        w.extend(b"E");
        assert_eq!(
            parse_frame(&w).unwrap(),
            Frame::XLogData {
                start_lsn: 1,
                wal_end: 2,
                clock: 3,
                payload: b"E"
            }
        );
        let mut k = vec![b'k'];
        k.extend(9u64.to_be_bytes());
        k.extend(8i64.to_be_bytes());
        k.push(1);
        assert_eq!(
            parse_frame(&k).unwrap(),
            Frame::Keepalive {
                wal_end: 9,
                clock: 8,
                reply_requested: true
            }
        );
        assert!(parse_frame(&k[..10]).is_err());
        assert!(parse_frame(&w[..20]).is_err());
        assert!(parse_frame(b"x").is_err());
        assert!(parse_frame(b"").is_err());
    }

    #[test]
    fn status_update_layout() {
        let s = standby_status_update(1, 2, 3, 4, true);
        assert_eq!(s[0], b'r');
        assert_eq!(&s[9..17], &2u64.to_be_bytes());
        assert_eq!(s[33], 1);
    }

    #[test]
    fn capture_records_round_trip() {
        let mut f = Vec::new();
        write_capture_record(&mut f, 0x10, b"abc").unwrap();
        write_capture_record(&mut f, 0x20, b"").unwrap();
        let recs: Vec<_> = CaptureReader::new(&f).collect::<Result<_>>().unwrap();
        assert_eq!(recs, vec![(0x10, &b"abc"[..]), (0x20, &b""[..])]);
        let cut = &f[..f.len() - 1];
        let mut it = CaptureReader::new(cut);
        assert!(it.next().unwrap().is_ok());
        let e = it.next().unwrap().unwrap_err();
        assert!(e.to_string().contains("byte offset 15"), "{e}");
        assert!(it.next().is_none());
    }
}
