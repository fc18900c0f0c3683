//! Transaction bookkeeping and table resolution of the [`BinlogDecoder`]: rows are appended to
//! their table's change builder as they are decoded and get their commit position and time
//! (`set_commit`) at the commit event (XID, `COMMIT` query, DDL, or STMT_END of an implicit
//! transaction); a rollback or decode error discards them.

// The shared error enum carries a Location with a file name; boxing it is the error module's call.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, TimestampMicrosecondArray, UInt64Array};
use arrow_schema::{ArrowError, DataType, Field, TimeUnit};

use crate::arrow::change::names;
use crate::arrow::{
    ChangeBuilder, ColumnBuilder, Op, PlainColumn, RowMeta, SourceKind, TableSchema,
};
use crate::error::{Error, Location, Result};
use crate::types::mysql::{self, is_numeric, Codec};

use super::decoder::BinlogDecoder;
use super::rows::ResolvedTable;
use super::table_map::TableMap;

/// What `information_schema` knows about a column that a MINIMAL TABLE_MAP does not carry
/// (MySQL "binlog_row_metadata": SIGNEDNESS, DEFAULT_CHARSET/COLUMN_CHARSET, ENUM_STR_VALUE,
/// SET_STR_VALUE are FULL-only).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnDetail {
    /// Whether a numeric column is UNSIGNED.
    pub unsigned: bool,
    /// Collation id of a character column (`information_schema.COLLATIONS.ID`).
    pub collation: Option<u64>,
    /// ENUM or SET labels, in definition order.
    pub labels: Option<Vec<String>>,
}

/// The GTID of the open transaction, as the event gave it: its text (`uuid:gno`, `uuid:tag:gno`
/// or MariaDB `domain-server-seq`) is built only when asked for ([`Gtid::text`]), since most
/// transactions commit without anyone reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gtid {
    /// MySQL: source UUID, transaction number and, for GTID_TAGGED, a non-empty tag.
    MySql {
        sid: [u8; 16],
        gno: u64,
        tag: Option<Box<str>>,
    },
    /// MariaDB: domain, server id, sequence number.
    Maria { domain: u32, server: u32, seq: u64 },
}

impl Gtid {
    /// The transaction number used as `_xid`.
    pub fn number(&self) -> u64 {
        match self {
            Gtid::MySql { gno, .. } => *gno,
            Gtid::Maria { seq, .. } => *seq,
        }
    }

    /// `uuid:gno`, `uuid:tag:gno` or MariaDB `domain-server-seq`.
    pub fn text(&self) -> String {
        match self {
            Gtid::MySql {
                sid,
                gno,
                tag: None,
            } => format!("{}:{gno}", super::event::format_uuid(sid)),
            Gtid::MySql {
                sid,
                gno,
                tag: Some(tag),
            } => format!("{}:{tag}:{gno}", super::event::format_uuid(sid)),
            Gtid::Maria {
                domain,
                server,
                seq,
            } => format!("{domain}-{server}-{seq}"),
        }
    }
}

/// The transaction being decoded.
#[derive(Debug, Default)]
pub(crate) struct Txn {
    pub open: bool,
    /// Opened by BEGIN or a GTID event, so it ends at XID/COMMIT/DDL rather than at STMT_END.
    pub explicit: bool,
    /// A `BEGIN` query was seen.
    pub saw_begin: bool,
    pub gtid: Option<Gtid>,
    /// Next `_seq`.
    pub seq: u32,
    /// (builder index, first row of this transaction in the builder's current run).
    pub touched: Vec<(usize, usize)>,
    /// Rows of this transaction that a flush took out of their builder together with committed
    /// rows before them (builder index, rows): they get their commit at the commit event and
    /// leave with the next flush, or are dropped with the transaction.
    pub carried: Vec<(usize, RecordBatch)>,
    /// Rows of it were taken out unstamped by [`BinlogDecoder::take_open_rows`].
    pub taken: bool,
    /// The GTID's text, made once per transaction for `_gtid` when the decoder writes it.
    pub gtid_text: Option<Arc<str>>,
}

/// How a transaction whose rows were taken out early ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakenOutcome {
    /// Committed: the taken rows get this `_pos`, `_commit_ts` and, when given, `_xid`.
    Committed {
        pos: u64,
        commit_ts_us: i64,
        xid: Option<u64>,
    },
    /// Rolled back or never committed: the taken rows are void.
    Discarded,
}

