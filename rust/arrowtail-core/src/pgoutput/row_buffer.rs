//! Row storage of the decoder: a [`RowBuffer`] is the change builder of one relation at one schema
//! version inside one destination (the main output, or one held transaction), plus rows already
//! cut into batches. It knows which of its rows are committed, and which subtransaction wrote each
//! row, so an aborted subtransaction's rows can be dropped exactly.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, TimestampMicrosecondArray, UInt64Array};
use arrow_schema::ArrowError;
use arrow_select::filter::filter_record_batch;

use crate::arrow::change::names;
use crate::arrow::{ChangeBatch, ChangeBuilder, ColumnBuilder, PlainColumn, TableSchema};
use crate::types::postgres::{has_plain_storage, PgType};

/// One relation at one schema version, as announced by a Relation message.
#[derive(Debug)]
pub struct RelVersion {
    pub relid: u32,
    pub table: Arc<TableSchema>,
    /// Codec of each user column.
    pub types: Vec<PgType>,
    /// What makes two Relation messages the same shape: qualified name and replica identity, then
    /// per column name, type OID, typmod and key flag.
    pub shape: (String, Vec<(String, u32, i32, bool)>),
}

/// The rows of one relation version in one destination.
#[derive(Debug)]
pub struct RowBuffer {
    pub rel: Arc<RelVersion>,
    pub b: ChangeBuilder,
    /// Rows already finished into batches; they come before the rows in `b`.
    cut: Vec<RecordBatch>,
    /// How many rows (of `cut` then `b`) belong to committed transactions.
    pub committed: usize,
    /// Run-length list of the subtransaction xid of every row: (xid, count).
    tags: Vec<(u32, usize)>,
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

impl RowBuffer {
    /// `lsn`: the batches carry each change's `_lsn` and `_last_commit_lsn`. `steady`: the
    /// buffer is the output's, whose plain columns keep their capacity from batch to batch (a
    /// held transaction's rows are taken out once, or to free memory).
    pub fn new(
        rel: Arc<RelVersion>,
        byte_limit: usize,
        lsn: bool,
        steady: bool,
    ) -> Result<Self, ArrowError> {
        // Types with plain storage fill plain vectors, the rest Arrow's builders.
        let mut b =
            ChangeBuilder::with_columns(rel.table.clone(), |i, dt| {
                match PlainColumn::new(dt)
                    .filter(|_| rel.types.get(i).is_some_and(has_plain_storage))
                {
                    Some(mut p) => {
                        p.keep_capacity(steady);
                        Ok(ColumnBuilder::Plain(p))
                    }
                    None => ColumnBuilder::new(dt),
                }
            })?;
        b.set_byte_limit(byte_limit);
        if lsn {
            b.enable_lsn();
        }
        Ok(Self {
            rel,
            b,
            cut: Vec::new(),
            committed: 0,
            tags: Vec::new(),
        })
    }

    /// All rows, committed or not.
    pub fn total(&self) -> usize {
        rows(&self.cut) + self.b.len()
    }

    /// Records which subtransaction wrote the row just finished.
    pub fn tag(&mut self, subxid: u32) {
        match self.tags.last_mut() {
            Some((x, n)) if *x == subxid => *n += 1,
            _ => self.tags.push((subxid, 1)),
        }
    }

    fn take_all(&mut self) -> Result<Vec<RecordBatch>, ArrowError> {
        let mut v = std::mem::take(&mut self.cut);
        v.extend(self.b.flush()?);
        Ok(v)
    }

    /// Takes the committed rows; uncommitted ones stay.
    pub fn take_committed(&mut self) -> Result<Vec<RecordBatch>, ArrowError> {
        if self.committed == 0 {
            return Ok(Vec::new());
        }
        let all = self.take_all()?;
        let (done, rest) = split(all, self.committed);
        self.cut = rest;
        self.committed = 0;
        Ok(done)
    }

    /// Drops the rows past the committed ones (a transaction that will be sent again).
    pub fn discard_uncommitted(&mut self) -> Result<(), ArrowError> {
        let all = self.take_all()?;
        let (keep, _) = split(all, self.committed);
        self.cut = keep;
        Ok(())
    }

    /// Drops the rows written by the given subtransactions.
    pub fn drop_subxacts(&mut self, aborted: &HashSet<u32>) -> Result<(), ArrowError> {
        if !self.tags.iter().any(|(x, _)| aborted.contains(x)) {
            return Ok(());
        }
        let all = self.take_all()?;
        let mask: BooleanArray = self
            .tags
            .iter()
            .flat_map(|(x, n)| std::iter::repeat_n(Some(!aborted.contains(x)), *n))
            .collect();
        if mask.len() != rows(&all) {
            return Err(ArrowError::InvalidArgumentError(format!(
                "{} subtransaction tags for {} rows",
                mask.len(),
                rows(&all)
            )));
        }
        let mut offset = 0;
        for b in all {
            let m = mask.slice(offset, b.num_rows());
            offset += b.num_rows();
            let kept = filter_record_batch(&b, &m)?;
            if kept.num_rows() > 0 {
                self.cut.push(kept);
            }
        }
        self.tags.retain(|(x, _)| !aborted.contains(x));
        Ok(())
    }

