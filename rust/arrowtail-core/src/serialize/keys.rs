//! What the Kafka serializers read from a change batch before any row: the table names of the
//! schema metadata, the user columns, the primary-key columns and each row's `_op`
//! ([`BatchParts`]); and the key-only pass ([`row_keys`]) that gives every row its Debezium key
//! without writing any value, for sinks that partition by key but send something else (Arrow IPC).

// The core's one error enum is large (it carries a `Location`); it is returned once per batch.
#![allow(clippy::result_large_err)]

use arrow_array::builder::BinaryBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch};
use arrow_schema::{DataType, Field};

use super::debezium::{wrap, DebeziumOptions};
use super::encoder::{self, NoEncoder, ObjectEncoder};
use super::marks::SnapshotMarks;
use super::schema;
use super::txmeta::RowTx;
use super::Forms;
use crate::arrow::change::names;
use crate::{Error, Location, Result};

/// The error for a batch that does not follow the change-batch contract (docs/design.md).
pub(super) fn bad(detail: impl Into<String>) -> Error {
    Error::Config(format!("not a change batch: {}", detail.into()))
}

/// A contract column by name.
pub(super) fn column<'b>(batch: &'b RecordBatch, name: &str) -> Result<&'b ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| bad(format!("no {name} column")))
}

/// The user columns a row did not send (`_unchanged`), as column indexes, looked up per row.
pub(super) struct NotSent<'b> {
    lists: &'b arrow_array::ListArray,
    names: Option<&'b arrow_array::StringArray>,
    index: std::collections::HashMap<&'b str, usize>,
}

impl<'b> NotSent<'b> {
    /// Reads `_unchanged` of `batch`, whose user columns are `user_fields`.
    pub(super) fn new(batch: &'b RecordBatch, user_fields: &[&'b Field]) -> Result<Self> {
        let lists = column(batch, names::UNCHANGED)?
            .as_list_opt::<i32>()
            .ok_or_else(|| bad("_unchanged is not a list"))?;
        Ok(Self {
            lists,
            names: lists.values().as_string_opt::<i32>(),
            index: user_fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name().as_str(), i))
                .collect(),
        })
    }

    /// Replaces `out` with the indexes of the columns row `row` did not send.
    pub(super) fn fill(&self, row: usize, out: &mut Vec<usize>) {
        out.clear();
        let Some(names) = self.names else { return };
        if !self.lists.is_valid(row) {
            return;
        }
        let offsets = self.lists.value_offsets();
        for j in offsets[row] as usize..offsets[row + 1] as usize {
            if let Some(&c) = self.index.get(names.value(j)) {
                out.push(c);
            }
        }
    }
}

/// What decides a row's `source` block besides `_seq`: `_pos`, `_xid`, `_commit_ts`, the
/// snapshot marker, the change's own `(lsn, last commit lsn)` when the batch carries them, and
/// its transaction's GTID.
pub(super) type SourceKey<'a> = (u64, u64, i64, &'a str, Option<(u64, u64)>, Option<&'a str>);

/// The columns that place a row in its transaction, read once per batch by both serializers:
/// `_pos`, `_seq`, `_xid`, `_commit_ts`, and the optional ones:
/// - `_lsn` and `_last_commit_lsn` (PostgreSQL, opt-in), each change's own WAL position:
///   `source.lsn` is then the change's LSN and `source.sequence` `["<last commit lsn>","<lsn>"]`,
///   as Debezium's PostgreSQL connector writes them (the first element null before any commit
///   was seen);
/// - `_gtid` (MySQL/MariaDB, opt-in), the GTID of the row's transaction.
pub(super) struct TxColumns<'b> {
    pos: &'b arrow_array::UInt64Array,
    seq: &'b arrow_array::UInt32Array,
    xid: &'b arrow_array::UInt64Array,
    commit_ts: &'b arrow_array::TimestampMicrosecondArray,
    lsn: Option<(&'b arrow_array::UInt64Array, &'b arrow_array::UInt64Array)>,
    gtid: Option<&'b arrow_array::StringArray>,
}

