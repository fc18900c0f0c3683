//! The pgoutput decoder: a push state machine that takes replication frames or bare messages and
//! appends every change to the change builder of its relation and schema version.
//!
//! Positions (docs/design.md): `_pos`: the commit LSN (Begin's final LSN for ordinary transactions;
//! learned at Stream Commit / Commit Prepared for held ones), `_seq` the ordinal of the change in
//! its transaction, `_commit_ts` the commit time in Unix µs.
//!
//! Transactions are emitted only once committed. An ordinary transaction writes into the output
//! builders directly and [`Decoder::flush`] returns only rows of committed transactions. Streamed
//! transactions (protocol 2) and prepared transactions (protocol 3) are *held* apart, in their own
//! builders, until Stream Commit / Commit Prepared (then released in commit order) or Stream Abort /
//! Rollback Prepared (then dropped); a subtransaction abort drops exactly that subtransaction's
//! rows at once.
//!
//! Memory bound: the output builders hold what was decoded since the last flush; held transactions
//! hold their rows (in Arrow form) until they end, or until a source takes them out
//! ([`Decoder::held_bytes`] says how much came since the last time; see `spill.rs`).
//!
//! An ordinary transaction is sent only once committed, and Begin already carries everything its
//! rows are stamped with, so once the messages of the open transaction since the last flush pass
//! the memory budget ([`Decoder::set_memory_budget`]), [`Decoder::flush`] hands its rows on before
//! its Commit arrives. [`Decoder::committed_lsn`] still moves only at the commit, so nothing is
//! acknowledged early. When the stream restarts in the middle of such a transaction (a new Begin
//! while it is open, or [`Decoder::reset_in_flight`]), the server sends it again from its start:
//! the changes of it handed on already (`_seq` below what was handed) are skipped.
//!
//! Held transactions are bounded by their caller instead: [`Decoder::take_held_rows`] (in
//! `spill.rs`) moves their rows out, and the decoder then reports what becomes of them.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::framing::{parse_frame, pg_time_to_unix_us, Frame};
use super::message::{parse, parse_for_decode, Message};
use super::row_buffer::{RelVersion, RowBuffer};
use super::rows::{self, Dest};
use crate::arrow::{ChangeBatch, SchemaVersions, SharedSchemaVersions};
use crate::types::postgres::oid;
use crate::{Error, Location, Result};

/// Row buffer key: relation id and schema version. The `_messages` pseudo-table uses relation id 0,
/// which no real relation has (InvalidOid).
pub(super) type Key = (u32, u32);
pub(super) const MESSAGES_KEY: Key = (0, 1);

/// The open ordinary (or being-prepared) transaction.
#[derive(Debug, Clone, Copy)]
pub(super) struct Txn {
    pub xid: u32,
    pub final_lsn: u64,
    pub commit_ts_us: i64,
    pub seq: u32,
    /// Begin Prepare: rows are held until Commit Prepared.
    pub prepare: bool,
    /// Changes with a `_seq` below this were handed on before the stream restarted.
    pub skip_below: u32,
}

/// A streamed or prepared transaction whose rows wait for their outcome.
#[derive(Debug, Default)]
pub(super) struct Held {
    pub buffers: BTreeMap<Key, RowBuffer>,
    pub seq: u32,
    /// Prepare LSN once prepared (two-phase); the source must not acknowledge past it.
    pub prepared_at: Option<u64>,
    /// Names this transaction announced under another relation id, with the id each had
    /// before and the one it announced: reported at its commit, undone at its abort.
    pub replaced: Vec<(String, u32, u32)>,
}

/// Counters of notable events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// NaN/±Infinity values stored as null in decimal columns.
    pub special_numerics: u64,
    /// Rows dropped because their (sub)transaction aborted.
    pub aborted_rows: u64,
    /// Messages decoded.
    pub messages: u64,
}