    /// Takes every row, stamped with the commit position and time (rows of a streamed or prepared
    /// transaction learn them only at commit): rows still in the builder through
    /// [`ChangeBuilder::set_commit`], rows already cut into batches by rewriting the two columns.
    pub fn take_stamped(&mut self, pos: u64, ts_us: i64) -> Result<Vec<ChangeBatch>, ArrowError> {
        let mut out = Vec::new();
        for b in std::mem::take(&mut self.cut) {
            out.push(self.batch(restamp(&b, pos, ts_us)?));
        }
        self.b.set_commit(0, pos, ts_us);
        for b in self.b.flush()? {
            out.push(self.batch(b));
        }
        self.tags.clear();
        self.committed = 0;
        Ok(out)
    }

    /// Takes every row out unstamped, in order, cut where the writing subtransaction changes:
    /// `(subxid, rows)` pieces (a held transaction moving its rows elsewhere).
    pub fn take_tagged(&mut self) -> Result<Vec<(u32, RecordBatch)>, ArrowError> {
        let all = self.take_all()?;
        let total = rows(&all);
        let tagged: usize = self.tags.iter().map(|(_, n)| n).sum();
        if tagged != total {
            return Err(ArrowError::InvalidArgumentError(format!(
                "{tagged} subtransaction tags for {total} rows"
            )));
        }
        let mut out = Vec::new();
        let mut runs = std::mem::take(&mut self.tags).into_iter();
        let mut run = runs.next();
        for b in all {
            let mut at = 0;
            while at < b.num_rows() {
                let Some((x, left)) = run.as_mut() else {
                    break;
                };
                let n = (*left).min(b.num_rows() - at);
                out.push((*x, b.slice(at, n)));
                at += n;
                *left -= n;
                if *left == 0 {
                    run = runs.next();
                }
            }
        }
        self.committed = 0;
        Ok(out)
    }

    /// Sets `_last_commit_lsn` of every row (a held transaction learns at its commit which one
    /// committed before it); nothing without that column.
    pub fn stamp_last_commit(&mut self, last_commit: u64) -> Result<(), ArrowError> {
        for b in &mut self.cut {
            let schema = b.schema();
            if let Ok(i) = schema.index_of(names::LAST_COMMIT_LSN) {
                let mut cols: Vec<ArrayRef> = b.columns().to_vec();
                cols[i] = Arc::new(UInt64Array::from(vec![last_commit; b.num_rows()]));
                *b = RecordBatch::try_new(schema, cols)?;
            }
        }
        self.b.set_last_commit(0, last_commit);
        Ok(())
    }

    /// Drops a row cut short by a decode error. Completed rows move to `cut`, so that the builder
    /// never holds rows that [`ChangeBuilder::set_commit`] cannot reach.
    pub fn abandon_partial_row(&mut self) -> Result<(), ArrowError> {
        self.b.abandon_partial_row()?;
        if self.b.len() != self.b.current_rows() {
            let done = self.b.flush()?;
            self.cut.extend(done);
        }
        Ok(())
    }

    /// Wraps a batch of this buffer.
    pub fn batch(&self, batch: RecordBatch) -> ChangeBatch {
        ChangeBatch {
            table: self.rel.table.table.clone(),
            schema_version: self.rel.table.schema_version,
            batch,
        }
    }
}

/// Splits batches after `n` rows.
fn split(all: Vec<RecordBatch>, n: usize) -> (Vec<RecordBatch>, Vec<RecordBatch>) {
    let mut left = n;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for batch in all {
        let len = batch.num_rows();
        if left >= len {
            left -= len;
            a.push(batch);
        } else if left == 0 {
            b.push(batch);
        } else {
            a.push(batch.slice(0, left));
            b.push(batch.slice(left, len - left));
            left = 0;
        }
    }
    (a, b)
}

/// Replaces `_pos` and `_commit_ts` of every row of a batch cut before its commit was known
/// (after a subtransaction abort or a decode error).
fn restamp(b: &RecordBatch, pos: u64, ts_us: i64) -> Result<RecordBatch, ArrowError> {
    let n = b.num_rows();
    let schema = b.schema();
    let mut cols: Vec<ArrayRef> = b.columns().to_vec();
    if let Ok(i) = schema.index_of(names::POS) {
        cols[i] = Arc::new(UInt64Array::from(vec![pos; n]));
    }
    if let Ok(i) = schema.index_of(names::COMMIT_TS) {
        cols[i] = Arc::new(TimestampMicrosecondArray::from(vec![ts_us; n]).with_timezone("UTC"));
    }
    RecordBatch::try_new(schema, cols)
}