/// Sets `_pos` and `_commit_ts` (and `_xid` when given) of every row of a batch that left its
/// builder before its transaction committed.
pub(crate) fn restamp(
    b: &RecordBatch,
    pos: u64,
    ts_us: i64,
    xid: Option<u64>,
) -> std::result::Result<RecordBatch, ArrowError> {
    let n = b.num_rows();
    let schema = b.schema();
    let mut cols: Vec<ArrayRef> = b.columns().to_vec();
    if let Ok(i) = schema.index_of(names::POS) {
        cols[i] = Arc::new(UInt64Array::from(vec![pos; n]));
    }
    if let Ok(i) = schema.index_of(names::COMMIT_TS) {
        cols[i] = Arc::new(TimestampMicrosecondArray::from(vec![ts_us; n]).with_timezone("UTC"));
    }
    if let (Some(x), Ok(i)) = (xid, schema.index_of(names::XID)) {
        cols[i] = Arc::new(UInt64Array::from(vec![x; n]));
    }
    RecordBatch::try_new(schema, cols)
}

/// Name of the DDL pseudo-table.
pub const DDL_TABLE: &str = "_ddl";

impl BinlogDecoder {
    pub(crate) fn loc(&self, offset: u64) -> Location {
        Location::Binlog {
            file: self.file.clone(),
            offset,
        }
    }

    /// Opens a transaction if none is open. A GTID event (`gtid`) or a second BEGIN while a
    /// group is open means that group never committed (a truncated relay log, a crashed
    /// server): its rows are dropped.
    pub(crate) fn begin(&mut self, begin_query: bool, gtid: Option<Gtid>) {
        let restart = self.txn.open && (gtid.is_some() || (begin_query && self.txn.saw_begin));
        if restart {
            self.discard_txn();
        }
        if !self.txn.open {
            // Reset in place rather than replaced by a new value (no drop of the old one per
            // transaction); the lists keep their memory from one transaction to the next. Every
            // field is named, so a new one cannot be left out of the reset.
            let Txn {
                open,
                explicit,
                saw_begin,
                gtid: open_gtid,
                seq,
                touched,
                carried,
                taken,
                gtid_text,
            } = &mut self.txn;
            *open = true;
            *explicit = false;
            *saw_begin = false;
            *open_gtid = None;
            *seq = 0;
            touched.clear();
            carried.clear();
            *taken = false;
            *gtid_text = None;
        }
        if begin_query {
            self.txn.saw_begin = true;
            self.txn.explicit = true;
        }
        if gtid.is_some() {
            self.txn.explicit = true;
            self.txn.gtid = gtid;
            if self.row_gtid {
                self.txn.gtid_text = self.txn.gtid.as_ref().map(|g| Arc::from(g.text()));
            }
        }
    }

    /// Records that rows of the open transaction go to `builder`, which gives them the
    /// transaction's `_gtid` when it writes one.
    pub(crate) fn touch(&mut self, builder: usize) {
        if !self.txn.touched.iter().any(|(b, _)| *b == builder) {
            let from = self.builders.get(builder).map_or(0, |b| b.current_rows());
            self.txn.touched.push((builder, from));
            if let Some(b) = self.builders.get_mut(builder) {
                b.set_row_gtid(self.txn.gtid_text.clone());
            }
        }
    }

    /// Metadata of the next row of the open transaction (position and time are set at commit).
    pub(crate) fn next_meta(txn: &mut Txn, op: Op) -> RowMeta {
        let seq = txn.seq;
        txn.seq = txn.seq.saturating_add(1);
        RowMeta {
            op,
            pos: 0,
            seq,
            xid: txn.gtid.as_ref().map_or(0, Gtid::number),
            commit_ts_us: 0,
        }
    }