/// Decodes pgoutput into change batches. See the module documentation.
#[derive(Debug)]
pub struct Decoder {
    pub(super) relations: super::relation::Relations,
    /// Latest version per qualified table name.
    pub(super) versions: HashMap<String, Arc<RelVersion>>,
    /// The relation id each qualified name was last announced with, or given by
    /// [`Decoder::expect_relation`]: another id under a known name is another table.
    pub(super) relids: HashMap<String, u32>,
    /// Names whose relation was replaced, not yet reported ([`Decoder::take_replaced`]).
    pub(super) replaced: Vec<String>,
    pub(super) aliases: HashMap<u32, u32>,
    pub(super) main: BTreeMap<Key, RowBuffer>,
    pub(super) held: HashMap<u32, Held>,
    pub(super) txn: Option<Txn>,
    pub(super) in_stream: Option<u32>,
    pub(super) ready: Vec<ChangeBatch>,
    messages_rel: Arc<RelVersion>,
    pub(super) stats: Stats,
    pub(super) scratch: super::rows::Scratch,
    /// Highest commit (LSN, end LSN) applied, and the one handed out by the last flush.
    pub(super) applied: (u64, u64),
    pub(super) flushed: (u64, u64),
    pub(super) last_clock_us: i64,
    last_wal_end: u64,
    reply_requested: bool,
    /// Byte limit of the change builders (see [`Decoder::set_byte_limit`]).
    pub(super) byte_limit: usize,
    /// The run-wide numbering of schema versions, when shared.
    pub(super) schema_versions: Option<SharedSchemaVersions>,
    /// Batches carry `_lsn` and `_last_commit_lsn` (see [`Decoder::set_row_lsn`]).
    pub(super) row_lsn: bool,
    /// `_last_commit_lsn` until this decoder sees a commit (see
    /// [`Decoder::set_last_commit_lsn`]).
    last_commit_seed: u64,
    /// Bytes of messages of the open ordinary transaction past which flush hands its rows on.
    memory_budget: usize,
    /// Bytes of messages of the open ordinary transaction whose rows are still in the builders.
    open_bytes: usize,
    /// (commit LSN, next `_seq`) of the open transaction whose rows flush handed on early.
    handed: Option<(u64, u32)>,
    /// The same for a transaction cut off by a restart, until the server sends it again.
    resend: Option<(u64, u32)>,
    /// Bytes of messages of held transactions since their rows were last taken out.
    pub(super) held_bytes: usize,
    /// Held transactions some of whose rows were taken out ([`Decoder::take_held_rows`]).
    pub(super) spilled: HashSet<u32>,
    /// What became of rows taken out, not yet reported ([`Decoder::take_spill_events`]).
    pub(super) spill_events: Vec<super::spill::SpillEvent>,
    /// Commits of transactions with rows taken out, each at its place in `ready`.
    pub(super) barriers: VecDeque<super::spill::Barrier>,
}

/// Default memory budget: bytes of one open transaction's messages held before its rows are handed
/// on ahead of its commit.
pub const DEFAULT_MEMORY_BUDGET: usize = 256 << 20;

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

pub(super) fn at(lsn: u64) -> Location {
    Location::Lsn { lsn, offset: None }
}

impl Decoder {
    /// A decoder that knows no relations yet.
    pub fn new() -> Self {
        Self {
            relations: Default::default(),
            versions: HashMap::new(),
            relids: HashMap::new(),
            replaced: Vec::new(),
            aliases: HashMap::new(),
            main: BTreeMap::new(),
            held: HashMap::new(),
            txn: None,
            in_stream: None,
            ready: Vec::new(),
            messages_rel: super::relation::messages_rel(),
            stats: Stats::default(),
            scratch: Default::default(),
            applied: (0, 0),
            flushed: (0, 0),
            last_clock_us: 0,
            last_wal_end: 0,
            reply_requested: false,
            byte_limit: crate::arrow::change::BYTE_LIMIT,
            schema_versions: None,
            row_lsn: false,
            last_commit_seed: 0,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            open_bytes: 0,
            handed: None,
            resend: None,
            held_bytes: 0,
            spilled: HashSet::new(),
            spill_events: Vec::new(),
            barriers: VecDeque::new(),
        }
    }

    /// Hands the rows of an open ordinary transaction on at the next flush once its messages since
    /// the last flush reach `bytes` (see the module documentation); 0 is taken as 1.
    pub fn set_memory_budget(&mut self, bytes: usize) {
        self.memory_budget = bytes.max(1);
    }

    /// The memory budget in force.
    pub fn memory_budget(&self) -> usize {
        self.memory_budget
    }

