//! The PostgreSQL frontend/backend protocol, version 3, as seen from the client's read side
//! (PostgreSQL docs, "Frontend/Backend Protocol", "Message Formats"): every backend message is a
//! one-byte type, a four-byte big-endian length that counts itself but not the type byte, then
//! the body.
//!
//! The Python layer reads large raw blocks from the socket and hands them here unparsed.
//! [`Splitter`] cuts such blocks into messages, keeping a partial message across calls; the
//! drivers in [`feed`] send the CopyData payloads of a replication stream to the pgoutput
//! decoder and those of a `COPY ... TO STDOUT (FORMAT binary)` to the COPY decoder, and report
//! every other message back so that Python can finish the exchange.

pub mod feed;

use crate::{Error, Location, Result};

pub use feed::{feed_copy, feed_replication, WireSummary};

/// Longest message body accepted. The server never sends a message longer than its 1 GB
/// allocation limit (`MaxAllocSize`), so anything larger is corruption, not data.
pub const MAX_MESSAGE_LEN: usize = 0x3FFF_FFFF;

/// Backend message types ("Message Formats"): anything else is not a PostgreSQL server talking.
const BACKEND_TAGS: &[u8] = b"RK23CdcGHWDIEVnNAtS1sZTv";

/// What the callback of [`Splitter::feed`] wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep splitting.
    Continue,
    /// Stop after this message; the bytes after it are returned unparsed.
    Stop,
}

/// Cuts a byte stream of backend messages into `(type, body)` pairs, whatever the chunking.
#[derive(Debug, Default, Clone)]
pub struct Splitter {
    /// Bytes of a message whose end has not arrived yet (header included).
    carry: Vec<u8>,
    /// Stream offset of the first byte of `carry` (or of the next chunk when `carry` is empty).
    offset: u64,
}

impl Splitter {
    /// A splitter at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets any partial message and restarts offsets at zero (a new connection).
    pub fn reset(&mut self) {
        self.carry.clear();
        self.offset = 0;
    }

    /// Bytes held of a message not complete yet.
    pub fn pending(&self) -> usize {
        self.carry.len()
    }

    /// Byte offset in the stream of the next unconsumed byte.
    pub fn offset(&self) -> u64 {
        self.offset + self.carry.len() as u64
    }

    /// Splits `data` (which continues what earlier calls saw), calling `on_message(tag, body,
    /// offset)` for every complete message in order. When the callback returns [`Flow::Stop`],
    /// the bytes after that message are returned and the splitter is left empty; otherwise an
    /// incomplete tail is kept for the next call and the result is empty.
    pub fn feed<F>(&mut self, data: &[u8], mut on_message: F) -> Result<Vec<u8>>
    where
        F: FnMut(u8, &[u8], u64) -> Result<Flow>,
    {
        let mut data = data;
        if !self.carry.is_empty() {
            // Complete the held message from the front of `data`, copying only what it needs.
            let header_missing = 5usize.saturating_sub(self.carry.len());
            let (head, rest) = data.split_at(header_missing.min(data.len()));
            self.carry.extend_from_slice(head);
            data = rest;
            if self.carry.len() < 5 {
                return Ok(Vec::new());
            }
            let total = 1 + check_header(&self.carry, self.offset)?.1;
            let body_missing = total - self.carry.len();
            let (body, rest) = data.split_at(body_missing.min(data.len()));
            self.carry.extend_from_slice(body);
            data = rest;
            if self.carry.len() < total {
                return Ok(Vec::new());
            }
            let carry = std::mem::take(&mut self.carry);
            let at = self.offset;
            self.offset += total as u64;
            let tag = carry.first().copied().unwrap_or_default();
            let flow = on_message(tag, carry.get(5..).unwrap_or_default(), at);
            // Keep the allocation for the next partial message.
            self.carry = carry;
            self.carry.clear();
            if flow? == Flow::Stop {
                return Ok(data.to_vec());
            }
        }
        let mut pos = 0usize;
        while data.len() - pos >= 5 {
            let rest = data.get(pos..).unwrap_or_default();
            let at = self.offset;
            let (tag, len) = check_header(rest, at)?;
            let total = 1 + len;
            let Some(message) = rest.get(..total) else {
                break;
            };
            pos += total;
            self.offset += total as u64;
            let body = message.get(5..).unwrap_or_default();
            if on_message(tag, body, at)? == Flow::Stop {
                return Ok(data.get(pos..).unwrap_or_default().to_vec());
            }
        }
        self.carry
            .extend_from_slice(data.get(pos..).unwrap_or_default());
        Ok(Vec::new())
    }
}