impl<'b> TxColumns<'b> {
    /// The columns of `batch`; an error when a contract column is missing or mistyped.
    pub(super) fn of(batch: &'b RecordBatch) -> Result<Self> {
        use arrow_array::types::{TimestampMicrosecondType, UInt32Type, UInt64Type};
        let u64s = |name: &str| -> Result<&'b arrow_array::UInt64Array> {
            column(batch, name)?
                .as_primitive_opt::<UInt64Type>()
                .ok_or_else(|| bad(format!("{name} is not uint64")))
        };
        let optional = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_primitive_opt::<UInt64Type>())
        };
        let lsn = optional(names::LSN).zip(optional(names::LAST_COMMIT_LSN));
        Ok(Self {
            pos: u64s(names::POS)?,
            seq: column(batch, names::SEQ)?
                .as_primitive_opt::<UInt32Type>()
                .ok_or_else(|| bad("_seq is not uint32"))?,
            xid: u64s(names::XID)?,
            commit_ts: column(batch, names::COMMIT_TS)?
                .as_primitive_opt::<TimestampMicrosecondType>()
                .ok_or_else(|| bad("_commit_ts is not timestamp[us]"))?,
            lsn,
            gtid: batch
                .column_by_name(names::GTID)
                .and_then(|c| c.as_string_opt::<i32>()),
        })
    }

    /// Row `i`'s `_seq`.
    pub(super) fn seq(&self, i: usize) -> u32 {
        self.seq.value(i)
    }

    /// Row `i`'s [`SourceKey`], with its snapshot `marker`.
    pub(super) fn key(&self, i: usize, marker: &'b str) -> SourceKey<'b> {
        let lsn = self.lsn.map(|(l, c)| (l.value(i), c.value(i)));
        let gtid = self.gtid.and_then(|g| g.is_valid(i).then(|| g.value(i)));
        let (pos, xid, ts) = (
            self.pos.value(i),
            self.xid.value(i),
            self.commit_ts.value(i),
        );
        (pos, xid, ts, marker, lsn, gtid)
    }

    /// What the `transaction` block of row `i` (whose key is `key`) is made of;
    /// `binlog_basename` for MySQL/MariaDB.
    pub(super) fn row_tx<'a>(
        &self,
        i: usize,
        key: &SourceKey<'a>,
        binlog_basename: Option<&'a str>,
    ) -> RowTx<'a> {
        RowTx {
            pos: key.0,
            xid: key.1,
            commit_ts_us: key.2,
            seq: self.seq(i),
            lsn: key.4.unwrap_or((key.0, 0)),
            binlog: binlog_basename.map(|b| (b, key.5)),
        }
    }
}

/// The text of Debezium's `source.sequence`: `["<last commit>","<lsn>"]`, `[null,"<lsn>"]` when
/// no commit was seen before (`last_commit` 0).
pub(super) fn sequence_text(lsn: u64, last_commit: u64) -> String {
    if last_commit == 0 {
        format!("[null,\"{lsn}\"]")
    } else {
        format!("[\"{last_commit}\",\"{lsn}\"]")
    }
}

/// The `names_of` columns among `fields`/`arrays`, in the order of `names_of`.
pub(super) fn pick<'f>(
    names_of: &[&str],
    fields: &[&'f Field],
    arrays: &[ArrayRef],
) -> Result<(Vec<&'f Field>, Vec<ArrayRef>)> {
    let mut fs = Vec::with_capacity(names_of.len());
    let mut arrs = Vec::with_capacity(names_of.len());
    for k in names_of {
        let (f, a) = fields
            .iter()
            .zip(arrays)
            .find(|(f, _)| f.name() == k)
            .ok_or_else(|| bad(format!("primary key column {k} missing")))?;
        fs.push(*f);
        arrs.push(a.clone());
    }
    Ok((fs, arrs))
}

/// Which Debezium connector's `source` block and schema names the events follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connector {
    Postgres,
    MySql,
    MariaDb,
}

