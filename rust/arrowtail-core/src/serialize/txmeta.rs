//! Debezium's transaction metadata (its `provide.transaction.metadata`): the `transaction` block
//! of each streamed event and the counts the `BEGIN` and `END` events of the transaction topic
//! carry.
//!
//! The block is `{"id":..,"total_order":..,"data_collection_order":..}`, as Debezium 3.5's
//! connectors write it. The id: PostgreSQL `<xid>:<lsn>`, the transaction id and the WAL position
//! of the event itself (the change's `_lsn`; its `_pos` when the batch has no `_lsn`); MySQL and
//! MariaDB the transaction's GTID (`_gtid`), or without one `file=<binlog file>,pos=<offset>` of
//! its commit event (Debezium names the transaction's first event there). `total_order` the
//! change's place in its transaction (`_seq` + 1) and `data_collection_order` the event's place
//! among the transaction's events of the same table, counted over the batches of that table by
//! the carry ([`TxCarry`]) the caller keeps. Snapshot reads and logical messages carry no block
//! and are not counted; a key-changing update is two events (the delete and the create), both
//! counted, both with the update's `total_order`.

use std::io::Write;

use super::json;

/// What the caller carries from one batch of a table to the next: the commit position of the
/// table's last transaction so far and how many of its events were written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxCarry {
    pub pos: u64,
    pub events: u64,
}

/// One transaction's events in a batch, in order: its commit position (`_pos`), transaction id
/// (`_xid`), commit time (`_commit_ts`, microseconds), the count of events written (those of
/// the carry included when the batch continues the carried transaction), and of the first of them
/// in the batch its WAL position and the end LSN of the transaction committed before
/// (`_last_commit_lsn`; 0 when unknown), which the caller takes as the previous transaction's
/// end; for MySQL/MariaDB the transaction's id (the caller makes PostgreSQL's from the LSNs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRun {
    pub pos: u64,
    pub xid: u64,
    pub commit_ts_us: i64,
    pub events: u64,
    pub first_lsn: u64,
    pub last_commit: u64,
    pub id: Option<String>,
}

/// The facts of a row that name and place its events in their transaction.
pub(super) struct RowTx<'a> {
    pub pos: u64,
    pub xid: u64,
    pub commit_ts_us: i64,
    pub seq: u32,
    /// The change's own `(lsn, last commit lsn)` (PostgreSQL; `(pos, 0)` without them).
    pub lsn: (u64, u64),
    /// MySQL/MariaDB: the binlog base name and the transaction's GTID.
    pub binlog: Option<(&'a str, Option<&'a str>)>,
}

/// The blocks of a batch's events: the counter and the id of the event being written.
#[derive(Debug)]
pub(super) struct TxBlocks {
    counter: TxCounter,
    id: Vec<u8>,
}

impl TxBlocks {
    /// The blocks of a batch when the options ask for them (`carry`).
    pub(super) fn new(carry: Option<TxCarry>) -> Option<Self> {
        carry.map(|c| Self {
            counter: TxCounter::new(c),
            id: Vec::new(),
        })
    }

    /// Counts the next event of a row whose `_op` is `op`, when it is one Debezium counts (not
    /// a snapshot read or a message), and gives its `(id, total_order, data_collection_order)`.
    /// A message (`m`) gets no block and no count, but its transaction is reported (with no
    /// events), so the caller knows every transaction whose commit came between two others.
    pub(super) fn next(&mut self, op: &str, row: &RowTx<'_>) -> Option<(&[u8], u64, u64)> {
        let counted = matches!(op, "c" | "u" | "d" | "t");
        if !counted && op != "m" {
            return None;
        }
        self.id.clear();
        write_event_id(&mut self.id, row.binlog, row.xid, row.lsn.0, row.pos);
        let whole = row.binlog.is_some().then_some(self.id.as_slice());
        let order = self
            .counter
            .event(row.pos, row.xid, row.commit_ts_us, row.lsn, whole, counted);
        counted.then_some((self.id.as_slice(), u64::from(row.seq) + 1, order))
    }

    pub(super) fn finish(self) -> Vec<TxRun> {
        self.counter.finish()
    }
}

/// Counts the events of a batch per transaction.
#[derive(Debug)]
pub(super) struct TxCounter {
    carry: TxCarry,
    runs: Vec<TxRun>,
}

impl TxCounter {
    pub(super) fn new(carry: TxCarry) -> Self {
        Self {
            carry,
            runs: Vec::new(),
        }
    }

    /// Counts one event (at `lsn`, after the commit ending at `last_commit`) of the transaction
    /// committed at `pos`, whose id is `id` when it is the same for all its events (MySQL);
    /// returns its `data_collection_order`. With `counted` false only the transaction is
    /// noted (a message's).
    pub(super) fn event(
        &mut self,
        pos: u64,
        xid: u64,
        commit_ts_us: i64,
        (lsn, last_commit): (u64, u64),
        id: Option<&[u8]>,
        counted: bool,
    ) -> u64 {
        let add = u64::from(counted);
        match self.runs.last_mut() {
            Some(run) if run.pos == pos => run.events += add,
            _ => {
                let before = if self.runs.is_empty() && self.carry.pos == pos {
                    self.carry.events
                } else {
                    0
                };
                self.runs.push(TxRun {
                    pos,
                    xid,
                    commit_ts_us,
                    events: before + add,
                    first_lsn: lsn,
                    last_commit,
                    id: id.map(|b| String::from_utf8_lossy(b).into_owned()),
                });
            }
        }
        self.runs.last().map_or(0, |r| r.events)
    }

