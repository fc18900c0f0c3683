//! XA transactions of the [`BinlogDecoder`]: MySQL (5.7+) and MariaDB (10.5+) write an XA
//! transaction's rows to the binlog at `XA PREPARE` (a group ending in an XA_PREPARE event),
//! and its outcome later as a group of its own holding only an `XA COMMIT` or `XA ROLLBACK`
//! statement. Prepared rows are parked under their XID until that statement: a commit hands them
//! on stamped with its position, a rollback drops them. `XA COMMIT ... ONE PHASE` (an XA_PREPARE
//! event with the one-phase flag) is an ordinary commit.
//!
//! A source that stores the decoder's last commit as its checkpoint while transactions are
//! parked must resume from before the earliest of their prepares: [`XaEvent`]s tell it which
//! transactions are parked, and [`BinlogDecoder::set_skip_through`] lets it re-read the binlog
//! from there without handing on again what the checkpoint already covers.

// The shared error enum carries a Location with a file name; boxing it is the error module's call.
#![allow(clippy::result_large_err)]

use std::fmt::Write as _;

use arrow_array::RecordBatch;

use crate::arrow::ChangeBatch;
use crate::error::{Error, Result};
use crate::reader::{Reader, Short};

use super::decoder::BinlogDecoder;

/// An XID as the server identifies it: format id, global transaction id, branch qualifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xid {
    pub format_id: u64,
    pub gtrid: Vec<u8>,
    pub bqual: Vec<u8>,
}

impl Xid {
    /// The form the server writes in its binlog statements: `X'gtrid',X'bqual',format`.
    pub fn text(&self) -> String {
        let mut s = String::from("X'");
        for b in &self.gtrid {
            let _ = write!(s, "{b:02x}");
        }
        s.push_str("',X'");
        for b in &self.bqual {
            let _ = write!(s, "{b:02x}");
        }
        let _ = write!(s, "',{}", self.format_id);
        s
    }
}

/// Parses an XA_PREPARE event body: one-phase flag, then format id, gtrid and bqual lengths
/// (4 bytes each, little-endian) and the two ids (MySQL `XA_prepare_event`; MariaDB writes the
/// same layout).
pub fn parse_xa_prepare(body: &[u8]) -> std::result::Result<(bool, Xid), String> {
    let mut r = Reader::new(body);
    let e = |s: Short| s.to_string();
    let one_phase = r.u8().map_err(e)? != 0;
    let format_id = r.uint_le(4).map_err(e)?;
    let gtrid_len = r.uint_le(4).map_err(e)? as usize;
    let bqual_len = r.uint_le(4).map_err(e)? as usize;
    if gtrid_len > 64 || bqual_len > 64 {
        return Err(format!(
            "XID lengths {gtrid_len} and {bqual_len} exceed 64 bytes"
        ));
    }
    let gtrid = r.take(gtrid_len).map_err(e)?.to_vec();
    let bqual = r.take(bqual_len).map_err(e)?.to_vec();
    Ok((
        one_phase,
        Xid {
            format_id,
            gtrid,
            bqual,
        },
    ))
}

/// Whether `statement` is an `XA COMMIT` (true) or `XA ROLLBACK` (false), in any case and
/// spacing, and the text after its verb.
pub fn xa_outcome(statement: &str) -> Option<(bool, &str)> {
    let mut words = statement.trim_start().splitn(2, char::is_whitespace);
    if !words.next()?.eq_ignore_ascii_case("XA") {
        return None;
    }
    let mut words = words.next()?.trim_start().splitn(2, char::is_whitespace);
    let verb = words.next()?;
    let rest = words.next().unwrap_or("");
    if verb.eq_ignore_ascii_case("COMMIT") {
        Some((true, rest))
    } else if verb.eq_ignore_ascii_case("ROLLBACK") {
        Some((false, rest))
    } else {
        None
    }
}

/// The XID an XA statement names after its verb (`rest` follows `XA COMMIT`/`XA ROLLBACK`):
/// `gtrid [, bqual [, format_id]]`, each id a string literal (`'…'`, `"…"`, `X'hex'`, `0xhex`),
/// format id 1 when not given; and whether `ONE PHASE` follows. None when it cannot be read.
pub fn parse_xa_statement(rest: &str) -> Option<(Xid, bool)> {
    let mut s = rest.trim_start();
    let (gtrid, after) = string_literal(s)?;
    s = after.trim_start();
    let mut bqual = Vec::new();
    let mut format_id = 1u64;
    if let Some(after) = s.strip_prefix(',') {
        let (b, after) = string_literal(after.trim_start())?;
        bqual = b;
        s = after.trim_start();
        if let Some(after) = s.strip_prefix(',') {
            let after = after.trim_start();
            let sign = usize::from(after.starts_with('-'));
            let digits = sign + after[sign..].bytes().take_while(u8::is_ascii_digit).count();
            // The event carries the id as 4 bytes; a statement may print it signed.
            let value: i64 = after[..digits].parse().ok()?;
            format_id = u64::from(value as u32);
            s = after[digits..].trim_start();
        }
    }
    let words: Vec<String> = s.split_whitespace().map(str::to_ascii_uppercase).collect();
    let one_phase = words.windows(2).any(|w| w[0] == "ONE" && w[1] == "PHASE");
    Some((
        Xid {
            format_id,
            gtrid,
            bqual,
        },
        one_phase,
    ))
}

