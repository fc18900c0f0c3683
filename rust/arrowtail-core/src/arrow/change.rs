//! The change batch: one table, one schema version, rows in source order, plus the metadata columns
//! of the contract in docs/design.md (`_op`, `_pos`, `_seq`, `_xid`, `_commit_ts`, `_before`,
//! `_unchanged`).
//!
//! A decoder appends a row by pushing one value onto every user column builder (and, when the
//! source sent an old image, one onto every `_before` builder, reached through
//! [`ChangeBuilder::before_mut`]), then calls
//! [`ChangeBuilder::finish_row`]. If decoding fails half-way through a row, the decoder calls
//! [`ChangeBuilder::abandon_partial_row`], so no batch ever holds a row that was not fully decoded.
//!
//! Strings, binaries and lists have 32-bit offsets in the contract's types, and arrow-rs panics
//! when a builder's offsets would pass `i32::MAX`. So after every row the builder checks its
//! variable-length columns (user columns, `_before` children, list elements, `_op`, `_unchanged`)
//! and, once one holds [`BYTE_LIMIT`] bytes or more, finishes the rows so far into arrays and goes on
//! with empty builders: [`ChangeBuilder::flush`] then returns several batches of the same table
//! and schema version, in order, which the contract allows. The fixed-width metadata columns stay
//! whole, so row indexes given to [`ChangeBuilder::set_commit`] keep their meaning across a cut.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, ListBuilder, StringBuilder};
use arrow_array::{
    new_null_array, ArrayRef, RecordBatch, StringArray, StructArray, TimestampMicrosecondArray,
    UInt32Array, UInt64Array,
};
use arrow_buffer::{Buffer, NullBufferBuilder, OffsetBuffer};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use super::column::ColumnBuilder;

/// The most one row can add to one column's offsets: a PostgreSQL value is at most 1 GiB (the
/// varlena limit), a MySQL/MariaDB row event at most `max_allowed_packet` (at most 1 GiB), and a row
/// adds one value to each column builder (for a list column, the elements of one value).
pub const ROW_HEADROOM: usize = 1 << 30;

/// Bytes (or list elements) at which a variable-length column ends its batch: a column still
/// under it before a row stays within `i32::MAX` after the row, given [`ROW_HEADROOM`].
pub const BYTE_LIMIT: usize = i32::MAX as usize - ROW_HEADROOM;

/// The most bytes of all-null `_before` children (and, apart, of `_unchanged`) a builder keeps to
/// share (see [`NullColumns`]); segments that would need more get arrays of their own.
const SHARED_NULL_BYTES: usize = 16 << 20;

/// Which kind of database a batch came from (`arrowtail.source` metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Postgres,
    MySql,
}

impl SourceKind {
    /// The metadata value: `postgres` or `mysql`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Postgres => "postgres",
            SourceKind::MySql => "mysql",
        }
    }
}

/// The kind of change in `_op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
    Delete,
    Read,
    Truncate,
    /// A logical message or DDL statement in the `_messages` / `_ddl` pseudo-tables.
    Message,
}

impl Op {
    /// The `_op` letter as its one byte.
    pub fn letter(self) -> u8 {
        self.as_str().as_bytes()[0]
    }

    /// The `_op` letter.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Insert => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Read => "r",
            Op::Truncate => "t",
            Op::Message => "m",
        }
    }
}

/// What a decoder knows about a table at one schema version.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    pub source: SourceKind,
    /// `schema.table` (MySQL: `database.table`).
    pub table: String,
    pub schema_version: u32,
    /// User columns in source order; every field is nullable, since a delete carries only keys.
    pub columns: Vec<Field>,
    pub primary_key: Vec<String>,
    /// Further `arrowtail.*` metadata, e.g. `arrowtail.column_names = generated`.
    pub extra_metadata: Vec<(String, String)>,
}