    /// Commits the open transaction at the end offset of the commit event.
    pub(crate) fn commit(
        &mut self,
        end_offset: u64,
        timestamp: u32,
        xid: Option<u64>,
    ) -> Result<()> {
        let pos = (u64::from(self.file_number) << 32) | (end_offset & 0xFFFF_FFFF);
        let ts = i64::from(timestamp) * 1_000_000;
        if let Some(through) = self.skip_through {
            if pos <= through {
                self.skip_txn();
                return Ok(());
            }
            self.skip_through = None;
        }
        // The transaction ends here: its state is read and reset in place, as at BEGIN, rather
        // than moved out and replaced (one commit per row in a stream of one-row transactions).
        // Every field is named, so a new one cannot be left out of the reset.
        let Txn {
            open,
            explicit,
            saw_begin,
            gtid,
            seq,
            touched: _,
            carried,
            taken,
            gtid_text,
        } = &mut self.txn;
        *open = false;
        *explicit = false;
        *saw_begin = false;
        *gtid_text = None;
        let gtid = gtid.take();
        let seq = std::mem::take(seq);
        let taken = std::mem::take(taken);
        let carried = std::mem::take(carried);
        let new_xid = if gtid.is_none() { xid } else { None };
        for (b, rows) in carried {
            let stamped = match restamp(&rows, pos, ts, new_xid) {
                Ok(stamped) => stamped,
                Err(source) => {
                    self.txn.touched.clear();
                    return Err(Error::Arrow {
                        table: self.builders[b].table().table.clone(),
                        at: self.loc(end_offset),
                        source,
                    });
                }
            };
            self.ready.push((b, stamped));
        }
        for &(b, from) in &self.txn.touched {
            if let Some(builder) = self.builders.get_mut(b) {
                let from = from.min(builder.current_rows());
                builder.set_commit(from, pos, ts);
                if let Some(x) = new_xid {
                    builder.set_xid(from, x);
                }
            }
        }
        self.txn.touched.clear();
        if taken {
            self.taken_outcome = Some(TakenOutcome::Committed {
                pos,
                commit_ts_us: ts,
                xid: new_xid,
            });
        }
        if seq > 0 || gtid.is_some() || xid.is_some() {
            self.stats.transactions += 1;
        }
        match &mut self.last_commit {
            Some((file, at)) if *file == self.file => *at = end_offset,
            last => *last = Some((self.file.clone(), end_offset)),
        }
        if let Some(g) = gtid {
            if let Gtid::Maria {
                domain,
                server,
                seq,
            } = g
            {
                // The domain is almost always known already: update it without an insert.
                match self.maria_state.get_mut(&domain) {
                    Some(state) => *state = (server, seq),
                    None => {
                        self.maria_state.insert(domain, (server, seq));
                    }
                }
            }
            self.set_last_gtid(g);
        }
        Ok(())
    }

    /// Drops a transaction that commits at or before the skip-through position: its rows were
    /// handed on before the checkpoint this decoder resumes after. The server's GTID state still
    /// moves past it.
    fn skip_txn(&mut self) {
        if let Some(Gtid::Maria {
            domain,
            server,
            seq,
        }) = self.txn.gtid.take()
        {
            self.maria_state.insert(domain, (server, seq));
        }
        let rows = u64::from(self.txn.seq);
        self.discard_txn();
        self.stats.discarded_rows -= rows;
        self.stats.replayed_rows += rows;
    }

    /// Drops the rows of the open transaction (those still in builders and those carried).
    pub(crate) fn discard_txn(&mut self) {
        let txn = std::mem::take(&mut self.txn);
        if txn.taken {
            self.taken_outcome = Some(TakenOutcome::Discarded);
        }
        for &(b, from) in &txn.touched {
            if let Some(builder) = self.builders.get_mut(b) {
                // Cannot fail for well-formed builders; a failure leaves the rows cut anyway.
                let _ = builder.discard_rows_from(from);
            }
        }
        self.stats.discarded_rows += u64::from(txn.seq);
    }

    /// Before a flush: takes every committed row out of the builders the open transaction wrote
    /// to, so that the flush hands them out; the transaction's own rows move to
    /// [`Txn::carried`] and the builders start empty. Without this a flush during a
    /// transaction would hold back committed rows of its tables while the last commit position
    /// (which a source stores as its checkpoint) already covers them.
    pub(crate) fn set_aside_open_rows(&mut self) -> std::result::Result<(), (usize, ArrowError)> {
        if !self.txn.open {
            return Ok(());
        }
        for (b, from) in self.txn.touched.iter_mut() {
            let Some(builder) = self.builders.get_mut(*b) else {
                continue;
            };
            // Rows cut into batches earlier (by a discarded transaction) are all committed.
            let committed =
                builder.len() - builder.current_rows() + (*from).min(builder.current_rows());
            if committed == 0 {
                continue;
            }
            let all = builder.flush().map_err(|e| (*b, e))?;
            let mut left = committed;
            for batch in all {
                let n = batch.num_rows();
                if left >= n {
                    left -= n;
                    self.ready.push((*b, batch));
                } else {
                    if left > 0 {
                        self.ready.push((*b, batch.slice(0, left)));
                    }
                    self.txn.carried.push((*b, batch.slice(left, n - left)));
                    left = 0;
                }
            }
            *from = 0;
        }
        Ok(())
    }