/// A string literal at the start of `s` and the text after it.
fn string_literal(s: &str) -> Option<(Vec<u8>, &str)> {
    let bytes = s.as_bytes();
    match bytes.first()? {
        b'X' | b'x' if bytes.get(1) == Some(&b'\'') => {
            let end = 2 + s[2..].find('\'')?;
            Some((hex(&s[2..end])?, &s[end + 1..]))
        }
        b'0' if matches!(bytes.get(1), Some(b'x')) => {
            let digits = s[2..].bytes().take_while(u8::is_ascii_hexdigit).count();
            Some((hex(&s[2..2 + digits])?, &s[2 + digits..]))
        }
        &q @ (b'\'' | b'"') => {
            let mut out = Vec::new();
            let mut i = 1;
            while i < bytes.len() {
                let c = bytes[i];
                if c == b'\\' && i + 1 < bytes.len() {
                    out.push(bytes[i + 1]);
                    i += 2;
                } else if c == q && bytes.get(i + 1) == Some(&q) {
                    out.push(q);
                    i += 2;
                } else if c == q {
                    return Some((out, &s[i + 1..]));
                } else {
                    out.push(c);
                    i += 1;
                }
            }
            None
        }
        _ => None,
    }
}

fn hex(digits: &str) -> Option<Vec<u8>> {
    // An odd count has an implied leading zero (MySQL reads 0xABC as 0x0ABC).
    let padded;
    let digits = if digits.len() % 2 == 1 {
        padded = format!("0{digits}");
        padded.as_str()
    } else {
        digits
    };
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok())
        .collect()
}

/// A prepared XA transaction waiting for its outcome.
#[derive(Debug)]
pub(crate) struct Parked {
    pub id: u64,
    pub xid: Xid,
    /// Its rows (builder index, unstamped batch), in order; empty once taken out.
    pub rows: Vec<(usize, RecordBatch)>,
    /// Rows of it were taken out of the decoder (by `take_open_rows` before the prepare, or by
    /// [`BinlogDecoder::take_parked_rows`]): its outcome is reported to whoever keeps them.
    pub taken: bool,
}

/// What happened to an XA transaction, for a source that keeps their rows or their resume
/// points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XaEvent {
    /// The transaction `id` was prepared: its rows are parked. `taken`: rows of it were taken
    /// out earlier (see [`BinlogDecoder::take_open_rows`]); the rest can be taken with
    /// [`BinlogDecoder::take_parked_rows`]. `replayed`: it was prepared before the position set
    /// with [`BinlogDecoder::set_skip_through`].
    Prepared {
        id: u64,
        xid: String,
        taken: bool,
        replayed: bool,
    },
    /// The transaction `id` committed at `pos` (its rows still in the decoder are handed on by
    /// the next flush; taken rows get this position and time).
    Committed {
        id: u64,
        taken: bool,
        pos: u64,
        commit_ts_us: i64,
    },
    /// The transaction `id` was rolled back, or committed at or before the skip-through
    /// position (handed on already): its rows are void.
    Dropped { id: u64, taken: bool },
}

impl BinlogDecoder {
    /// Parks the open transaction, which the XA_PREPARE event at `offset` ends, under `xid`.
    pub(crate) fn park(&mut self, xid: Xid, offset: u64) -> Result<()> {
        let rows = self.split_open_rows().map_err(|(b, source)| Error::Arrow {
            table: self.builders[b].table().table.clone(),
            at: self.loc(offset),
            source,
        })?;
        // The group is complete but not committed: the transaction closes without a position
        // (the checkpoint stays before it) and without dropping the rows it took out. Prepares
        // are rare enough to let its lists go rather than reset them in place.
        let taken = std::mem::take(&mut self.txn).taken;
        self.next_parked += 1;
        let id = self.next_parked;
        self.xa_events.push(XaEvent::Prepared {
            id,
            xid: xid.text(),
            taken,
            replayed: self.skip_through.is_some(),
        });
        self.parked.push(Parked {
            id,
            xid,
            rows,
            taken,
        });
        self.stats.xa_prepared += 1;
        Ok(())
    }