/// Per-row metadata.
#[derive(Debug, Clone, Copy)]
pub struct RowMeta {
    pub op: Op,
    /// Commit position; may be filled later with [`ChangeBuilder::set_commit`].
    pub pos: u64,
    pub seq: u32,
    pub xid: u64,
    /// Commit time, microseconds since the Unix epoch, UTC.
    pub commit_ts_us: i64,
}

/// Metadata column names.
pub mod names {
    pub const OP: &str = "_op";
    pub const POS: &str = "_pos";
    pub const SEQ: &str = "_seq";
    pub const XID: &str = "_xid";
    pub const COMMIT_TS: &str = "_commit_ts";
    pub const BEFORE: &str = "_before";
    pub const UNCHANGED: &str = "_unchanged";
    /// Optional (PostgreSQL, [`ChangeBuilder::enable_lsn`](super::ChangeBuilder::enable_lsn)):
    /// the WAL position of each change's own message.
    pub const LSN: &str = "_lsn";
    /// Optional, with [`LSN`]: the end position of the transaction committed before the change's
    /// own (0 when the decoder has seen none).
    pub const LAST_COMMIT_LSN: &str = "_last_commit_lsn";
    /// Optional (MySQL/MariaDB, [`ChangeBuilder::enable_gtid`](super::ChangeBuilder::enable_gtid)):
    /// the GTID of each change's transaction (`uuid:gno`, `uuid:tag:gno` or MariaDB
    /// `domain-server-seq`), null for a transaction without one.
    pub const GTID: &str = "_gtid";

    /// Every metadata column name, the optional ones included: no user column may have one, since
    /// readers of a batch find the metadata by name.
    pub const RESERVED: [&str; 10] = [
        OP,
        POS,
        SEQ,
        XID,
        COMMIT_TS,
        BEFORE,
        UNCHANGED,
        LSN,
        LAST_COMMIT_LSN,
        GTID,
    ];
}

/// Rows of the current run finished into arrays because a column reached the byte limit: every
/// column but the fixed-width metadata ones, which decoders may still update.
#[derive(Debug)]
struct Segment {
    rows: usize,
    columns: Vec<ArrayRef>,
    op: ArrayRef,
    before: ArrayRef,
    unchanged: ArrayRef,
}

/// Rows `first..` (up to the next run's first row) of a [`ChangeBuilder`]'s current run, which
/// share their `_pos`, `_xid` and `_commit_ts`.
#[derive(Debug, Clone, Copy)]
struct TxnRun {
    first: usize,
    pos: u64,
    xid: u64,
    commit_ts: i64,
}

/// Builds change batches of one table at one schema version. Builders are reused across flushes.
#[derive(Debug)]
pub struct ChangeBuilder {
    table: Arc<TableSchema>,
    schema: SchemaRef,
    before_fields: Fields,
    /// See [`set_byte_limit`](Self::set_byte_limit).
    byte_limit: usize,
    /// Indexes of the user columns with offsets (strings, binaries, lists).
    offset_columns: Vec<usize>,
    /// Rows of the current run already in arrays (see the module documentation).
    segments: Vec<Segment>,
    segment_rows: usize,
    /// A cut that could not finish its arrays (a bug); reported by the next flush.
    broken: Option<String>,
    /// User column builders, in schema order. Decoders append to these directly.
    pub columns: Vec<ColumnBuilder>,
    /// `_before` child builders, in schema order, short of the `before_gap` null rows.
    before: Vec<ColumnBuilder>,
    /// Rows without an old image whose nulls are not yet in `before`: most rows have none, so the
    /// nulls are appended in bulk when the next old image comes or at finish, not column by
    /// column on every row; a segment without any old image takes shared null arrays instead
    /// (see [`NullColumns`]).
    before_gap: usize,
    before_valid: NullBufferBuilder,
    /// The `_op` letter of every row of the current segment (one byte each), made a string
    /// array at finish.
    ops: Vec<u8>,
    /// `_seq` of every row of the current run; its length is the run's row count.
    seq: Vec<u32>,
    /// `_pos`, `_xid` and `_commit_ts` of the current run, one entry per stretch of rows that
    /// share them (a transaction's rows do), written out row by row only at finish.
    txns: Vec<TxnRun>,
    unchanged: ListBuilder<StringBuilder>,
    /// Rows whose null `_unchanged` is not yet in `unchanged` (appended in bulk, like
    /// `before_gap`).
    unchanged_gap: usize,
    /// All-null `_before` children and `_unchanged` for segments without any old image or
    /// unchanged column.
    nulls: NullColumns,
    /// Rows finished before a partial row had to be cut off.
    done: Vec<RecordBatch>,
    /// `_lsn` and `_last_commit_lsn` of every row, when enabled, and the values of the next row.
    lsns: Option<(Vec<u64>, Vec<u64>)>,
    next_lsn: (u64, u64),
    /// `_gtid` of every row, when enabled, and the value of the next row.
    gtids: Option<Vec<Option<Arc<str>>>>,
    next_gtid: Option<Arc<str>>,
}