    /// Numbers the schema versions of this decoder's batches with `versions`, shared with the
    /// other decoders of the source (see [`SchemaVersions`]); without it the decoder's own
    /// numbers stay.
    pub fn share_schema_versions(&mut self, versions: SharedSchemaVersions) {
        self.schema_versions = Some(versions);
    }

    /// Cuts a batch once one of its text, binary or list columns holds `limit` bytes (or
    /// elements); see [`crate::arrow::ChangeBuilder::set_byte_limit`]. Applies to tables first seen
    /// after the call, so call it before feeding. Small limits are for tests.
    pub fn set_byte_limit(&mut self, limit: usize) {
        self.byte_limit = limit;
    }

    /// Gives every change batch the optional columns `_lsn` (the WAL position of the change's own
    /// message) and `_last_commit_lsn` (the end position of the transaction committed before the
    /// change's, 0 before the first commit this decoder sees), for consumers that name each
    /// change's position as Debezium does. Applies to tables first seen after the call.
    pub fn set_row_lsn(&mut self, on: bool) {
        self.row_lsn = on;
    }

    /// Takes `relid` as the relation id `table` (`schema.name`) has until a Relation message says
    /// otherwise: a Relation message of `table` with another id then reports the table as
    /// replaced ([`Decoder::take_replaced`]). The caller reads the ids from the catalog.
    ///
    /// A replacement by `relid` still waiting for the commit of its transaction is then no
    /// news: the caller read the catalog after that commit.
    pub fn expect_relation(&mut self, table: &str, relid: u32) {
        for held in self.held.values_mut() {
            held.replaced
                .retain(|(name, _, after)| name != table || *after != relid);
        }
        self.relids.insert(table.to_owned(), relid);
    }

    /// The tables (`schema.name`) a Relation message announced under another relation id than
    /// the one the name had, since the last call, each once: the table was dropped and created
    /// again, or another renamed to its name. Rows of the new table that no change carries (a
    /// table added to the publication with them) need reading.
    /// A replacement announced in a transaction streamed in progress or prepared counts from
    /// that transaction's commit, and not at all if it aborts: before the commit a reader sees
    /// neither the new table nor its rows.
    pub fn take_replaced(&mut self) -> Vec<String> {
        std::mem::take(&mut self.replaced)
    }

    /// Decodes columns of type `oid` as the built-in type `builtin` from now on: types the
    /// stream names only by an OID of the database, such as an array of an enum (whose
    /// elements are their labels in either wire form, like `text[]`'s). The caller reads them
    /// from the catalog; a Relation message seen before keeps its columns until it is sent
    /// again.
    pub fn alias_type(&mut self, oid: u32, builtin: u32) {
        self.aliases.insert(oid, builtin);
    }

    /// The end LSN of the transaction committed before the stream this decoder reads (a resumed
    /// run's checkpoint), for `_last_commit_lsn` until the decoder sees a commit of its own.
    pub fn set_last_commit_lsn(&mut self, end_lsn: u64) {
        self.last_commit_seed = end_lsn;
    }

    /// End LSN of the last transaction committed (0: none known).
    pub(super) fn last_commit_end(&self) -> u64 {
        if self.applied.1 > 0 {
            self.applied.1
        } else {
            self.last_commit_seed
        }
    }

    /// Feeds one CopyData payload of the replication stream (`w` XLogData or `k` keepalive).
    pub fn feed_frame(&mut self, data: &[u8]) -> Result<()> {
        match parse_frame(data)? {
            Frame::XLogData {
                start_lsn,
                wal_end,
                clock,
                payload,
            } => {
                self.last_wal_end = self.last_wal_end.max(wal_end);
                self.last_clock_us = pg_time_to_unix_us(clock);
                self.feed_message(payload, start_lsn)
            }
            Frame::Keepalive {
                wal_end,
                clock,
                reply_requested,
            } => {
                self.last_wal_end = self.last_wal_end.max(wal_end);
                self.last_clock_us = pg_time_to_unix_us(clock);
                self.reply_requested |= reply_requested;
                Ok(())
            }
        }
    }

