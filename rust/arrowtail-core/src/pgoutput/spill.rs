//! Held transactions moved out of the decoder: a streamed (protocol 2) or prepared (protocol 3)
//! transaction keeps its rows until Stream Commit / Commit Prepared, however many; a source with a
//! memory budget takes them out with [`Decoder::take_held_rows`] and keeps them elsewhere (on disk).
//! The decoder then tells it what becomes of them:
//!
//! - a subtransaction's Stream Abort, a top-level Stream Abort, Rollback Prepared and
//!   [`Decoder::reset_in_flight`] become [`SpillEvent`]s ([`Decoder::take_spill_events`]): the
//!   rows of that subtransaction, or all of the transaction's, are void;
//! - its commit becomes a barrier in the output: [`Decoder::flush`] hands out the rows committed
//!   before it, [`Decoder::take_spilled_commit`] then gives its commit LSN and time, with which the
//!   taken rows are stamped and handed on, and the next flush continues with the rest of the
//!   transaction (rows decoded since the last take, stamped already) and what committed after it.
//!
//! `committed_lsn` and `confirmable_lsn` stop before a barrier, so nothing is acknowledged past a
//! commit whose taken rows were not handed on yet (nor past the prepare of a prepared one, which
//! the server would not send again).

use super::decoder::{arrow_err, Decoder};
use crate::arrow::{ChangeBatch, SchemaVersions};
use crate::Result;

/// Rows of a held transaction taken out of the decoder, unstamped (`_pos` and `_commit_ts` 0;
/// `_xid` and `_seq` final), all written by one subtransaction.
#[derive(Debug, Clone)]
pub struct HeldBatch {
    /// The top-level transaction.
    pub xid: u32,
    /// The (sub)transaction that wrote the rows (`xid` itself for the top level).
    pub subxid: u32,
    pub rows: ChangeBatch,
}

/// What became of rows taken out of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpillEvent {
    /// Subtransaction `subxid` of `xid` aborted: its rows are void, the others stay.
    SubAbort { xid: u32, subxid: u32 },
    /// Transaction `xid` aborted, was rolled back, or will be sent again (a lost connection):
    /// all its rows taken out are void.
    Discard { xid: u32 },
}

/// The commit of a transaction whose rows were taken out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpilledCommit {
    pub xid: u32,
    /// `_pos` of its rows: the commit LSN.
    pub pos: u64,
    /// `_commit_ts` of its rows, Unix µs.
    pub commit_ts_us: i64,
    /// `_last_commit_lsn` of its rows when the batches carry it: the end LSN of the transaction
    /// committed before it (0: none known).
    pub last_commit_lsn: u64,
}

/// A spilled transaction's commit, at its place among the batches waiting in the decoder.
#[derive(Debug, Clone, Copy)]
pub(super) struct Barrier {
    /// How many batches of `ready` come before it.
    at: usize,
    commit: SpilledCommit,
    /// The commit (LSN, end LSN) applied before it: what a flush up to it may confirm.
    applied_before: (u64, u64),
    /// Its prepare LSN (two-phase): nothing past it is confirmed until its rows went on, as
    /// while it was held.
    pub(super) prepared_at: Option<u64>,
}