impl ChangeBuilder {
    /// Creates a builder for a table schema.
    pub fn new(table: Arc<TableSchema>) -> Result<Self, ArrowError> {
        Self::with_columns(table, |_, dt| ColumnBuilder::new(dt))
    }

    /// Creates a builder for a table schema whose user and `_before` columns are made by
    /// `make(column index, Arrow type)`, which must give a builder of that type (a decoder that
    /// stores some types its own way, e.g. [`ColumnBuilder::plain`]).
    pub fn with_columns(
        table: Arc<TableSchema>,
        make: impl Fn(usize, &DataType) -> Result<ColumnBuilder, ArrowError>,
    ) -> Result<Self, ArrowError> {
        let user: Vec<Field> = table
            .columns
            .iter()
            .map(|f| f.clone().with_nullable(true))
            .collect();
        let before_fields: Fields = user.clone().into();
        let mut fields = user.clone();
        fields.push(Field::new(names::OP, DataType::Utf8, false));
        fields.push(Field::new(names::POS, DataType::UInt64, false));
        fields.push(Field::new(names::SEQ, DataType::UInt32, false));
        fields.push(Field::new(names::XID, DataType::UInt64, false));
        fields.push(Field::new(
            names::COMMIT_TS,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ));
        fields.push(Field::new(
            names::BEFORE,
            DataType::Struct(before_fields.clone()),
            true,
        ));
        fields.push(Field::new(
            names::UNCHANGED,
            ColumnBuilder::list_type(DataType::Utf8),
            true,
        ));
        let mut metadata = HashMap::new();
        metadata.insert("arrowtail.source".into(), table.source.as_str().into());
        metadata.insert("arrowtail.table".into(), table.table.clone());
        metadata.insert("arrowtail.primary_key".into(), table.primary_key.join(","));
        metadata.insert(
            "arrowtail.schema_version".into(),
            table.schema_version.to_string(),
        );
        for (k, v) in &table.extra_metadata {
            metadata.insert(k.clone(), v.clone());
        }
        let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
        let columns = user
            .iter()
            .enumerate()
            .map(|(i, f)| make(i, f.data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        let before = user
            .iter()
            .enumerate()
            .map(|(i, f)| make(i, f.data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        let offset_columns = (0..columns.len())
            .filter(|&i| columns[i].has_offsets())
            .collect();
        let nulls = NullColumns::new(&before_fields);
        Ok(Self {
            table,
            schema,
            before_fields,
            byte_limit: BYTE_LIMIT,
            offset_columns,
            segments: Vec::new(),
            segment_rows: 0,
            broken: None,
            columns,
            before,
            before_gap: 0,
            before_valid: NullBufferBuilder::new(0),
            ops: Vec::new(),
            seq: Vec::new(),
            txns: Vec::new(),
            unchanged: ListBuilder::new(StringBuilder::new()),
            unchanged_gap: 0,
            nulls,
            done: Vec::new(),
            lsns: None,
            next_lsn: (0, 0),
            gtids: None,
            next_gtid: None,
        })
    }

    /// Adds the optional `_lsn` and `_last_commit_lsn` columns (uint64, after the others); each
    /// row takes the values of the last [`set_row_lsn`](Self::set_row_lsn). Call it before the
    /// first row.
    pub fn enable_lsn(&mut self) {
        if self.lsns.is_some() {
            return;
        }
        self.add_fields([
            Field::new(names::LSN, DataType::UInt64, false),
            Field::new(names::LAST_COMMIT_LSN, DataType::UInt64, false),
        ]);
        self.lsns = Some((Vec::new(), Vec::new()));
    }

    /// The `_lsn` and `_last_commit_lsn` of the rows finished from now on (ignored unless
    /// [`enable_lsn`](Self::enable_lsn) was called).
    pub fn set_row_lsn(&mut self, lsn: u64, last_commit: u64) {
        self.next_lsn = (lsn, last_commit);
    }

    /// Adds the optional `_gtid` column (utf8, nullable, after the others); each row takes the
    /// value of the last [`set_row_gtid`](Self::set_row_gtid). Call it before the first row.
    pub fn enable_gtid(&mut self) {
        if self.gtids.is_some() {
            return;
        }
        self.add_fields([Field::new(names::GTID, DataType::Utf8, true)]);
        self.gtids = Some(Vec::new());
    }

    /// Appends optional metadata columns to the batches' schema.
    fn add_fields(&mut self, extra: impl IntoIterator<Item = Field>) {
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .chain(extra)
            .collect();
        self.schema = Arc::new(Schema::new_with_metadata(
            fields,
            self.schema.metadata().clone(),
        ));
    }

    /// The `_gtid` of the rows finished from now on (ignored unless
    /// [`enable_gtid`](Self::enable_gtid) was called).
    pub fn set_row_gtid(&mut self, gtid: Option<Arc<str>>) {
        if self.gtids.is_some() {
            self.next_gtid = gtid;
        }
    }

    /// Sets `_last_commit_lsn` of rows `from..` of the current run (rows of a transaction held
    /// until its commit learn then which transaction committed before it).
    pub fn set_last_commit(&mut self, from: usize, last_commit: u64) {
        if let Some((_, last)) = &mut self.lsns {
            for l in last.get_mut(from..).unwrap_or_default() {
                *l = last_commit;
            }
        }
    }

    /// Sets the bytes (or list elements) at which a variable-length column ends its batch; from
    /// the next row on. Values above [`BYTE_LIMIT`] are lowered to it (the headroom above it is what
    /// keeps one more row within `i32::MAX`), 0 is raised to 1. Small limits are for tests.
    pub fn set_byte_limit(&mut self, limit: usize) {
        self.byte_limit = limit.clamp(1, BYTE_LIMIT);
    }

    /// The byte limit in force.
    pub fn byte_limit(&self) -> usize {
        self.byte_limit
    }

    /// The table this builder is for.
    pub fn table(&self) -> &Arc<TableSchema> {
        &self.table
    }

    /// The schema of the batches it produces (user columns, then the metadata columns).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Completed rows not yet flushed.
    pub fn len(&self) -> usize {
        self.seq.len() + self.done.iter().map(|b| b.num_rows()).sum::<usize>()
    }

    /// True when there is nothing to flush.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows in the current (not yet cut) run; row indexes for [`set_commit`](Self::set_commit).
    pub fn current_rows(&self) -> usize {
        self.seq.len()
    }

    /// The `_before` child builders, in schema order, for a row that has an old image: append one
    /// value to each, then call [`finish_row`](Self::finish_row) with `has_before`.
    pub fn before_mut(&mut self) -> &mut [ColumnBuilder] {
        self.pad_before();
        &mut self.before
    }

    /// Appends the pending nulls of rows without an old image to the `_before` builders.
    fn pad_before(&mut self) {
        if self.before_gap > 0 {
            for b in &mut self.before {
                b.append_nulls(self.before_gap);
            }
            self.before_gap = 0;
        }
    }

    /// True when some user or `_before` builder holds values of a row not yet finished.
    fn has_partial_row(&self) -> bool {
        let n = self.seq.len() - self.segment_rows;
        self.columns.iter().any(|c| c.len() != n)
            || self.before.iter().any(|c| c.len() + self.before_gap != n)
    }

    /// Completes a row whose user column values were appended by the caller. `has_before` says the
    /// caller also appended one value to every `_before` builder; `unchanged` lists indexes of
    /// columns whose value the source did not send (their user value must have been appended as
    /// null).
    pub fn finish_row(&mut self, meta: RowMeta, has_before: bool, unchanged: &[usize]) {
        if has_before {
            self.before_valid.append_non_null();
        } else {
            self.before_gap += 1;
            self.before_valid.append_null();
        }
        self.ops.push(meta.op.letter());
        match self.txns.last() {
            Some(t)
                if t.pos == meta.pos && t.xid == meta.xid && t.commit_ts == meta.commit_ts_us => {}
            _ => self.txns.push(TxnRun {
                first: self.seq.len(),
                pos: meta.pos,
                xid: meta.xid,
                commit_ts: meta.commit_ts_us,
            }),
        }
        self.seq.push(meta.seq);
        if let Some((lsn, last)) = &mut self.lsns {
            lsn.push(self.next_lsn.0);
            last.push(self.next_lsn.1);
        }
        if let Some(g) = &mut self.gtids {
            g.push(self.next_gtid.clone());
        }
        if unchanged.is_empty() {
            self.unchanged_gap += 1;
        } else {
            self.unchanged
                .append_nulls(std::mem::take(&mut self.unchanged_gap));
            for &i in unchanged {
                self.unchanged
                    .values()
                    .append_value(self.table.columns[i].name());
            }
            self.unchanged.append(true);
        }
        let n = self.seq.len() - self.segment_rows;
        debug_assert!(self.columns.iter().all(|c| c.len() == n));
        debug_assert!(self.before.iter().all(|c| c.len() + self.before_gap == n));
        if self.reached_limit(has_before, !unchanged.is_empty()) {
            self.cut_segment();
        }
    }

    /// True when a column that the last row could have grown holds `byte_limit` bytes or more.
    fn reached_limit(&self, has_before: bool, has_unchanged: bool) -> bool {
        let limit = self.byte_limit;
        let over = |cols: &[ColumnBuilder]| {
            self.offset_columns
                .iter()
                .any(|&i| cols[i].offset_use() >= limit)
        };
        self.ops.len() >= limit
            || over(&self.columns)
            || (has_before && over(&self.before))
            || (has_unchanged && {
                let names = self.unchanged.values_ref();
                names.len() >= limit || names.values_slice().len() >= limit
            })
    }

    /// Finishes the rows in the builders into a segment, so that the next rows start from empty
    /// builders.
    fn cut_segment(&mut self) {
        let rows = self.seq.len() - self.segment_rows;
        match self.finish_segment(rows) {
            Ok(Some(segment)) => {
                self.segment_rows += segment.rows;
                self.segments.push(segment);
            }
            Ok(None) => {}
            Err(e) => {
                self.broken.get_or_insert_with(|| e.to_string());
            }
        }
    }

    /// Sets the commit position and time of rows `from..` of the current run (for sources that
    /// learn them only at commit: MySQL's XID event, PostgreSQL's Stream Commit).
    pub fn set_commit(&mut self, from: usize, pos: u64, commit_ts_us: i64) {
        let at = self.split_txns(from);
        for t in &mut self.txns[at..] {
            t.pos = pos;
            t.commit_ts = commit_ts_us;
        }
    }

    /// Sets the transaction id of rows `from..` of the current run (MySQL learns the XID of a
    /// transaction without GTID only at its XID event).
    pub fn set_xid(&mut self, from: usize, xid: u64) {
        let at = self.split_txns(from);
        for t in &mut self.txns[at..] {
            t.xid = xid;
        }
    }

    /// The index of the first entry of `txns` for rows `from..`, splitting the entry that holds
    /// row `from` in two when the row is inside it; `txns.len()` when there is no such row.
    fn split_txns(&mut self, from: usize) -> usize {
        if from >= self.seq.len() {
            return self.txns.len();
        }
        // Entries are in row order and the first starts at row 0, so `i` is at least 1. The
        // last entry is looked at first: a commit usually ends the newest stretch of rows.
        let i = match self.txns.last() {
            Some(t) if t.first <= from => self.txns.len(),
            _ => self.txns.partition_point(|t| t.first <= from),
        };
        let holder = self.txns[i - 1];
        if holder.first == from {
            return i - 1;
        }
        self.txns.insert(
            i,
            TxnRun {
                first: from,
                ..holder
            },
        );
        i
    }

    /// `_pos`, `_xid` and `_commit_ts` of the first `rows` rows of the current run, one value
    /// a row; leaves the run without any.
    fn take_txn_columns(&mut self, rows: usize) -> (Vec<u64>, Vec<u64>, Vec<i64>) {
        let txns = std::mem::take(&mut self.txns);
        let mut pos = Vec::with_capacity(rows);
        let mut xid = Vec::with_capacity(rows);
        let mut ts = Vec::with_capacity(rows);
        for (k, t) in txns.iter().enumerate() {
            if t.first >= rows {
                break;
            }
            let end = txns.get(k + 1).map_or(rows, |next| next.first.min(rows));
            pos.resize(end, t.pos);
            xid.resize(end, t.xid);
            ts.resize(end, t.commit_ts);
        }
        (pos, xid, ts)
    }

    /// Drops the completed rows `from..` of the current run and any partial row (a transaction
    /// that was rolled back or could not be decoded). Earlier rows are kept.
    pub fn discard_rows_from(&mut self, from: usize) -> Result<(), ArrowError> {
        let n = self.seq.len();
        if from >= n && !self.has_partial_row() {
            return Ok(());
        }
        let batches = self.finish_run(from.min(n))?;
        self.done.extend(batches);
        Ok(())
    }

    /// Drops values of a row that was started but not finished (a decode error in the middle of a
    /// tuple). Completed rows are kept.
    pub fn abandon_partial_row(&mut self) -> Result<(), ArrowError> {
        let n = self.seq.len();
        if self.has_partial_row() {
            let batches = self.finish_run(n)?;
            self.done.extend(batches);
        }
        Ok(())
    }

    /// Finishes all completed rows into batches (usually one; more after a cut at the byte limit)
    /// and resets the builder.
    pub fn flush(&mut self) -> Result<Vec<RecordBatch>, ArrowError> {
        let n = self.seq.len();
        let mut out = std::mem::take(&mut self.done);
        out.extend(self.finish_run(n)?);
        Ok(out)
    }

    /// Finishes the first `rows` rows of the current run (its segments, then the builders) into
    /// batches, drops the rest and resets the builder for a new run.
    fn finish_run(&mut self, rows: usize) -> Result<Vec<RecordBatch>, ArrowError> {
        let tail = self.finish_segment(rows.saturating_sub(self.segment_rows));
        let mut segments = std::mem::take(&mut self.segments);
        self.segment_rows = 0;
        let rows = rows.min(self.seq.len());
        let (pos, xid, ts) = self.take_txn_columns(rows);
        let mut seq = std::mem::take(&mut self.seq);
        let lsns = self.lsns.as_mut().map(|(lsn, last)| {
            let (mut lsn, mut last) = (std::mem::take(lsn), std::mem::take(last));
            lsn.truncate(rows);
            last.truncate(rows);
            (UInt64Array::from(lsn), UInt64Array::from(last))
        });
        let gtids = self.gtids.as_mut().map(|g| {
            let mut g = std::mem::take(g);
            g.truncate(rows);
            StringArray::from_iter(g.iter().map(|v| v.as_deref()))
        });
        if let Some(e) = self.broken.take() {
            return Err(ArrowError::ComputeError(format!(
                "a batch cut at the byte limit failed: {e}"
            )));
        }
        segments.extend(tail?);
        seq.truncate(rows);
        let pos = UInt64Array::from(pos);
        let seq = UInt32Array::from(seq);
        let xid = UInt64Array::from(xid);
        let ts = TimestampMicrosecondArray::from(ts).with_timezone("UTC");
        let mut out = Vec::with_capacity(segments.len());
        let mut start = 0;
        for s in segments {
            if start >= rows {
                break;
            }
            let n = s.rows.min(rows - start);
            let cut = |a: &ArrayRef| {
                if a.len() > n {
                    a.slice(0, n)
                } else {
                    a.clone()
                }
            };
            let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
            arrays.extend(s.columns.iter().map(cut));
            arrays.push(cut(&s.op));
            arrays.push(Arc::new(pos.slice(start, n)));
            arrays.push(Arc::new(seq.slice(start, n)));
            arrays.push(Arc::new(xid.slice(start, n)));
            arrays.push(Arc::new(ts.slice(start, n)));
            arrays.push(cut(&s.before));
            arrays.push(cut(&s.unchanged));
            if let Some((lsn, last)) = &lsns {
                arrays.push(Arc::new(lsn.slice(start, n)));
                arrays.push(Arc::new(last.slice(start, n)));
            }
            if let Some(g) = &gtids {
                arrays.push(Arc::new(g.slice(start, n)));
            }
            out.push(RecordBatch::try_new(self.schema.clone(), arrays)?);
            start += n;
        }
        Ok(out)
    }

    /// Finishes every builder (so all are empty afterwards, even on error) and keeps the first
    /// `keep` rows: values of a row not finished, or of rows being discarded, never appear.
    fn finish_segment(&mut self, keep: usize) -> Result<Option<Segment>, ArrowError> {
        let cut = |a: ArrayRef| if a.len() > keep { a.slice(0, keep) } else { a };
        // A segment in which no row had an old image (no row had one appended, nor one half
        // appended): its `_before` children are all null whatever their length, so they are
        // shared null arrays rather than a null appended per row and column.
        let before = if self.before.iter().all(ColumnBuilder::is_empty) {
            self.before_gap = 0;
            None
        } else {
            self.pad_before();
            Some(
                self.before
                    .iter_mut()
                    .map(|c| c.finish())
                    .collect::<Vec<_>>(),
            )
        };
        let columns: Vec<_> = self.columns.iter_mut().map(|c| c.finish()).collect();
        let before_nulls =
            self.before_valid
                .finish()
                .map(|n| if n.len() > keep { n.slice(0, keep) } else { n });
        let op = op_array(&mut self.ops);
        let unchanged = if self.unchanged.is_empty() {
            self.unchanged_gap = 0;
            None
        } else {
            self.unchanged
                .append_nulls(std::mem::take(&mut self.unchanged_gap));
            Some(cut(Arc::new(self.unchanged.finish())))
        };
        let op = cut(op?);
        let columns = columns
            .into_iter()
            .map(|c| c.map(cut))
            .collect::<Result<Vec<_>, _>>()?;
        let before_children = before
            .map(|b| {
                b.into_iter()
                    .map(|c| c.map(cut))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        if keep == 0 {
            return Ok(None);
        }
        let before_children = match before_children {
            Some(b) => b,
            None => self.nulls.before(keep),
        };
        let unchanged = match unchanged {
            Some(u) => u,
            None => self.nulls.unchanged(keep),
        };
        let before = if self.before_fields.is_empty() {
            StructArray::new_empty_fields(keep, before_nulls)
        } else {
            StructArray::try_new(self.before_fields.clone(), before_children, before_nulls)?
        };
        Ok(Some(Segment {
            rows: keep,
            columns,
            op,
            before: Arc::new(before),
            unchanged,
        }))
    }
}

/// All-null arrays of the `_before` children and of `_unchanged`, made once and sliced for every
/// segment that needs them: most change rows have neither an old image nor unchanged columns (a
/// snapshot's rows never do), and appending a null to each `_before` child for every such row
/// wrote as many bytes as the row's own fixed-width values only to mark them null.
#[derive(Debug)]
struct NullColumns {
    before_types: Vec<DataType>,
    before: SharedNulls,
    unchanged_type: [DataType; 1],
    unchanged: SharedNulls,
}

impl NullColumns {
    fn new(before: &Fields) -> Self {
        Self {
            before_types: before.iter().map(|f| f.data_type().clone()).collect(),
            before: SharedNulls::default(),
            unchanged_type: [ColumnBuilder::list_type(DataType::Utf8)],
            unchanged: SharedNulls::default(),
        }
    }

    fn before(&mut self, rows: usize) -> Vec<ArrayRef> {
        self.before.get(&self.before_types, rows)
    }

    fn unchanged(&mut self, rows: usize) -> ArrayRef {
        let mut one = self.unchanged.get(&self.unchanged_type, rows);
        one.pop().expect("one type, one array")
    }
}

/// Null arrays of some types, as long as the longest segment asked for so far (rounded up to a
/// power of two), kept while they hold at most `limit` bytes; past that each segment gets arrays
/// of its own.
#[derive(Debug)]
struct SharedNulls {
    arrays: Vec<ArrayRef>,
    len: usize,
    /// Bytes a row of the arrays takes, once known.
    row_bytes: usize,
    limit: usize,
}

impl Default for SharedNulls {
    fn default() -> Self {
        Self {
            arrays: Vec::new(),
            len: 0,
            row_bytes: 0,
            limit: SHARED_NULL_BYTES,
        }
    }
}

impl SharedNulls {
    /// `rows` nulls of each of `types`.
    fn get(&mut self, types: &[DataType], rows: usize) -> Vec<ArrayRef> {
        if rows > self.len {
            let len = rows.next_power_of_two().max(1024);
            if self.row_bytes.saturating_mul(len) > self.limit {
                return types.iter().map(|t| new_null_array(t, rows)).collect();
            }
            let made: Vec<ArrayRef> = types.iter().map(|t| new_null_array(t, len)).collect();
            let bytes: usize = made.iter().map(|a| a.get_array_memory_size()).sum();
            self.row_bytes = bytes.div_ceil(len);
            if bytes > self.limit {
                return made.iter().map(|a| a.slice(0, rows)).collect();
            }
            self.arrays = made;
            self.len = len;
        }
        self.arrays.iter().map(|a| a.slice(0, rows)).collect()
    }
}

/// The `_op` column of a segment from its letters (one byte a row); leaves `ops` empty, with the
/// capacity it had.
fn op_array(ops: &mut Vec<u8>) -> Result<ArrayRef, ArrowError> {
    let n = ops.len();
    let letters = std::mem::replace(ops, Vec::with_capacity(n));
    let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(1, n));
    Ok(Arc::new(StringArray::try_new(
        offsets,
        Buffer::from_vec(letters),
        None,
    )?))
}

/// A finished change batch with the table it belongs to.
#[derive(Debug, Clone)]
pub struct ChangeBatch {
    pub table: String,
    pub schema_version: u32,
    pub batch: RecordBatch,
}

/// Helper for `_op` values of a finished batch (tests and sinks).
pub fn op_column(batch: &RecordBatch) -> Option<&StringArray> {
    batch
        .column_by_name(names::OP)
        .and_then(|a| a.as_any().downcast_ref::<StringArray>())
}

#[cfg(test)]
#[path = "change_tests.rs"]
mod tests;