    pub(super) fn finish(self) -> Vec<TxRun> {
        self.runs
    }
}

/// The transaction id of an event: PostgreSQL's `<xid>:<lsn>`, or for MySQL/MariaDB (`binlog`:
/// the binlog base name and the transaction's GTID) the GTID, else
/// `file=<binlog file>,pos=<offset>` of the commit event at `pos`.
pub(super) fn write_event_id(
    out: &mut Vec<u8>,
    binlog: Option<(&str, Option<&str>)>,
    xid: u64,
    lsn: u64,
    pos: u64,
) {
    match binlog {
        None => write_id(out, xid, lsn),
        Some((_, Some(gtid))) => out.extend_from_slice(gtid.as_bytes()),
        Some((basename, None)) => {
            // Writing into a Vec cannot fail.
            let _ = write!(
                out,
                "file={basename}.{:06},pos={}",
                pos >> 32,
                pos & 0xffff_ffff
            );
        }
    }
}

/// One event's block as JSON: `{"id":..,"total_order":..,"data_collection_order":..}`.
pub(super) fn write_block_json(out: &mut Vec<u8>, id: &[u8], total: u64, order: u64) {
    out.extend_from_slice(b"{\"id\":");
    json::write_str(out, &String::from_utf8_lossy(id));
    out.extend_from_slice(b",\"total_order\":");
    json::write_i64(out, total as i64);
    out.extend_from_slice(b",\"data_collection_order\":");
    json::write_i64(out, order as i64);
    out.push(b'}');
}

/// Debezium's PostgreSQL transaction id of an event at `lsn`: `<xid>:<lsn>`, both decimal.
pub fn write_id(out: &mut Vec<u8>, xid: u64, lsn: u64) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{xid}:{lsn}");
}

#[cfg(test)]
#[path = "txmeta_tests.rs"]
mod batch_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_per_transaction_from_the_carry() {
        let mut c = TxCounter::new(TxCarry { pos: 10, events: 2 });
        assert_eq!(c.event(10, 5, 100, (105, 1), None, true), 3);
        assert_eq!(c.event(10, 5, 100, (105, 1), None, true), 4);
        assert_eq!(c.event(20, 6, 200, (206, 1), None, true), 1);
        assert_eq!(c.event(20, 6, 200, (206, 1), None, true), 2);
        assert_eq!(c.event(30, 7, 300, (307, 1), None, true), 1);
        let runs = c.finish();
        assert_eq!(
            runs,
            vec![
                TxRun {
                    pos: 10,
                    xid: 5,
                    commit_ts_us: 100,
                    events: 4,
                    first_lsn: 105,
                    last_commit: 1,
                    id: None,
                },
                TxRun {
                    pos: 20,
                    xid: 6,
                    commit_ts_us: 200,
                    events: 2,
                    first_lsn: 206,
                    last_commit: 1,
                    id: None,
                },
                TxRun {
                    pos: 30,
                    xid: 7,
                    commit_ts_us: 300,
                    events: 1,
                    first_lsn: 307,
                    last_commit: 1,
                    id: None,
                },
            ]
        );
    }

    #[test]
    fn a_carry_of_another_transaction_starts_at_one() {
        let mut c = TxCounter::new(TxCarry { pos: 10, events: 2 });
        assert_eq!(c.event(11, 5, 100, (115, 1), None, true), 1);
        // Only the batch's first transaction can continue the carried one.
        let mut c = TxCounter::new(TxCarry { pos: 10, events: 2 });
        assert_eq!(c.event(9, 4, 90, (94, 1), None, true), 1);
        assert_eq!(c.event(10, 5, 100, (105, 1), None, true), 1);
    }

    #[test]
    fn the_block_is_debeziums() {
        let mut id = Vec::new();
        write_event_id(&mut id, None, 730, 26382128, 0);
        let mut out = Vec::new();
        write_block_json(&mut out, &id, 3, 2);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":"730:26382128","total_order":3,"data_collection_order":2}"#
        );
        let mut out = Vec::new();
        write_id(&mut out, 0, u64::MAX);
        assert_eq!(String::from_utf8(out).unwrap(), "0:18446744073709551615");
        let mut out = Vec::new();
        write_event_id(&mut out, Some(("mysql-bin", Some("0-1-18"))), 18, 0, 0);
        assert_eq!(String::from_utf8(out).unwrap(), "0-1-18");
        let mut out = Vec::new();
        write_event_id(&mut out, Some(("mysql-bin", None)), 0, 0, (3 << 32) | 4562);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "file=mysql-bin.000003,pos=4562"
        );
    }
}