    /// Feeds one bare pgoutput message that was sent at `lsn` (a capture record).
    pub fn feed_message(&mut self, data: &[u8], lsn: u64) -> Result<()> {
        let in_stream = self.in_stream.is_some();
        let msg = parse_for_decode(data, in_stream, lsn)?;
        self.stats.messages += 1;
        if let Err(e) = self.apply(msg, lsn) {
            // A new tuple is checked only as its values are decoded: when a change fails, a
            // malformed message is what to report, as the full parse words it.
            return Err(parse(data, in_stream, lsn).err().unwrap_or(e));
        }
        if self.in_stream.is_none() && matches!(self.txn, Some(t) if !t.prepare) {
            self.open_bytes = self.open_bytes.saturating_add(data.len());
        } else if self.in_stream.is_some() || matches!(self.txn, Some(t) if t.prepare) {
            self.held_bytes = self.held_bytes.saturating_add(data.len());
        }
        Ok(())
    }

    /// Feeds a whole capture file (or a prefix of whole records).
    pub fn feed_capture(&mut self, data: &[u8]) -> Result<()> {
        for rec in super::framing::CaptureReader::new(data) {
            let (lsn, msg) = rec?;
            self.feed_message(msg, lsn)?;
        }
        Ok(())
    }

    fn apply(&mut self, msg: Message<'_>, lsn: u64) -> Result<()> {
        match msg {
            Message::Begin {
                final_lsn,
                commit_ts,
                xid,
            } => self.begin(xid, final_lsn, commit_ts, false, lsn)?,
            Message::Commit {
                commit_lsn,
                end_lsn,
                ..
            } => {
                if self.txn.take().is_none() {
                    return Err(Error::decode(
                        "Commit message",
                        at(lsn),
                        "no transaction is open",
                    ));
                }
                for buf in self.main.values_mut() {
                    buf.committed = buf.total();
                }
                self.handed = None;
                self.open_bytes = 0;
                self.applied_commit(commit_lsn, end_lsn);
            }
            Message::Origin { .. } => {}
            Message::Relation {
                relid,
                namespace,
                name,
                replica_identity,
                columns,
                ..
            } => self.relation(relid, namespace, name, replica_identity, &columns, lsn)?,
            Message::Type {
                oid: type_oid,
                namespace,
                name,
                ..
            } => {
                // Domains arrive with their own OID and the name of their base type; pgoutput
                // writes the pg_catalog namespace as an empty string.
                if namespace.is_empty() || namespace == "pg_catalog" {
                    if let Some(base) = oid::by_name(name) {
                        self.aliases.insert(type_oid, base);
                    }
                }
            }
            Message::Insert { xid, relid, new } => {
                rows::change(self, xid, relid, rows::Change::Insert(new), lsn)?
            }
            Message::Update {
                xid,
                relid,
                old,
                new,
            } => rows::change(self, xid, relid, rows::Change::Update(old, new), lsn)?,
            Message::Delete { xid, relid, old } => {
                rows::change(self, xid, relid, rows::Change::Delete(old), lsn)?
            }
            Message::Truncate { xid, relids, .. } => {
                for relid in relids {
                    rows::change(self, xid, relid, rows::Change::Truncate, lsn)?;
                }
            }
            Message::Message {
                xid,
                transactional,
                lsn: msg_lsn,
                prefix,
                content,
            } => rows::logical_message(self, xid, transactional, msg_lsn, prefix, content, lsn)?,
            Message::StreamStart { xid, .. } => {
                self.in_stream = Some(xid);
                self.held.entry(xid).or_default();
            }
            Message::StreamStop => self.in_stream = None,
            Message::StreamCommit {
                xid,
                commit_lsn,
                end_lsn,
                commit_ts,
                ..
            } => {
                self.in_stream = None;
                self.release(xid, commit_lsn, pg_time_to_unix_us(commit_ts), lsn)?;
                self.applied_commit(commit_lsn, end_lsn);
            }
            Message::StreamAbort { xid, subxid, .. } => self.abort(xid, subxid, lsn)?,
            Message::BeginPrepare {
                prepare_lsn,
                prepare_ts,
                xid,
                ..
            } => self.begin(xid, prepare_lsn, prepare_ts, true, lsn)?,
            Message::Prepare {
                xid, prepare_lsn, ..
            }
            | Message::StreamPrepare {
                xid, prepare_lsn, ..
            } => {
                if matches!(self.txn, Some(t) if t.xid == xid) {
                    self.txn = None;
                }
                self.in_stream = None;
                self.held.entry(xid).or_default().prepared_at = Some(prepare_lsn);
            }
            Message::CommitPrepared {
                xid,
                commit_lsn,
                end_lsn,
                commit_ts,
                ..
            } => {
                self.release(xid, commit_lsn, pg_time_to_unix_us(commit_ts), lsn)?;
                self.applied_commit(commit_lsn, end_lsn);
            }
            Message::RollbackPrepared { xid, .. } => self.abort(xid, xid, lsn)?,
        }
        Ok(())
    }

