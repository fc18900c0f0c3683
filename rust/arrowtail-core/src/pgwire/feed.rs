//! The two hot exchanges, driven from raw socket blocks: a logical replication stream (COPY BOTH
//! after `START_REPLICATION`) into the pgoutput decoder, and a `COPY ... TO STDOUT (FORMAT
//! binary)` (COPY OUT) into the COPY decoder. CopyData (`d`) payloads are decoded here; every
//! other message (ErrorResponse, NoticeResponse, CopyDone, CommandComplete, ReadyForQuery, ...) is
//! handed back in a [`WireSummary`] so the caller can finish the exchange. ReadyForQuery ends it:
//! the bytes after it are returned untouched.

use super::{Flow, Splitter};
use crate::copy::CopyDecoder;
use crate::pgoutput::{parse_frame, Decoder, Frame};
use crate::Result;

/// What one call saw besides the decoded data.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WireSummary {
    /// CopyData payloads with data: XLogData (`w`) frames, or COPY data messages.
    pub data_messages: u64,
    /// Primary keepalive (`k`) frames of a replication stream.
    pub keepalives: u64,
    /// The highest server WAL end those keepalives reported (0 without keepalives).
    pub keepalive_wal_end: u64,
    /// Whether one of them asked for a reply at once.
    pub reply_requested: bool,
    /// Every message other than CopyData, in order: `(type, body)`.
    pub messages: Vec<(u8, Vec<u8>)>,
    /// True when ReadyForQuery arrived: the exchange is over and the splitter is empty.
    pub done: bool,
    /// With `done`, the bytes that followed ReadyForQuery (normally none).
    pub rest: Vec<u8>,
}

/// ReadyForQuery ("Message Formats": `Z`) ends a simple-query exchange.
const READY_FOR_QUERY: u8 = b'Z';
/// CopyData (`d`), the only message carrying data in both exchanges.
const COPY_DATA: u8 = b'd';

/// Splits `data` with `splitter`, passing CopyData payloads to `on_data` (which counts them in
/// the summary) and collecting everything else.
fn drive<F>(splitter: &mut Splitter, data: &[u8], mut on_data: F) -> Result<WireSummary>
where
    F: FnMut(&[u8], &mut WireSummary) -> Result<()>,
{
    let mut summary = WireSummary::default();
    let rest = splitter.feed(data, |tag, body, _at| {
        if tag == COPY_DATA {
            on_data(body, &mut summary)?;
            return Ok(Flow::Continue);
        }
        summary.messages.push((tag, body.to_vec()));
        if tag == READY_FOR_QUERY {
            summary.done = true;
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    })?;
    summary.rest = rest;
    Ok(summary)
}

/// Feeds bytes of a replication connection after `START_REPLICATION` ("Streaming Replication
/// Protocol"): XLogData and keepalive payloads go to `decoder` (which records the WAL end and a
/// requested reply), everything else is reported.
pub fn feed_replication(
    splitter: &mut Splitter,
    decoder: &mut Decoder,
    data: &[u8],
) -> Result<WireSummary> {
    drive(splitter, data, |payload, summary| {
        if payload.first() == Some(&b'k') {
            // Keepalives are rare: parsing one twice costs nothing measurable.
            if let Frame::Keepalive {
                wal_end,
                reply_requested,
                ..
            } = parse_frame(payload)?
            {
                summary.keepalives += 1;
                summary.keepalive_wal_end = summary.keepalive_wal_end.max(wal_end);
                summary.reply_requested |= reply_requested;
            }
        } else {
            summary.data_messages += 1;
        }
        decoder.feed_frame(payload)
    })
}

/// Feeds bytes of a connection running `COPY ... TO STDOUT (FORMAT binary)`: CopyData payloads
/// go to `decoder`, everything else (CopyOutResponse, CopyDone, CommandComplete, errors) is
/// reported.
pub fn feed_copy(
    splitter: &mut Splitter,
    decoder: &mut CopyDecoder,
    data: &[u8],
) -> Result<WireSummary> {
    drive(splitter, data, |payload, summary| {
        summary.data_messages += 1;
        decoder.feed(payload)
    })
}