/// Checks the five-byte header at the start of `buf` and returns the length field (type byte
/// excluded) with the type: a known message type and a length between 4 and
/// [`MAX_MESSAGE_LEN`].
fn check_header(buf: &[u8], at: u64) -> Result<(u8, usize)> {
    let (Some(&tag), Some(len)) = (buf.first(), buf.get(1..5)) else {
        return Err(Error::decode(
            "backend message",
            Location::Offset(at),
            "header shorter than 5 bytes",
        ));
    };
    if !BACKEND_TAGS.contains(&tag) {
        return Err(Error::decode(
            "backend message",
            Location::Offset(at),
            format!(
                "unknown message type {:?} ({tag:#04x}); is this a PostgreSQL server?",
                tag as char
            ),
        ));
    }
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if !(4..=MAX_MESSAGE_LEN).contains(&len) {
        return Err(Error::decode(
            "backend message",
            Location::Offset(at),
            format!("message {:?} has an impossible length {len}", tag as char),
        ));
    }
    Ok((tag, len))
}

/// Appends one backend message (used by tests and tools that build streams).
pub fn write_message(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    let len = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
    out.extend(len.to_be_bytes());
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    //! Tests of the backend-message splitter and the two drivers: exact message boundaries,
    //! malformed headers named by offset, and the property that any chunking of a valid stream
    //! gives the same batches as feeding it whole.

    use super::*;
    use crate::arrow::ChangeBatch;
    use crate::copy::{CopyColumn, CopyDecoder};
    use crate::pgoutput::Decoder;
    use crate::types::postgres::oid;
    use proptest::prelude::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_message(&mut out, tag, body);
        out
    }

    /// Splits `data` fed in chunks of the given sizes; returns `(tag, body, offset)` per message.
    fn split_chunks(data: &[u8], sizes: &[usize]) -> Vec<(u8, Vec<u8>, u64)> {
        let mut s = Splitter::new();
        let mut out = Vec::new();
        let mut pos = 0;
        for &n in sizes.iter().chain(std::iter::once(&usize::MAX)) {
            let end = pos + n.min(data.len() - pos);
            let rest = s
                .feed(&data[pos..end], |t, b, at| {
                    out.push((t, b.to_vec(), at));
                    Ok(Flow::Continue)
                })
                .unwrap();
            assert!(rest.is_empty());
            pos = end;
            if pos == data.len() {
                break;
            }
        }
        assert_eq!(s.pending(), 0);
        out
    }

    #[test]
    fn splits_messages_at_any_boundary() {
        let mut stream = msg(b'd', b"hello");
        stream.extend(msg(b'c', b""));
        stream.extend(msg(b'C', b"COPY 1\0"));
        let want = vec![
            (b'd', b"hello".to_vec(), 0),
            (b'c', Vec::new(), 10),
            (b'C', b"COPY 1\0".to_vec(), 15),
        ];
        assert_eq!(split_chunks(&stream, &[stream.len()]), want);
        for cut in 0..stream.len() {
            assert_eq!(split_chunks(&stream, &[cut]), want, "cut at {cut}");
        }
        assert_eq!(split_chunks(&stream, &[1; 64]), want);
    }

    #[test]
    fn stop_returns_the_bytes_after_the_message() {
        let mut stream = msg(b'Z', b"I");
        stream.extend(b"next");
        let mut s = Splitter::new();
        let rest = s.feed(&stream[..3], |_, _, _| Ok(Flow::Stop)).unwrap();
        assert!(rest.is_empty());
        let mut seen = Vec::new();
        let rest = s
            .feed(&stream[3..], |t, b, _| {
                seen.push((t, b.to_vec()));
                Ok(Flow::Stop)
            })
            .unwrap();
        assert_eq!(seen, vec![(b'Z', b"I".to_vec())]);
        assert_eq!(rest, b"next");
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn malformed_headers_name_their_offset() {
        let mut s = Splitter::new();
        let good = msg(b'd', b"abc");
        let mut bad = good.clone();
        bad.extend([b'd', 0, 0, 0, 2]);
        let e = s.feed(&bad, |_, _, _| Ok(Flow::Continue)).unwrap_err();
        assert!(e.to_string().contains("byte offset 8"), "{e}");
        assert!(e.to_string().contains("impossible length 2"), "{e}");

        let mut s = Splitter::new();
        // A TLS alert where a message should be.
        let e = s
            .feed(b"\x15\x03\x01\x00\x02", |_, _, _| Ok(Flow::Continue))
            .unwrap_err();
        assert!(e.to_string().contains("unknown message type"), "{e}");
        assert!(e.to_string().contains("byte offset 0"), "{e}");

        let mut s = Splitter::new();
        s.feed(&good, |_, _, _| Ok(Flow::Continue)).unwrap();
        s.feed(&[b'x', 0], |_, _, _| Ok(Flow::Continue)).unwrap();
        let e = s
            .feed(&[0, 0, 9], |_, _, _| Ok(Flow::Continue))
            .unwrap_err();
        assert!(e.to_string().contains("byte offset 8"), "{e}");
        assert!(e.to_string().contains("unknown message type 'x'"), "{e}");

        let mut s = Splitter::new();
        let e = s
            .feed(&[b'd', 0x7f, 0xff, 0xff, 0xff], |_, _, _| {
                Ok(Flow::Continue)
            })
            .unwrap_err();
        assert!(e.to_string().contains("impossible length"), "{e}");
    }

    #[test]
    fn callback_errors_propagate() {
        let mut s = Splitter::new();
        let e = s
            .feed(&msg(b'd', b"x"), |_, _, at| {
                Err(Error::decode("test", Location::Offset(at), "boom"))
            })
            .unwrap_err();
        assert!(e.to_string().contains("boom"));
    }

    // -- replication -----------------------------------------------------------------------------

    fn be(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// A replication stream: CopyBothResponse, then XLogData frames of two transactions inserting
    /// into `public.t(id int4, s text)` and keepalives between them.
    fn replication_stream() -> Vec<u8> {
        let mut out = msg(b'W', &[0, 0, 0]);
        let xlog = |out: &mut Vec<u8>, lsn: u64, m: Vec<u8>| {
            let payload = be(&[
                b"w",
                &lsn.to_be_bytes(),
                &(lsn + 100).to_be_bytes(),
                &7i64.to_be_bytes(),
                &m,
            ]);
            out.extend(msg(b'd', &payload));
        };
        let relation = be(&[
            b"R",
            &16384u32.to_be_bytes(),
            b"public\0t\0d",
            &2u16.to_be_bytes(),
            &[1],
            b"id\0",
            &oid::INT4.to_be_bytes(),
            &(-1i32).to_be_bytes(),
            &[0],
            b"s\0",
            &oid::TEXT.to_be_bytes(),
            &(-1i32).to_be_bytes(),
        ]);
        for (txn, base) in [(1u64, 0x1000u64), (2, 0x2000)] {
            let commit = base + 0x80;
            xlog(
                &mut out,
                base,
                be(&[
                    b"B",
                    &commit.to_be_bytes(),
                    &0i64.to_be_bytes(),
                    &(txn as u32).to_be_bytes(),
                ]),
            );
            xlog(&mut out, base, relation.clone());
            for row in 0..5u64 {
                let id = (txn * 10 + row).to_string();
                let s = "x".repeat(row as usize * 3);
                let insert = be(&[
                    b"I",
                    &16384u32.to_be_bytes(),
                    b"N",
                    &2u16.to_be_bytes(),
                    b"t",
                    &(id.len() as i32).to_be_bytes(),
                    id.as_bytes(),
                    b"t",
                    &(s.len() as i32).to_be_bytes(),
                    s.as_bytes(),
                ]);
                xlog(&mut out, base + row, insert);
            }
            xlog(
                &mut out,
                commit,
                be(&[
                    b"C",
                    &[0],
                    &commit.to_be_bytes(),
                    &(commit + 8).to_be_bytes(),
                    &0i64.to_be_bytes(),
                ]),
            );
            let keepalive = be(&[
                b"k",
                &(commit + 8).to_be_bytes(),
                &0i64.to_be_bytes(),
                &[u8::from(txn == 2)],
            ]);
            out.extend(msg(b'd', &keepalive));
        }
        out
    }

    fn batches_text(batches: &[ChangeBatch]) -> Vec<String> {
        batches
            .iter()
            .map(|b| format!("{}: {:?}", b.table, b.batch.columns()))
            .collect()
    }

    fn run_replication(stream: &[u8], sizes: &[usize]) -> (Vec<String>, WireSummary, u64, bool) {
        let mut splitter = Splitter::new();
        let mut decoder = Decoder::new();
        let mut total = WireSummary::default();
        let mut pos = 0;
        for &n in sizes.iter().chain(std::iter::once(&usize::MAX)) {
            let end = pos + n.min(stream.len() - pos);
            let s = feed_replication(&mut splitter, &mut decoder, &stream[pos..end]).unwrap();
            total.data_messages += s.data_messages;
            total.keepalives += s.keepalives;
            total.keepalive_wal_end = total.keepalive_wal_end.max(s.keepalive_wal_end);
            total.reply_requested |= s.reply_requested;
            total.messages.extend(s.messages);
            pos = end;
            if pos == stream.len() {
                break;
            }
        }
        let batches = decoder.flush().unwrap();
        (
            batches_text(&batches),
            total,
            decoder.last_wal_end(),
            decoder.take_reply_requested(),
        )
    }

    #[test]
    fn replication_stream_reaches_the_decoder() {
        let stream = replication_stream();
        let (batches, summary, wal_end, reply) = run_replication(&stream, &[]);
        assert_eq!(batches.len(), 1, "{batches:?}");
        assert!(batches[0].starts_with("public.t:"), "{batches:?}");
        assert!(batches[0].contains("24"), "{batches:?}");
        assert_eq!(summary.data_messages, 2 * 8);
        assert_eq!(summary.keepalives, 2);
        assert_eq!(summary.messages, vec![(b'W', vec![0, 0, 0])]);
        assert_eq!(summary.keepalive_wal_end, 0x2088);
        assert!(summary.reply_requested);
        assert!(!summary.done);
        assert_eq!(wal_end, 0x2080 + 100);
        assert!(reply);
    }

    #[test]
    fn error_and_ready_for_query_end_the_exchange() {
        let mut stream = msg(b'E', b"SERROR\0C55006\0Mslot busy\0\0");
        stream.extend(msg(b'Z', b"I"));
        stream.extend(b"tail");
        let mut decoder = Decoder::new();
        let mut splitter = Splitter::new();
        let s = feed_replication(&mut splitter, &mut decoder, &stream).unwrap();
        assert!(s.done);
        assert_eq!(s.rest, b"tail");
        assert_eq!(s.messages.len(), 2);
        assert_eq!(s.messages[0].0, b'E');
        assert!(s.messages[0].1.ends_with(b"Mslot busy\0\0"));
    }

    #[test]
    fn bad_frame_inside_copy_data_is_a_decode_error() {
        let stream = msg(b'd', b"zzz");
        let e = feed_replication(&mut Splitter::new(), &mut Decoder::new(), &stream).unwrap_err();
        assert!(e.to_string().contains("unknown frame type"), "{e}");
    }

    // -- COPY ------------------------------------------------------------------------------------

    /// COPY BINARY output of `(id int4, s text)` for `rows` rows, one row per CopyData as the
    /// server sends it (header in the first, trailer in the last), wrapped as a COPY OUT exchange.
    fn copy_stream(rows: u32) -> Vec<u8> {
        let mut out = msg(b'H', &[1, 0, 2, 0, 1, 0, 1]);
        let mut first = b"PGCOPY\n\xff\r\n\0".to_vec();
        first.extend(0u32.to_be_bytes());
        first.extend(0u32.to_be_bytes());
        for row in 0..rows {
            let mut tuple = if row == 0 {
                std::mem::take(&mut first)
            } else {
                Vec::new()
            };
            let s = format!("row {row}");
            tuple.extend(2i16.to_be_bytes());
            tuple.extend(4i32.to_be_bytes());
            tuple.extend((row as i32).to_be_bytes());
            tuple.extend((s.len() as i32).to_be_bytes());
            tuple.extend(s.as_bytes());
            out.extend(msg(b'd', &tuple));
        }
        let mut trailer = first;
        trailer.extend((-1i16).to_be_bytes());
        out.extend(msg(b'd', &trailer));
        out.extend(msg(b'c', b""));
        out.extend(msg(b'C', format!("COPY {rows}\0").as_bytes()));
        out.extend(msg(b'Z', b"T"));
        out
    }

    fn copy_decoder() -> CopyDecoder {
        let cols = [
            CopyColumn {
                name: "id".into(),
                type_oid: oid::INT4,
                typmod: -1,
            },
            CopyColumn {
                name: "s".into(),
                type_oid: oid::TEXT,
                typmod: -1,
            },
        ];
        CopyDecoder::new("public.t", &cols, vec!["id".into()], 1, 5, 0, 0).unwrap()
    }

    fn run_copy(stream: &[u8], sizes: &[usize]) -> (Vec<String>, u64, Vec<u8>) {
        let mut splitter = Splitter::new();
        let mut decoder = copy_decoder();
        let mut tags = Vec::new();
        let mut pos = 0;
        let mut done = false;
        for &n in sizes.iter().chain(std::iter::once(&usize::MAX)) {
            let end = pos + n.min(stream.len() - pos);
            let s = feed_copy(&mut splitter, &mut decoder, &stream[pos..end]).unwrap();
            assert!(!done, "bytes after ReadyForQuery");
            tags.extend(s.messages.iter().map(|m| m.0));
            done = s.done;
            pos = end;
            if pos == stream.len() {
                break;
            }
        }
        assert!(done);
        decoder.finish().unwrap();
        let rows = decoder.rows();
        (batches_text(&decoder.flush().unwrap()), rows, tags)
    }

    #[test]
    fn copy_out_exchange_feeds_the_copy_decoder() {
        let (batches, rows, tags) = run_copy(&copy_stream(50), &[]);
        assert_eq!(rows, 50);
        assert_eq!(tags, b"HcCZ");
        assert!(batches[0].contains("row 49"), "{batches:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_chunking_of_a_replication_stream_gives_the_same_batches(
            sizes in proptest::collection::vec(1usize..300, 0..40)
        ) {
            let stream = replication_stream();
            let whole = run_replication(&stream, &[]);
            let chunked = run_replication(&stream, &sizes);
            prop_assert_eq!(whole, chunked);
        }

        #[test]
        fn any_chunking_of_a_copy_gives_the_same_batches(
            sizes in proptest::collection::vec(1usize..200, 0..40)
        ) {
            let stream = copy_stream(30);
            prop_assert_eq!(run_copy(&stream, &[]), run_copy(&stream, &sizes));
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..200),
            cut in 0usize..200,
        ) {
            let cut = cut.min(data.len());
            let mut splitter = Splitter::new();
            let mut decoder = Decoder::new();
            if feed_replication(&mut splitter, &mut decoder, &data[..cut]).is_ok() {
                let _ = feed_replication(&mut splitter, &mut decoder, &data[cut..]);
            }
            let mut splitter = Splitter::new();
            let mut copy = copy_decoder();
            let _ = feed_copy(&mut splitter, &mut copy, &data);
        }
    }
}