    fn begin(&mut self, xid: u32, final_lsn: u64, ts: i64, prepare: bool, lsn: u64) -> Result<()> {
        if self.txn.is_some() {
            // A Begin while a transaction is open means the stream restarted mid-transaction
            // (the server sends it again from its start): forget the partial one.
            self.discard_open_transaction(lsn)?;
        }
        let mut skip_below = 0;
        if let Some((pos, seq)) = self.resend {
            // Transactions before the one cut off may come again first (a restart before a
            // prepared transaction); the first one at or past it ends the wait.
            if final_lsn >= pos {
                self.resend = None;
                if final_lsn == pos && !prepare {
                    skip_below = seq;
                }
            }
        }
        self.open_bytes = 0;
        self.txn = Some(Txn {
            xid,
            final_lsn,
            commit_ts_us: pg_time_to_unix_us(ts),
            seq: 0,
            prepare,
            skip_below,
        });
        if prepare {
            self.held.entry(xid).or_default();
        }
        Ok(())
    }

    fn applied_commit(&mut self, commit_lsn: u64, end_lsn: u64) {
        self.applied.0 = self.applied.0.max(commit_lsn);
        self.applied.1 = self.applied.1.max(end_lsn);
    }

    /// Releases a held transaction: stamps its rows with the commit and queues them after the
    /// committed rows already decoded for the same relations, so batches stay in commit order.
    fn release(&mut self, xid: u32, commit_lsn: u64, ts_us: i64, lsn: u64) -> Result<()> {
        if let Some(held) = self.held.get_mut(&xid) {
            for (name, _, _) in std::mem::take(&mut held.replaced) {
                if !self.replaced.contains(&name) {
                    self.replaced.push(name);
                }
            }
        }
        if self.spilled.remove(&xid) {
            return self.release_spilled(xid, commit_lsn, ts_us, lsn);
        }
        let Some(mut held) = self.held.remove(&xid) else {
            return Ok(());
        };
        if self.held.is_empty() {
            self.held_bytes = 0;
        }
        for (key, buf) in held.buffers.iter_mut() {
            if let Some(main) = self.main.get_mut(key) {
                let name = main.rel.table.table.clone();
                let done = main.take_committed().map_err(|e| arrow_err(name, lsn, e))?;
                let done: Vec<_> = done.into_iter().map(|b| main.batch(b)).collect();
                self.ready.extend(done);
            }
            let name = buf.rel.table.table.clone();
            buf.stamp_last_commit(self.last_commit_end())
                .map_err(|e| arrow_err(name.clone(), lsn, e))?;
            let stamped = buf
                .take_stamped(commit_lsn, ts_us)
                .map_err(|e| arrow_err(name, lsn, e))?;
            self.ready.extend(stamped);
        }
        Ok(())
    }

    /// Stream Abort (of a subtransaction when `subxid != xid`) or Rollback Prepared.
    fn abort(&mut self, xid: u32, subxid: u32, lsn: u64) -> Result<()> {
        if subxid == xid {
            if let Some(h) = self.held.remove(&xid) {
                self.stats.aborted_rows +=
                    h.buffers.values().map(|s| s.total() as u64).sum::<u64>();
                self.undo_replaced(&h);
            }
            if self.spilled.remove(&xid) {
                self.spill_events
                    .push(super::spill::SpillEvent::Discard { xid });
            }
            if self.held.is_empty() {
                self.held_bytes = 0;
            }
            if self.in_stream == Some(xid) {
                self.in_stream = None;
            }
            return Ok(());
        }
        if self.spilled.contains(&xid) {
            self.spill_events
                .push(super::spill::SpillEvent::SubAbort { xid, subxid });
        }
        if let Some(h) = self.held.get_mut(&xid) {
            let aborted = HashSet::from([subxid]);
            for buf in h.buffers.values_mut() {
                let before = buf.total();
                let name = buf.rel.table.table.clone();
                buf.drop_subxacts(&aborted)
                    .map_err(|e| arrow_err(name, lsn, e))?;
                self.stats.aborted_rows += (before - buf.total()) as u64;
            }
        }
        Ok(())
    }