    /// Takes every row of the open transaction out of the decoder, unstamped (`_pos` and
    /// `_commit_ts` 0; `_xid` the GTID number, or 0 when the XID event will give it), for a caller
    /// that keeps them elsewhere (on disk) until [`Self::take_outcome`] says how the transaction
    /// ended. Call it right after [`Self::flush`]: committed rows still in a builder the
    /// transaction wrote to would otherwise wait for the next flush.
    pub fn take_open_rows(&mut self) -> Result<Vec<crate::arrow::ChangeBatch>> {
        if !self.txn.open {
            return Ok(Vec::new());
        }
        let out = self.split_open_rows().map_err(|(b, source)| Error::Arrow {
            table: self.builders[b].table().table.clone(),
            at: Location::Unknown,
            source,
        })?;
        self.txn.taken = true;
        Ok(self.change_batches(out))
    }

    /// `(builder index, batch)` pairs as change batches of their builders' tables.
    pub(crate) fn change_batches(
        &self,
        rows: Vec<(usize, RecordBatch)>,
    ) -> Vec<crate::arrow::ChangeBatch> {
        let out = rows
            .into_iter()
            .map(|(b, batch)| {
                let table = self.builders[b].table();
                crate::arrow::ChangeBatch {
                    table: table.table.clone(),
                    schema_version: table.schema_version,
                    batch,
                }
            })
            .collect();
        crate::arrow::SchemaVersions::stamp_all(self.schema_versions.as_ref(), out)
    }

    /// Takes every row of the open transaction out of its builders (and its carried rows), in
    /// order; committed rows before them in those builders go to `ready`.
    pub(crate) fn split_open_rows(
        &mut self,
    ) -> std::result::Result<Vec<(usize, RecordBatch)>, (usize, ArrowError)> {
        let mut out: Vec<(usize, RecordBatch)> = std::mem::take(&mut self.txn.carried);
        for i in 0..self.txn.touched.len() {
            let (b, from) = self.txn.touched[i];
            let Some(builder) = self.builders.get_mut(b) else {
                continue;
            };
            let committed =
                builder.len() - builder.current_rows() + from.min(builder.current_rows());
            let all = builder.flush().map_err(|e| (b, e))?;
            let mut left = committed;
            for batch in all {
                let n = batch.num_rows();
                if left >= n {
                    left -= n;
                    self.ready.push((b, batch));
                } else {
                    if left > 0 {
                        self.ready.push((b, batch.slice(0, left)));
                    }
                    out.push((b, batch.slice(left, n - left)));
                    left = 0;
                }
            }
            self.txn.touched[i].1 = 0;
        }
        Ok(out)
    }

    /// How the last transaction whose rows [`Self::take_open_rows`] took ended, once (None while
    /// it is open or when there is none).
    pub fn take_outcome(&mut self) -> Option<TakenOutcome> {
        self.taken_outcome.take()
    }