impl Connector {
    /// `source.connector`.
    pub fn name(self) -> &'static str {
        match self {
            Connector::Postgres => "postgresql",
            Connector::MySql => "mysql",
            Connector::MariaDb => "mariadb",
        }
    }

    /// The name of the `source` schema.
    pub fn source_record(self) -> &'static str {
        match self {
            Connector::Postgres => "io.debezium.connector.postgresql.Source",
            Connector::MySql => "io.debezium.connector.mysql.Source",
            Connector::MariaDb => "io.debezium.connector.mariadb.Source",
        }
    }
}

/// The parts of a change batch both serializers start from.
pub(super) struct BatchParts<'b> {
    /// `schema.table` from `arrowtail.table`.
    pub qualified: &'b str,
    /// Schema (PostgreSQL) or database (MySQL) of the table.
    pub ns: &'b str,
    /// Table name without its namespace.
    pub table: &'b str,
    /// The batch comes from MySQL/MariaDB (`arrowtail.source`).
    pub mysql: bool,
    /// The Debezium connector whose events these resemble (`arrowtail.flavor` tells MariaDB).
    pub connector: Connector,
    /// Primary-key column names (`arrowtail.primary_key`), empty for keyless tables.
    pub pk: Vec<&'b str>,
    /// Columns declared NOT NULL at the source (`arrowtail.not_null`, comma-separated).
    pub not_null: Vec<&'b str>,
    /// PostgreSQL database (`arrowtail.database`).
    pub database: Option<&'b str>,
    /// MySQL binlog base name and server id (`arrowtail.binlog_basename`, `arrowtail.server_id`).
    pub binlog_basename: Option<&'b str>,
    pub server_id: Option<u32>,
    /// User columns: every field before `_op`.
    pub user_fields: Vec<&'b Field>,
    pub user_arrays: &'b [ArrayRef],
    /// The primary-key columns among the user columns.
    pub key_fields: Vec<&'b Field>,
    pub key_arrays: Vec<ArrayRef>,
    /// Number of rows.
    pub rows: usize,
    /// `_op` of row `i` (plain or dictionary-encoded strings).
    pub op: Box<dyn Fn(usize) -> &'b str + 'b>,
    /// Each row's `source.snapshot` marker.
    pub marks: SnapshotMarks,
}

impl<'b> BatchParts<'b> {
    /// Reads the metadata, user, key and `_op` columns of `batch`.
    pub fn new(batch: &'b RecordBatch) -> Result<Self> {
        let schema = batch.schema_ref();
        let md = schema.metadata();
        let qualified = md.get("arrowtail.table").map(String::as_str).unwrap_or("");
        let (ns, table) = qualified.split_once('.').unwrap_or(("", qualified));
        let mysql = md.get("arrowtail.source").map(String::as_str) == Some("mysql");
        let connector = match (mysql, md.get("arrowtail.flavor").map(String::as_str)) {
            (false, _) => Connector::Postgres,
            (true, Some("mariadb")) => Connector::MariaDb,
            (true, _) => Connector::MySql,
        };
        // Columns named only because the replica identity covers them all (a table without a
        // primary key under REPLICA IDENTITY FULL) are no key: Debezium writes none then.
        let identity_only =
            md.get("arrowtail.primary_key_from").map(String::as_str) == Some("replica_identity");
        let pk: Vec<&str> = md
            .get("arrowtail.primary_key")
            .filter(|_| !identity_only)
            .map(|s| s.split(',').filter(|c| !c.is_empty()).collect())
            .unwrap_or_default();
        let not_null: Vec<&str> = md
            .get("arrowtail.not_null")
            .map(|s| s.split(',').filter(|c| !c.is_empty()).collect())
            .unwrap_or_default();
        let named = |k: &str| md.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let database = named("arrowtail.database");
        let binlog_basename = named("arrowtail.binlog_basename");
        let server_id = named("arrowtail.server_id").and_then(|v| v.parse().ok());
        // User columns are everything before `_op`.
        let n_user = schema
            .index_of(names::OP)
            .map_err(|_| bad("no _op column"))?;
        let user_fields: Vec<&Field> = schema
            .fields()
            .iter()
            .take(n_user)
            .map(|f| f.as_ref())
            .collect();
        let user_arrays = batch.columns().get(..n_user).unwrap_or(&[]);
        let (key_fields, key_arrays) = pick(&pk, &user_fields, user_arrays)?;
        let op_col = column(batch, names::OP)?;
        let op: Box<dyn Fn(usize) -> &'b str + 'b> = match op_col.data_type() {
            DataType::Utf8 => {
                let a = op_col.as_string::<i32>();
                Box::new(move |i| a.value(i))
            }
            DataType::Dictionary(_, v) if v.as_ref() == &DataType::Utf8 => {
                let d = op_col
                    .as_any_dictionary_opt()
                    .ok_or_else(|| bad("_op dictionary"))?;
                let keys = d.normalized_keys();
                let values = d.values().as_string::<i32>();
                Box::new(move |i| values.value(keys.get(i).copied().unwrap_or(0)))
            }
            other => return Err(bad(format!("_op has type {other}"))),
        };
        let marks = SnapshotMarks::new(schema)?;
        Ok(Self {
            qualified,
            ns,
            table,
            mysql,
            connector,
            pk,
            not_null,
            database,
            binlog_basename,
            server_id,
            user_fields,
            user_arrays,
            key_fields,
            key_arrays,
            rows: batch.num_rows(),
            op,
            marks,
        })
    }