    fn discard_open_transaction(&mut self, lsn: u64) -> Result<()> {
        if let Some(handed) = self.handed.take() {
            self.resend = Some(handed);
        }
        self.open_bytes = 0;
        if let Some(t) = self.txn.take() {
            if t.prepare {
                if let Some(h) = self.held.remove(&t.xid) {
                    self.undo_replaced(&h);
                }
                if self.spilled.remove(&t.xid) {
                    self.spill_events
                        .push(super::spill::SpillEvent::Discard { xid: t.xid });
                }
            }
        }
        for buf in self.main.values_mut() {
            let name = buf.rel.table.table.clone();
            buf.discard_uncommitted()
                .map_err(|e| arrow_err(name, lsn, e))?;
        }
        Ok(())
    }

    /// Forgets everything in flight (open transaction, streamed and prepared transactions not yet
    /// committed): for a source that reconnects, since the server sends them again. Relations and
    /// committed rows not yet flushed are kept.
    pub fn reset_in_flight(&mut self) -> Result<()> {
        self.discard_open_transaction(0)?;
        let mut gone: Vec<u32> = self.spilled.drain().collect();
        gone.sort_unstable();
        self.spill_events.extend(
            gone.into_iter()
                .map(|xid| super::spill::SpillEvent::Discard { xid }),
        );
        for h in std::mem::take(&mut self.held).into_values() {
            self.undo_replaced(&h);
        }
        self.held_bytes = 0;
        self.in_stream = None;
        Ok(())
    }

    /// Gives back the relation ids the names had before `held` announced them under others: its
    /// replacements did not happen (an abort), or come again with it (a restart).
    fn undo_replaced(&mut self, held: &Held) {
        for (name, before, _) in held.replaced.iter().rev() {
            self.relids.insert(name.clone(), *before);
        }
    }

    pub(super) fn messages_rel(&self) -> Arc<RelVersion> {
        self.messages_rel.clone()
    }

    /// The transaction whose rows wait for its outcome that messages belong to now: one streamed
    /// in progress, or one being prepared.
    pub(super) fn open_held_xid(&self) -> Option<u32> {
        match (self.in_stream, &self.txn) {
            (Some(xid), _) => Some(xid),
            (None, Some(t)) if t.prepare => Some(t.xid),
            _ => None,
        }
    }

    /// Where rows of a change go now, with its `_xid`, `_pos`, `_commit_ts` and next `_seq`, and
    /// the subtransaction that wrote it (for held transactions).
    #[inline(always)]
    pub(super) fn dest(&mut self, msg_xid: Option<u32>, lsn: u64) -> Result<Dest> {
        if let Some(top) = self.in_stream {
            let h = self.held.entry(top).or_default();
            let seq = h.seq;
            h.seq += 1;
            return Ok(Dest::Held {
                top,
                sub: msg_xid.unwrap_or(top),
                seq,
            });
        }
        match &mut self.txn {
            Some(t) => {
                let seq = t.seq;
                t.seq += 1;
                if t.prepare {
                    let top = t.xid;
                    let h = self.held.entry(top).or_default();
                    h.seq = seq + 1;
                    Ok(Dest::Held { top, sub: top, seq })
                } else if seq < t.skip_below {
                    Ok(Dest::Skip)
                } else {
                    Ok(Dest::Main {
                        xid: t.xid,
                        pos: t.final_lsn,
                        ts: t.commit_ts_us,
                        seq,
                    })
                }
            }
            None => Err(outside_transaction(lsn)),
        }
    }