    /// True while a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.txn.open
    }

    /// Turns a TABLE_MAP into a resolved table with its change builder, starting a new schema
    /// version when the table's column shape changed.
    pub(crate) fn resolve_table(
        &mut self,
        tm: TableMap,
        offset: u64,
    ) -> Result<Arc<ResolvedTable>> {
        let mut tm = tm;
        self.apply_details(&mut tm);
        let name = format!("{}.{}", tm.database, tm.table);
        let n = tm.columns.len();
        let mut codecs = Vec::with_capacity(n);
        for (i, c) in tm.columns.iter().enumerate() {
            codecs.push(c.codec().map_err(|detail| {
                Error::UnsupportedType {
                    table: name.clone(),
                    column: tm
                        .names
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| format!("col_{}", i + 1)),
                    type_name: format!("MySQL type code {}", c.type_code),
                    at: self.loc(offset),
                    detail,
                }
            })?);
        }
        let provided = self.schemas.get(&(tm.database.clone(), tm.table.clone()));
        let mut extra = Vec::new();
        let names: Vec<String> = if tm.names.len() == n {
            tm.names.clone()
        } else if let Some((names, _)) = provided {
            // A MINIMAL TABLE_MAP (MySQL "binlog_row_metadata") has no names: the schema given
            // by the caller must describe exactly these columns, or the rows would be assigned
            // to the wrong names.
            if names.len() != n {
                return Err(Error::SchemaChange {
                    table: name,
                    at: self.loc(offset),
                    detail: format!(
                        "the binlog row has {n} columns but the known schema has {} ({}); \
                         the table changed without a DDL statement in this stream",
                        names.len(),
                        names.join(", ")
                    ),
                });
            }
            names.clone()
        } else {
            extra.push((
                "arrowtail.column_names".to_string(),
                "generated".to_string(),
            ));
            (1..=n).map(|i| format!("col_{i}")).collect()
        };
        let mut pk: Vec<String> = tm
            .primary_key
            .iter()
            .filter_map(|&i| names.get(i).cloned())
            .collect();
        if pk.is_empty() {
            if let Some((_, p)) = provided {
                pk = p.clone();
            }
        }
        if !tm.has_signedness && codecs.iter().any(|c| matches!(c, Codec::Int { .. })) {
            extra.push((
                "arrowtail.signedness".to_string(),
                "assumed-signed".to_string(),
            ));
        }
        let columns: Vec<Field> = names
            .iter()
            .zip(&codecs)
            .map(|(nm, c)| Field::new(nm, c.arrow_type(), true))
            .collect();
        let pk_index: Vec<usize> = pk
            .iter()
            .filter_map(|k| names.iter().position(|x| x == k))
            .collect();
        let builder = self.builder_for(&name, columns, pk, extra, offset)?;
        Ok(Arc::new(ResolvedTable::new(
            name, codecs, builder, pk_index,
        )))
    }

    /// Fills signedness, collations and ENUM/SET labels that the TABLE_MAP lacks from the details
    /// given with [`BinlogDecoder::set_column_details`], when the column counts agree.
    fn apply_details(&self, tm: &mut TableMap) {
        let key = (tm.database.clone(), tm.table.clone());
        let Some(details) = self.details.get(&key) else {
            return;
        };
        if details.len() != tm.columns.len() {
            return;
        }
        let fill_sign = !tm.has_signedness;
        for (c, d) in tm.columns.iter_mut().zip(details) {
            if fill_sign && is_numeric(c.real_type()) {
                c.unsigned = Some(d.unsigned);
            }
            if c.collation.is_none() && c.is_character() {
                c.collation = d.collation;
            }
            if c.is_enum_or_set() && c.enum_values.is_none() && c.set_values.is_none() {
                if c.real_type() == mysql::code::ENUM {
                    c.enum_values = d.labels.clone();
                } else {
                    c.set_values = d.labels.clone();
                }
            }
        }
        if fill_sign {
            tm.has_signedness = true;
        }
    }

    /// The builder of a table with this exact shape, creating a new schema version if needed.
    pub(crate) fn builder_for(
        &mut self,
        name: &str,
        columns: Vec<Field>,
        primary_key: Vec<String>,
        extra_metadata: Vec<(String, String)>,
        offset: u64,
    ) -> Result<usize> {
        if let Some(&(b, _)) = self.current_version.get(name) {
            let t = self.builders[b].table();
            if t.columns == columns
                && t.primary_key == primary_key
                && t.extra_metadata == extra_metadata
            {
                return Ok(b);
            }
        }
        let version = self.current_version.get(name).map_or(1, |&(_, v)| v + 1);
        let schema = Arc::new(TableSchema {
            source: SourceKind::MySql,
            table: name.to_string(),
            schema_version: version,
            columns,
            primary_key,
            extra_metadata,
        });
        // Row values of the common types go into plain vectors (see `crate::arrow::plain`),
        // which a table's builder keeps sized from batch to batch; the `_ddl` table's text
        // columns stay in Arrow's builders, as its handler fills them.
        let plain = name != DDL_TABLE;
        let mut builder = ChangeBuilder::with_columns(schema, |_, dt| {
            match PlainColumn::new(dt).filter(|_| plain && has_plain_storage(dt)) {
                Some(p) => Ok(ColumnBuilder::Plain(p)),
                None => ColumnBuilder::new(dt),
            }
        })
        .map_err(|source| Error::Arrow {
            table: name.to_string(),
            at: self.loc(offset),
            source,
        })?;
        builder.set_byte_limit(self.opts.byte_limit);
        if self.row_gtid {
            builder.enable_gtid();
        }
        self.builders.push(builder);
        let idx = self.builders.len() - 1;
        self.current_version
            .insert(name.to_string(), (idx, version));
        Ok(idx)
    }

    /// The builder of the `_ddl` pseudo-table (columns `database`, `statement`).
    pub(crate) fn ddl_builder(&mut self, offset: u64) -> Result<usize> {
        let cols = vec![
            Field::new("database", DataType::Utf8, true),
            Field::new("statement", DataType::Utf8, true),
        ];
        self.builder_for(DDL_TABLE, cols, Vec::new(), Vec::new(), offset)
    }
}