    /// Turns an encoder failure into the error naming this table.
    pub fn unsupported(&self, e: NoEncoder) -> Error {
        Error::UnsupportedType {
            table: self.qualified.to_string(),
            column: String::new(),
            type_name: String::new(),
            at: Location::Unknown,
            detail: e.0,
        }
    }

    /// The value forms of this batch's connector under `opts`.
    pub fn forms(&self, opts: &DebeziumOptions) -> Forms {
        Forms {
            snapshot: self.rows > 0 && (self.op)(0) == "r",
            ..Forms::of(self.connector, opts.decimals)
        }
    }

    /// The JSON encoder of the primary key over the row image.
    pub fn key_encoder(&self, opts: &DebeziumOptions) -> Result<ObjectEncoder<'_>> {
        encoder::object_encoder(
            &self.key_arrays,
            self.key_fields.iter().copied(),
            self.forms(opts),
        )
        .map_err(|e| self.unsupported(e))
    }

    /// The row has a key: the table has a primary key and the change is not a truncate.
    pub fn has_key(&self, op: &str) -> bool {
        !self.pk.is_empty() && op != "t"
    }
}

/// The Debezium key of every row of a change batch, exactly the bytes
/// [`serialize`](super::serialize) sends as the key of the row's last message (so a key-changing
/// update has its new key), wrapped with the key schema when [`DebeziumOptions::schemas`] is
/// set; null for keyless tables and truncates. No value is written.
pub fn row_keys(batch: &RecordBatch, opts: &DebeziumOptions) -> Result<BinaryArray> {
    let parts = BatchParts::new(batch)?;
    let key_enc = parts.key_encoder(opts)?;
    let key_schema = if opts.schemas {
        let (k, _) = schema::schemas(
            opts,
            parts.qualified,
            parts.connector,
            &parts.user_fields,
            &parts.key_fields,
            &parts.not_null,
        )
        .map_err(|e| parts.unsupported(e))?;
        Some(k)
    } else {
        None
    };
    let rows = batch.num_rows();
    let mut keys = BinaryBuilder::with_capacity(rows, rows * 16);
    let mut buf = Vec::new();
    for i in 0..rows {
        if !parts.has_key((parts.op)(i)) {
            keys.append_null();
            continue;
        }
        buf.clear();
        key_enc.write(&mut buf, i, |_| false);
        match &key_schema {
            Some(s) => keys.append_value(wrap(s, &buf)),
            None => keys.append_value(&buf),
        }
    }
    Ok(keys.finish())
}

#[cfg(test)]
#[path = "lsn_tests.rs"]
mod lsn_tests;