    /// Finishes the committed rows into batches: `(table, schema_version, batch)` in commit order
    /// per table. Rows of held transactions stay; so do those of the open one, unless its messages
    /// since the last flush reached the memory budget (then they go too, after the committed ones).
    /// When a transaction whose rows were taken out committed, only the rows committed before it
    /// come, and [`Decoder::take_spilled_commit`] then reports it (see `spill.rs`).
    pub fn flush(&mut self) -> Result<Vec<ChangeBatch>> {
        if let Some(out) = self.flush_to_barrier() {
            return Ok(SchemaVersions::stamp_all(
                self.schema_versions.as_ref(),
                out,
            ));
        }
        if let Some(t) = self.txn {
            if !t.prepare && self.open_bytes >= self.memory_budget {
                for buf in self.main.values_mut() {
                    buf.committed = buf.total();
                }
                self.handed = Some((t.final_lsn, t.seq.max(t.skip_below)));
                self.open_bytes = 0;
            }
        }
        let mut out = std::mem::take(&mut self.ready);
        for buf in self.main.values_mut() {
            let name = buf.rel.table.table.clone();
            let done = buf.take_committed().map_err(|e| arrow_err(name, 0, e))?;
            out.extend(done.into_iter().map(|b| buf.batch(b)));
        }
        // Drop row buffers of old schema versions once empty.
        let current: HashSet<(u32, u32)> = self
            .relations
            .values()
            .map(|r| (r.relid, r.table.schema_version))
            .collect();
        self.main
            .retain(|k, s| *k == MESSAGES_KEY || current.contains(k) || s.total() > 0);
        self.flushed = self.applied;
        Ok(SchemaVersions::stamp_all(
            self.schema_versions.as_ref(),
            out,
        ))
    }

    /// Highest commit LSN whose rows were all handed out by [`flush`](Self::flush) (0 before any).
    pub fn committed_lsn(&self) -> u64 {
        self.flushed.0
    }

    /// End LSN of the commit at [`committed_lsn`](Self::committed_lsn) (0 before any): the
    /// `_last_commit_lsn` of whatever commits next, which a resumed run gives back through
    /// [`set_last_commit_lsn`](Self::set_last_commit_lsn).
    pub fn committed_end_lsn(&self) -> u64 {
        self.flushed.1
    }

    /// The LSN a source may confirm as flushed once the batches of the last flush are durable:
    /// the end LSN of the last flushed transaction, but never past a prepared transaction still
    /// held (the server would not send it again).
    pub fn confirmable_lsn(&self) -> u64 {
        let held_min = self
            .held
            .values()
            .filter_map(|h| h.prepared_at)
            .chain(self.barriers.iter().filter_map(|b| b.prepared_at))
            .min();
        match held_min {
            Some(p) => self.flushed.1.min(p),
            None => self.flushed.1,
        }
    }

    /// Server WAL end from the last XLogData or keepalive.
    pub fn last_wal_end(&self) -> u64 {
        self.last_wal_end
    }

    /// Whether a keepalive asked for a reply since the last call (which clears it).
    pub fn take_reply_requested(&mut self) -> bool {
        std::mem::take(&mut self.reply_requested)
    }

    /// Whether a keepalive asked for a reply and it was not taken yet.
    pub fn reply_requested(&self) -> bool {
        self.reply_requested
    }

    /// True when no transaction is open or held, so every decoded row is committed.
    pub fn is_idle(&self) -> bool {
        self.txn.is_none()
            && self.held.is_empty()
            && self.in_stream.is_none()
            && self.barriers.is_empty()
    }

    /// Whether rows of the open transaction were handed on ahead of its commit.
    pub fn handed_early(&self) -> bool {
        self.handed.is_some()
    }

    /// Rows of streamed or prepared transactions waiting for their outcome.
    pub fn held_rows(&self) -> usize {
        self.held
            .values()
            .flat_map(|h| h.buffers.values())
            .map(|s| s.total())
            .sum()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }
}

/// A row change or message of a transaction that the stream has not begun.
#[cold]
#[inline(never)]
fn outside_transaction(lsn: u64) -> Error {
    Error::decode(
        "change",
        at(lsn),
        "row change outside a transaction (the stream must start at a transaction boundary)",
    )
}

pub(super) fn arrow_err(table: String, lsn: u64, source: arrow_schema::ArrowError) -> Error {
    Error::Arrow {
        table,
        at: at(lsn),
        source,
    }
}

#[cfg(test)]
#[path = "decoder_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "spill_tests.rs"]
mod spill_tests;