impl Decoder {
    /// Bytes of messages of held (streamed or prepared) transactions decoded since their rows were
    /// last taken out: what a source weighs against its memory budget.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Takes every row of every held transaction out of the decoder, unstamped, per table and
    /// schema version in change order, cut where the subtransaction changes. The decoder goes on
    /// holding the transactions (later rows, their outcome) and reports what becomes of the rows
    /// taken out through [`Self::take_spill_events`] and [`Self::take_spilled_commit`].
    pub fn take_held_rows(&mut self) -> Result<Vec<HeldBatch>> {
        let mut xids: Vec<u32> = self.held.keys().copied().collect();
        xids.sort_unstable();
        let mut taken = Vec::new();
        for xid in xids {
            let Some(h) = self.held.get_mut(&xid) else {
                continue;
            };
            for buf in h.buffers.values_mut() {
                if buf.total() == 0 {
                    continue;
                }
                let name = buf.rel.table.table.clone();
                let pieces = buf.take_tagged().map_err(|e| arrow_err(name, 0, e))?;
                for (subxid, batch) in pieces {
                    taken.push((xid, subxid, buf.batch(batch)));
                }
                self.spilled.insert(xid);
            }
        }
        self.held_bytes = 0;
        let (keys, batches): (Vec<(u32, u32)>, Vec<ChangeBatch>) = taken
            .into_iter()
            .map(|(xid, subxid, rows)| ((xid, subxid), rows))
            .unzip();
        let batches = SchemaVersions::stamp_all(self.schema_versions.as_ref(), batches);
        Ok(keys
            .into_iter()
            .zip(batches)
            .map(|((xid, subxid), rows)| HeldBatch { xid, subxid, rows })
            .collect())
    }

    /// Aborts and discards that void rows taken out, oldest first, each once.
    pub fn take_spill_events(&mut self) -> Vec<SpillEvent> {
        std::mem::take(&mut self.spill_events)
    }

    /// The commit of a transaction whose rows were taken out, once the flushes before it handed
    /// out every row committed before it (None otherwise). Its taken rows go on next, stamped
    /// with it; the following [`Self::flush`] continues after them.
    pub fn take_spilled_commit(&mut self) -> Option<SpilledCommit> {
        match self.barriers.front() {
            Some(b) if b.at == 0 => self.barriers.pop_front().map(|b| b.commit),
            _ => None,
        }
    }

    /// Commit of a held transaction some of whose rows were taken out: the committed rows decoded
    /// before it go ahead of a barrier, the rows it still holds (stamped) right after it.
    pub(super) fn release_spilled(
        &mut self,
        xid: u32,
        commit_lsn: u64,
        ts_us: i64,
        lsn: u64,
    ) -> Result<()> {
        for main in self.main.values_mut() {
            let name = main.rel.table.table.clone();
            let done = main.take_committed().map_err(|e| arrow_err(name, lsn, e))?;
            let done: Vec<_> = done.into_iter().map(|b| main.batch(b)).collect();
            self.ready.extend(done);
        }
        let prepared_at = self.held.get(&xid).and_then(|h| h.prepared_at);
        let last_commit = self.last_commit_end();
        self.barriers.push_back(Barrier {
            prepared_at,
            at: self.ready.len(),
            commit: SpilledCommit {
                xid,
                pos: commit_lsn,
                commit_ts_us: ts_us,
                last_commit_lsn: last_commit,
            },
            applied_before: self.applied,
        });
        if let Some(mut held) = self.held.remove(&xid) {
            for buf in held.buffers.values_mut() {
                let name = buf.rel.table.table.clone();
                buf.stamp_last_commit(last_commit)
                    .map_err(|e| arrow_err(name.clone(), lsn, e))?;
                let stamped = buf
                    .take_stamped(commit_lsn, ts_us)
                    .map_err(|e| arrow_err(name, lsn, e))?;
                self.ready.extend(stamped);
            }
        }
        if self.held.is_empty() {
            self.held_bytes = 0;
        }
        Ok(())
    }

    /// With a barrier waiting: the batches before it (and the confirmable position moved up to
    /// it), else None.
    pub(super) fn flush_to_barrier(&mut self) -> Option<Vec<ChangeBatch>> {
        let first = self.barriers.front()?;
        let (at, applied) = (first.at, first.applied_before);
        let out: Vec<ChangeBatch> = self.ready.drain(..at).collect();
        for b in self.barriers.iter_mut() {
            b.at -= at;
        }
        self.flushed = (self.flushed.0.max(applied.0), self.flushed.1.max(applied.1));
        Some(out)
    }
}
