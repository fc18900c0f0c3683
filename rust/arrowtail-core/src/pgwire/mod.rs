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
mod tests;