    /// `XA COMMIT` or `XA ROLLBACK` of `xid` (`commit`), in a group whose commit ends at `end`:
    /// the parked rows are handed on or dropped. A commit of a transaction not parked here (it
    /// was prepared before this decoder's first event) is counted and remembered.
    pub(crate) fn end_xa(
        &mut self,
        xid: &Xid,
        commit: bool,
        end: u64,
        timestamp: u32,
    ) -> Result<()> {
        let pos = (u64::from(self.file_number) << 32) | (end & 0xFFFF_FFFF);
        let replayed = self.skip_through.is_some_and(|s| pos <= s);
        let Some(i) = self.parked.iter().position(|p| &p.xid == xid) else {
            if commit && !replayed {
                self.stats.xa_unmatched += 1;
                self.xa_unmatched = Some(xid.text());
            }
            return Ok(());
        };
        let parked = self.parked.remove(i);
        if !commit || replayed {
            self.stats.discarded_rows += parked
                .rows
                .iter()
                .map(|(_, b)| b.num_rows() as u64)
                .sum::<u64>();
            self.xa_events.push(XaEvent::Dropped {
                id: parked.id,
                taken: parked.taken,
            });
            return Ok(());
        }
        let ts = i64::from(timestamp) * 1_000_000;
        let arrow_err = |s: &Self, b: usize, source| Error::Arrow {
            table: s.builders[b].table().table.clone(),
            at: s.loc(end),
            source,
        };
        for (b, rows) in parked.rows {
            // Rows committed before this one wait in the table's builder: they leave first.
            if !self.builders[b].is_empty() {
                let before = self.builders[b]
                    .flush()
                    .map_err(|e| arrow_err(self, b, e))?;
                self.ready
                    .extend(before.into_iter().map(|batch| (b, batch)));
            }
            let stamped =
                super::txn::restamp(&rows, pos, ts, None).map_err(|e| arrow_err(self, b, e))?;
            self.ready.push((b, stamped));
        }
        self.xa_events.push(XaEvent::Committed {
            id: parked.id,
            taken: parked.taken,
            pos,
            commit_ts_us: ts,
        });
        Ok(())
    }

    /// What happened to XA transactions since the last call, in binlog order.
    pub fn take_xa_events(&mut self) -> Vec<XaEvent> {
        std::mem::take(&mut self.xa_events)
    }

    /// The rows of the parked transaction `id` still in the decoder, unstamped, for a caller that
    /// keeps them with the rows it took out before the prepare; its outcome then comes as an
    /// [`XaEvent`] with `taken` set.
    pub fn take_parked_rows(&mut self, id: u64) -> Vec<ChangeBatch> {
        let Some(parked) = self.parked.iter_mut().find(|p| p.id == id) else {
            return Vec::new();
        };
        parked.taken = true;
        let rows = std::mem::take(&mut parked.rows);
        self.change_batches(rows)
    }

    /// Transactions parked now.
    pub fn parked_count(&self) -> usize {
        self.parked.len()
    }

    /// The XID of the last `XA COMMIT` of a transaction this decoder never saw prepared, once.
    pub fn take_xa_unmatched(&mut self) -> Option<String> {
        self.xa_unmatched.take()
    }

    /// Re-reading from before a checkpoint at `pos` (`(file number << 32) | offset`):
    /// transactions that commit at or before it are dropped (they were handed on before), XA
    /// prepares among them are parked as usual, and the last commit stays unset until a
    /// transaction after `pos` commits.
    pub fn set_skip_through(&mut self, pos: u64) {
        self.skip_through = Some(pos);
    }

    /// True while transactions up to the skip-through position are being dropped.
    pub fn skipping(&self) -> bool {
        self.skip_through.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_statements_in_any_case_and_spacing() {
        assert_eq!(
            xa_outcome("XA COMMIT X'6131',X'',1"),
            Some((true, "X'6131',X'',1"))
        );
        assert_eq!(xa_outcome("  xa\n  rollback   'a'"), Some((false, "  'a'")));
        assert_eq!(xa_outcome("XA START X'6131'"), None);
        assert_eq!(xa_outcome("XACOMMIT 'a'"), None);
        assert_eq!(xa_outcome("XA"), None);
    }

    #[test]
    fn statements_name_their_xid_as_the_prepare_event_does() {
        let (xid, one) = parse_xa_statement(" X'6131',X'',1").unwrap();
        assert_eq!(
            xid,
            Xid {
                format_id: 1,
                gtrid: b"a1".to_vec(),
                bqual: vec![]
            }
        );
        assert!(!one);
        let (xid, one) = parse_xa_statement("'a''b', \"c\\\"d\" , 7 ONE PHASE").unwrap();
        assert_eq!(xid.gtrid, b"a'b");
        assert_eq!(xid.bqual, b"c\"d");
        assert_eq!(xid.format_id, 7);
        assert!(one);
        let (xid, _) = parse_xa_statement("X'01',X'',-1").unwrap();
        assert_eq!(xid.format_id, 0xFFFF_FFFF);
        let (xid, _) = parse_xa_statement("0xabc").unwrap();
        assert_eq!(xid.gtrid, vec![0x0a, 0xbc]);
        assert_eq!(xid.text(), "X'0abc',X'',1");
        assert!(parse_xa_statement("").is_none());
        assert!(parse_xa_statement("'unterminated").is_none());

        let mut body = vec![0u8];
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&2u32.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(b"a1");
        let (one, from_event) = parse_xa_prepare(&body).unwrap();
        assert!(!one);
        assert_eq!(from_event, xid_of("X'6131',X'',1"));
        assert!(parse_xa_prepare(&body[..body.len() - 1]).is_err());
    }

    fn xid_of(s: &str) -> Xid {
        parse_xa_statement(s).unwrap().0
    }
}