/// The Arrow types of binlog columns that the value decoder stores in a [`PlainColumn`]
/// (`types::mysql::value`'s plain arms): integers of 16, 32 (signed and unsigned) and 64 bits,
/// floats, decimals, dates, timestamps, text and binary strings.
fn has_plain_storage(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt32
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(_, _)
            | DataType::Utf8
            | DataType::Binary
            | DataType::Date32
            | DataType::Timestamp(TimeUnit::Microsecond, _)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::ColumnDetail;
    use crate::types::mysql::{code, ColumnInfo};

    fn minimal_map() -> TableMap {
        let col = |type_code, meta| ColumnInfo {
            type_code,
            meta,
            ..Default::default()
        };
        TableMap {
            table_id: 1,
            database: "db".into(),
            table: "t".into(),
            columns: vec![
                col(code::LONG, [0, 0]),
                col(code::BLOB, [2, 0]),
                col(code::STRING, [code::SET, 1]),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn minimal_table_map_takes_the_given_column_details() {
        let mut d = BinlogDecoder::default();
        d.set_table_schema("db", "t", vec!["u".into(), "tx".into(), "s".into()], vec![]);
        d.set_column_details(
            "db",
            "t",
            vec![
                ColumnDetail {
                    unsigned: true,
                    ..Default::default()
                },
                ColumnDetail {
                    collation: Some(45),
                    ..Default::default()
                },
                ColumnDetail {
                    labels: Some(vec!["x".into(), "y".into()]),
                    ..Default::default()
                },
            ],
        );
        let t = d.resolve_table(minimal_map(), 4).unwrap();
        assert_eq!(t.codecs[0].arrow_type(), DataType::UInt32);
        assert_eq!(t.codecs[1].arrow_type(), DataType::Utf8);
        assert!(matches!(&t.codecs[2], Codec::Set { labels, .. } if labels == &["x", "y"]));
        let schema = d.builders[t.builder].schema().clone();
        assert!(!schema.metadata().contains_key("arrowtail.signedness"));
    }

    #[test]
    fn known_schema_of_another_column_count_is_a_schema_change() {
        let mut d = BinlogDecoder::default();
        d.set_table_schema("db", "t", vec!["a".into(), "b".into()], vec!["a".into()]);
        let err = d.resolve_table(minimal_map(), 1234).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::SchemaChange { .. }), "{text}");
        assert!(text.contains("db.t"), "{text}");
        assert!(text.contains("1234"), "{text}");
        assert!(
            text.contains("3 columns but the known schema has 2"),
            "{text}"
        );
    }

    #[test]
    fn without_a_known_schema_names_are_generated() {
        let mut d = BinlogDecoder::default();
        let t = d.resolve_table(minimal_map(), 4).unwrap();
        let schema = d.builders[t.builder].schema().clone();
        assert_eq!(schema.field(0).name(), "col_1");
        assert_eq!(
            schema
                .metadata()
                .get("arrowtail.column_names")
                .map(String::as_str),
            Some("generated")
        );
    }

    #[test]
    fn details_of_another_column_count_are_ignored() {
        let mut d = BinlogDecoder::default();
        d.set_column_details("db", "t", vec![ColumnDetail::default()]);
        let t = d.resolve_table(minimal_map(), 4).unwrap();
        assert_eq!(t.codecs[0].arrow_type(), DataType::Int32);
        assert_eq!(t.codecs[1].arrow_type(), DataType::Binary);
    }
}
