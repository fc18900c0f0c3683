//! Debezium events in Avro, framed for a Confluent-compatible schema registry: the same keys,
//! envelopes and values as the JSON path (`debezium.rs`), written as Avro binary straight from the
//! Arrow arrays, each message `0x00`, the schema id (4 bytes, big-endian), the Avro datum.
//!
//! A table has two schemas ([`schemas`]): the key record `<prefix>.<schema>.<table>.Key` of its
//! primary-key columns and the envelope `<prefix>.<schema>.<table>.Envelope`, whose `before` and
//! `after` are both the record `<prefix>.<schema>.<table>.Value` (one Avro name has one
//! definition). The sink registers them, then [`serialize`] writes the messages with their ids.
//!
//! Differences from the JSON path, all forced by Avro:
//!
//! - Every column of `Value` is nullable: `before` and `after` share the record, and an old image
//!   that carries only the key (a delete under REPLICA IDENTITY DEFAULT) has nulls where the
//!   columns are NOT NULL. Key columns are required, except `--key-columns` columns that the
//!   source does not declare NOT NULL.
//! - A value the source did not send (`_unchanged`) is Debezium's placeholder in string and
//!   bytes columns (as bytes of the text) and null in columns of other types, where Avro has no
//!   room for it; with [`Unavailable::Omit`] it is null everywhere (Avro has no absent field).
//! - Names Avro does not accept are adjusted ([`types::avro_name`]).

// The core's one error enum is large (it carries a `Location`); it is returned once per batch.
#![allow(clippy::result_large_err)]

pub mod binary;
pub mod types;

use arrow_array::builder::BinaryBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Int32Array, RecordBatch, UInt32Array};
use arrow_schema::Field;

use self::binary::{nullable, value_encoder, write_long, write_string, Encoder};
use self::types::{ColumnType, Primitive};
use super::debezium::{DebeziumOptions, Serialized};
use super::encoder::{NoEncoder, Unavailable, Unsent, HSTORE_UNAVAILABLE, UNAVAILABLE};
use super::keys::{
    bad, column, sequence_text, BatchParts, Connector, NotSent, SourceKey, TxColumns,
};
use super::txmeta::TxBlocks;
use super::Forms;
use crate::arrow::change::names;
use crate::partition::partition_for_key;
use crate::{Error, Result};

/// The Avro schema texts of a batch's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvroSchemas {
    /// The key record; None for a table without a key.
    pub key: Option<String>,
    /// The envelope.
    pub value: String,
    /// Full name of the key record (`<prefix>.<schema>.<table>.Key`, adjusted for Avro).
    pub key_name: String,
    /// Full name of the envelope record.
    pub value_name: String,
}

/// Registry ids of the schemas a batch's messages are written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaIds {
    /// Id of the key schema; required when the table has a key.
    pub key: Option<u32>,
    pub value: u32,
}

/// The per-batch facts both entry points need: column types and key optionality.
struct Layout<'b> {
    parts: BatchParts<'b>,
    base: String,
    columns: Vec<ColumnType>,
    /// Per key column: its type and whether it is nullable.
    key: Vec<(ColumnType, bool)>,
}

impl<'b> Layout<'b> {
    fn new(batch: &'b RecordBatch, opts: &DebeziumOptions) -> Result<Self> {
        let parts = BatchParts::new(batch)?;
        let unsupported = |e: NoEncoder| parts.unsupported(e);
        // Defaults take the connector's forms, not the batch's: a snapshot's schema and the
        // stream's are the same.
        let forms = Forms::of(parts.connector, opts.decimals);
        let columns = parts
            .user_fields
            .iter()
            .map(|f| {
                let mut t = types::column_type(f, opts.decimals)?;
                t.default = types::missing_default(f, &t, forms);
                Ok(t)
            })
            .collect::<std::result::Result<Vec<_>, NoEncoder>>()
            .map_err(unsupported)?;
        // Columns chosen by --key-columns may hold NULLs unless the source says NOT NULL; a
        // primary key never does.
        let chosen = batch
            .schema_ref()
            .metadata()
            .get("arrowtail.key_from")
            .is_some_and(|v| v == "key_columns");
        let key = parts
            .key_fields
            .iter()
            .map(|f| {
                let optional = chosen && !parts.not_null.contains(&f.name().as_str());
                Ok((types::column_type(f, opts.decimals)?, optional))
            })
            .collect::<std::result::Result<Vec<_>, NoEncoder>>()
            .map_err(unsupported)?;
        let base = format!("{}.{}", opts.topic_prefix, parts.qualified);
        Ok(Self {
            parts,
            base,
            columns,
            key,
        })
    }

    fn schemas(&self) -> AvroSchemas {
        let p = &self.parts;
        let value_columns: Vec<(&str, &ColumnType, bool)> = p
            .user_fields
            .iter()
            .zip(&self.columns)
            .map(|(f, t)| (f.name().as_str(), t, true))
            .collect();
        let key_columns: Vec<(&str, &ColumnType, bool)> = p
            .key_fields
            .iter()
            .zip(&self.key)
            .map(|(f, (t, optional))| (f.name().as_str(), t, *optional))
            .collect();
        AvroSchemas {
            key: (!p.pk.is_empty()).then(|| types::key_schema(&self.base, &key_columns)),
            value: types::envelope_schema(&self.base, p.connector, &value_columns),
            key_name: types::full_name(&format!("{}.Key", self.base)),
            value_name: types::full_name(&format!("{}.Envelope", self.base)),
        }
    }
}

/// The Avro key and envelope schemas of a change batch's table.
pub fn schemas(batch: &RecordBatch, opts: &DebeziumOptions) -> Result<AvroSchemas> {
    Ok(Layout::new(batch, opts)?.schemas())
}

/// Writes a record of `columns` at row `i`: each field a nullable union unless it is a required
/// key column. `skip(c)`: the source did not send column `c`.
struct RecordEncoder<'a> {
    /// Per column: the encoder (None: the column is absent from this image, always null), whether
    /// the field is a union, whether an unsent value can be the placeholder, and its nulls.
    columns: Vec<ColumnEncoder<'a>>,
}

struct ColumnEncoder<'a> {
    encode: Option<Encoder<'a>>,
    union: bool,
    /// The union's branch index byte for null: 0 in `["null", T]`, 2 (branch 1) in `[T, "null"]`,
    /// the order of a field with a default.
    null_branch: u8,
    /// How Debezium's placeholder is written in this column, if it can hold it.
    unsent: Unsent,
    array: Option<&'a dyn Array>,
    name: String,
}

impl<'a> RecordEncoder<'a> {
    fn new(
        arrays: &[Option<(&'a ArrayRef, &Field)>],
        columns: &[(&ColumnType, bool)],
        forms: Forms,
    ) -> std::result::Result<Self, NoEncoder> {
        let mut out = Vec::with_capacity(columns.len());
        for (slot, (t, union)) in arrays.iter().zip(columns) {
            let unsent = slot.map_or(Unsent::Null, |(_, f)| unsent_form(f, t, forms));
            let (encode, array, name) = match *slot {
                Some((a, f)) => {
                    let enc = if *union {
                        nullable(a.as_ref(), f, t, forms)?
                    } else {
                        value_encoder(a.as_ref(), f, t, forms)?
                    };
                    (Some(enc), Some(a.as_ref() as &dyn Array), f.name().clone())
                }
                None => (None, None, String::new()),
            };
            out.push(ColumnEncoder {
                encode,
                union: *union,
                null_branch: if *union && t.default.is_some() { 2 } else { 0 },
                unsent,
                array,
                name,
            });
        }
        Ok(Self { columns: out })
    }

    /// Appends the record of row `i`; an error names a required column that is null.
    fn write(
        &self,
        out: &mut Vec<u8>,
        i: usize,
        skip: impl Fn(usize) -> bool,
        unavailable: Unavailable,
    ) -> std::result::Result<(), String> {
        for (c, col) in self.columns.iter().enumerate() {
            if skip(c) {
                if col.unsent == Unsent::Null || unavailable != Unavailable::Placeholder {
                    out.push(col.null_branch);
                } else {
                    out.push(2 - col.null_branch);
                    write_unsent(out, col.unsent);
                }
                continue;
            }
            match (&col.encode, col.union) {
                (Some(enc), true) => {
                    let at = out.len();
                    enc(out, i);
                    // The union encoders write `["null", T]`'s branch first (0 or 2).
                    if col.null_branch != 0 {
                        out[at] = 2 - out[at];
                    }
                }
                (Some(enc), false) => {
                    if col.array.is_some_and(|a| a.is_null(i)) {
                        return Err(col.name.clone());
                    }
                    enc(out, i)
                }
                (None, _) => out.push(col.null_branch),
            }
        }
        Ok(())
    }
}

/// The form of Debezium's placeholder in a column of Avro type `t` ([`Unsent::of`], or the
/// string without [`Forms::typed_unsent`]), where the type can hold it.
fn unsent_form(field: &Field, t: &ColumnType, forms: Forms) -> Unsent {
    let items = t.items.as_deref();
    let form = if forms.typed_unsent {
        Unsent::of(field)
    } else {
        Unsent::Text
    };
    match form {
        u @ (Unsent::Text | Unsent::Bytes | Unsent::Hstore) if t.takes_placeholder() => u,
        Unsent::TextList
            if items.is_some_and(|i| i.primitive == Primitive::String && i.takes_placeholder()) =>
        {
            Unsent::TextList
        }
        Unsent::NumberList
            if items.is_some_and(|i| matches!(i.primitive, Primitive::Int | Primitive::Long)) =>
        {
            Unsent::NumberList
        }
        _ => Unsent::Null,
    }
}

/// Writes the placeholder in its form (not [`Unsent::Null`]): a string or bytes, or an array of
/// nullable items (the string, or its bytes as numbers).
fn write_unsent(out: &mut Vec<u8>, form: Unsent) {
    match form {
        Unsent::Text | Unsent::Bytes => write_string(out, UNAVAILABLE),
        Unsent::Hstore => write_string(out, HSTORE_UNAVAILABLE),
        Unsent::TextList => {
            write_long(out, 1);
            out.push(2);
            write_string(out, UNAVAILABLE);
            out.push(0);
        }
        Unsent::NumberList => {
            write_long(out, UNAVAILABLE.len() as i64);
            for b in UNAVAILABLE.bytes() {
                out.push(2);
                write_long(out, i64::from(b));
            }
            out.push(0);
        }
        Unsent::Null => out.push(0),
    }
}

/// The Confluent wire-format header: magic byte 0 and the schema id, big-endian.
fn header(out: &mut Vec<u8>, id: u32) {
    out.push(0);
    out.extend_from_slice(&id.to_be_bytes());
}

/// Serializes every row of a change batch into Avro keys and values in the Confluent wire format,
/// with the registry ids of the schemas [`schemas`] gives for the batch. Messages, rows and
/// partitions as [`super::serialize`] gives them (a key change: delete, tombstone, create).
pub fn serialize(
    batch: &RecordBatch,
    opts: &DebeziumOptions,
    ids: SchemaIds,
) -> Result<Serialized> {
    let layout = Layout::new(batch, opts)?;
    let bp = &layout.parts;
    let unsupported = |e: NoEncoder| bp.unsupported(e);
    if !bp.pk.is_empty() && ids.key.is_none() {
        return Err(Error::Config(format!(
            "table {} has a key: its Avro key schema id is needed",
            bp.qualified
        )));
    }
    let user_fields = &bp.user_fields;
    let value_types: Vec<(&ColumnType, bool)> = layout.columns.iter().map(|t| (t, true)).collect();
    let row_slots: Vec<Option<(&ArrayRef, &Field)>> = bp
        .user_arrays
        .iter()
        .zip(user_fields.iter().copied())
        .map(Some)
        .collect();
    let forms = bp.forms(opts);
    let after = RecordEncoder::new(&row_slots, &value_types, forms).map_err(unsupported)?;

    let cols = TxColumns::of(batch)?;
    let before_col = column(batch, names::BEFORE)?
        .as_struct_opt()
        .ok_or_else(|| bad("_before is not a struct"))?;
    // The old image's columns by the row's names; the row's fields carry the source-type
    // metadata the encoders read.
    let before_slot = |f: &Field| {
        before_col
            .fields()
            .iter()
            .position(|b| b.name() == f.name() && b.data_type() == f.data_type())
            .map(|j| &before_col.columns()[j])
    };
    let before_slots: Vec<Option<(&ArrayRef, &Field)>> = user_fields
        .iter()
        .map(|f| before_slot(f).map(|a| (a, *f)))
        .collect();
    let before = RecordEncoder::new(&before_slots, &value_types, forms).map_err(unsupported)?;

    let key_types: Vec<(&ColumnType, bool)> = layout.key.iter().map(|(t, o)| (t, *o)).collect();
    let key_slots: Vec<Option<(&ArrayRef, &Field)>> = bp
        .key_arrays
        .iter()
        .zip(bp.key_fields.iter().copied())
        .map(Some)
        .collect();
    let key_enc = RecordEncoder::new(&key_slots, &key_types, forms).map_err(unsupported)?;
    let old_key_slots: Vec<Option<(&ArrayRef, &Field)>> = bp
        .key_fields
        .iter()
        .map(|f| before_slot(f).map(|a| (a, *f)))
        .collect();
    let old_key_enc = RecordEncoder::new(&old_key_slots, &key_types, forms).map_err(unsupported)?;
    let null_key = |column: String| {
        Error::Config(format!(
            "key column {column} of {} is null; its Avro key field is required",
            bp.qualified
        ))
    };

    let not_sent = NotSent::new(batch, user_fields)?;

    let source = SourceParts {
        connector: bp.connector,
        prefix: &opts.topic_prefix,
        ns: bp.ns,
        table: bp.table,
        database: bp.database.unwrap_or(&opts.database),
        basename: bp.binlog_basename.unwrap_or(&opts.binlog_basename),
        server_id: bp.server_id.unwrap_or(opts.server_id),
    };
    let tail = envelope_tail(opts.ts_ms, opts.ts_us);

    let rows = batch.num_rows();
    let mut keys = BinaryBuilder::with_capacity(rows, rows * 16);
    let mut values = BinaryBuilder::with_capacity(rows, rows * 128);
    let mut row_of = Vec::with_capacity(rows);
    let mut parts = Vec::with_capacity(if opts.partitions.is_some() { rows } else { 0 });
    let mut emit = |key: Option<&[u8]>, value: Option<&[u8]>, row: usize| {
        keys.append_option(key);
        values.append_option(value);
        row_of.push(row as u32);
        if let Some(n) = opts.partitions {
            // Over the exact key bytes sent, as the Java producer partitions.
            parts.push(key.and_then(|k| partition_for_key(k, n)).unwrap_or(0));
        }
    };

    let mut skip_cols: Vec<usize> = Vec::new();
    let mut key_buf = Vec::new();
    let mut old_key_buf = Vec::new();
    let mut buf = Vec::new();
    let mut blocks = TxBlocks::new(opts.transactions);
    let mut block = Vec::new();
    let mut src_tx: Option<SourceKey> = None;
    let mut src_prefix = Vec::new();
    let key_id = ids.key.unwrap_or(0);

    for i in 0..rows {
        let op = (bp.op)(i);
        not_sent.fill(i, &mut skip_cols);
        let skip = |c: usize| skip_cols.contains(&c);
        let has_key = bp.has_key(op);
        key_buf.clear();
        if has_key {
            header(&mut key_buf, key_id);
            key_enc
                .write(&mut key_buf, i, |_| false, opts.unavailable)
                .map_err(null_key)?;
        }
        let key = has_key.then_some(key_buf.as_slice());

        let tx = cols.key(i, bp.marks.marker(op, cols.seq(i)));
        if src_tx != Some(tx) {
            src_prefix.clear();
            source.prefix(&mut src_prefix, &tx);
            src_tx = Some(tx);
        }
        let env = Envelope {
            id: ids.value,
            source_prefix: &src_prefix,
            source: &source,
            seq: cols.seq(i),
            tail: &tail,
        };
        // The `transaction` block of the row's next event (none for snapshot reads and messages).
        let row_tx = cols.row_tx(i, &tx, bp.mysql.then_some(source.basename));
        let mut next_block = |block: &mut Vec<u8>| -> bool {
            block.clear();
            match blocks.as_mut().and_then(|b| b.next(op, &row_tx)) {
                Some((id, total, order)) => write_block(block, id, total, order),
                None => return false,
            }
            true
        };
        let write_after = |o: &mut Vec<u8>| after.write(o, i, skip, opts.unavailable);
        let write_before = |o: &mut Vec<u8>| before.write(o, i, |_| false, opts.unavailable);
        match op {
            "c" | "r" | "m" => {
                buf.clear();
                let b = next_block(&mut block).then_some(block.as_slice());
                env.write(&mut buf, None, Some(&write_after), op, b)
                    .map_err(null_key)?;
                emit(key, Some(&buf), i);
            }
            "u" => {
                let has_before = before_col.is_valid(i);
                old_key_buf.clear();
                if has_key && has_before {
                    header(&mut old_key_buf, key_id);
                    old_key_enc
                        .write(&mut old_key_buf, i, |_| false, opts.unavailable)
                        .map_err(null_key)?;
                }
                if has_key && has_before && old_key_buf != key_buf {
                    // A changed primary key: delete (+ tombstone) under the old key, create
                    // under the new one, as Debezium writes it.
                    buf.clear();
                    let b = next_block(&mut block).then_some(block.as_slice());
                    env.write(&mut buf, Some(&write_before), None, "d", b)
                        .map_err(null_key)?;
                    emit(Some(&old_key_buf), Some(&buf), i);
                    if opts.tombstones {
                        emit(Some(&old_key_buf), None, i);
                    }
                    buf.clear();
                    let b = next_block(&mut block).then_some(block.as_slice());
                    env.write(&mut buf, None, Some(&write_after), "c", b)
                        .map_err(null_key)?;
                    emit(key, Some(&buf), i);
                } else {
                    buf.clear();
                    let b: Image<'_> = if has_before {
                        Some(&write_before)
                    } else {
                        None
                    };
                    let t = next_block(&mut block).then_some(block.as_slice());
                    env.write(&mut buf, b, Some(&write_after), "u", t)
                        .map_err(null_key)?;
                    emit(key, Some(&buf), i);
                }
            }
            "d" => {
                let has_before = before_col.is_valid(i);
                let old = |o: &mut Vec<u8>| {
                    if has_before {
                        before.write(o, i, |_| false, opts.unavailable)
                    } else {
                        after.write(o, i, skip, opts.unavailable)
                    }
                };
                buf.clear();
                let b = next_block(&mut block).then_some(block.as_slice());
                env.write(&mut buf, Some(&old), None, "d", b)
                    .map_err(null_key)?;
                emit(key, Some(&buf), i);
                if opts.tombstones && key.is_some() {
                    emit(key, None, i);
                }
            }
            "t" => {
                buf.clear();
                let b = next_block(&mut block).then_some(block.as_slice());
                env.write(&mut buf, None, None, "t", b).map_err(null_key)?;
                emit(None, Some(&buf), i);
            }
            other => {
                return Err(bad(format!(
                    "unknown _op {other:?} in row {i} of {}",
                    bp.qualified
                )))
            }
        }
    }
    Ok(Serialized {
        keys: keys.finish(),
        values: values.finish(),
        rows: UInt32Array::from(row_of),
        partitions: opts.partitions.map(|_| Int32Array::from(parts)),
        transactions: blocks.map(TxBlocks::finish).unwrap_or_default(),
    })
}

/// The `transaction` field's value branch: the `event.block` record of one event (see
/// [`super::txmeta`]).
fn write_block(out: &mut Vec<u8>, id: &[u8], total: u64, order: u64) {
    out.push(2);
    write_long(out, id.len() as i64);
    out.extend_from_slice(id);
    write_long(out, total as i64);
    write_long(out, order as i64);
}

type Image<'a> = Option<&'a dyn Fn(&mut Vec<u8>) -> std::result::Result<(), String>>;

/// One row's envelope: everything but the images is prepared per batch or transaction.
struct Envelope<'a> {
    id: u32,
    source_prefix: &'a [u8],
    source: &'a SourceParts<'a>,
    seq: u32,
    tail: &'a [u8],
}

impl Envelope<'_> {
    fn write(
        &self,
        out: &mut Vec<u8>,
        before: Image<'_>,
        after: Image<'_>,
        op: &str,
        transaction: Option<&[u8]>,
    ) -> std::result::Result<(), String> {
        header(out, self.id);
        for image in [before, after] {
            match image {
                Some(w) => {
                    out.push(2);
                    w(out)?;
                }
                None => out.push(0),
            }
        }
        out.extend_from_slice(self.source_prefix);
        self.source.suffix(out, self.seq);
        // transaction: null, or the block's branch.
        match transaction {
            Some(block) => out.extend_from_slice(block),
            None => out.push(0),
        }
        write_string(out, op);
        out.extend_from_slice(self.tail);
        Ok(())
    }
}

/// The envelope's end: `ts_ms`, `ts_us`, `ts_ns`, each the union's value branch.
fn envelope_tail(ts_ms: i64, ts_us: Option<i64>) -> Vec<u8> {
    let us = ts_us.unwrap_or(ts_ms.saturating_mul(1000));
    let mut out = Vec::new();
    for v in [
        ts_us.map_or(ts_ms, |u| u.div_euclid(1000)),
        us,
        us.saturating_mul(1000),
    ] {
        out.push(2);
        write_long(&mut out, v);
    }
    out
}

/// The `source` record's facts of a batch; the field order is [`types::source_fields`].
struct SourceParts<'a> {
    connector: Connector,
    prefix: &'a str,
    ns: &'a str,
    table: &'a str,
    database: &'a str,
    basename: &'a str,
    server_id: u32,
}

impl SourceParts<'_> {
    /// Everything of `source` that is the same for all rows of a transaction, up to the
    /// `_seq`-dependent fields ([`suffix`](Self::suffix)).
    fn prefix(&self, out: &mut Vec<u8>, key: &SourceKey<'_>) {
        let &(pos, xid, us, marker, lsn, gtid) = key;
        let snapshot = marker != "false";
        let mysql = self.connector != Connector::Postgres;
        write_string(out, crate::VERSION);
        write_string(out, self.connector.name());
        write_string(out, self.prefix);
        write_long(out, us.div_euclid(1000));
        // snapshot: the union's first branch, the enum string.
        out.push(0);
        write_string(out, marker);
        write_string(out, if mysql { self.ns } else { self.database });
        match lsn {
            Some((l, last)) if !mysql => {
                out.push(2);
                write_string(out, &sequence_text(l, last));
            }
            _ => out.push(0), // sequence
        }
        out.push(2);
        write_long(out, us);
        out.push(2);
        write_long(out, us.saturating_mul(1000));
        if mysql {
            out.push(2);
            write_string(out, self.table);
            write_long(out, i64::from(self.server_id));
            match gtid {
                Some(g) => {
                    out.push(2);
                    write_string(out, g);
                }
                None => out.push(0),
            }
            write_string(out, &format!("{}.{:06}", self.basename, pos >> 32));
            write_long(out, (pos & 0xffff_ffff) as i64);
        } else {
            write_string(out, self.ns);
            write_string(out, self.table);
            // A snapshot read without a known transaction id says so rather than claiming 0.
            if snapshot && xid == 0 {
                out.push(0);
            } else {
                out.push(2);
                write_long(out, xid as i64);
            }
            out.push(2);
            write_long(out, lsn.map_or(pos, |(l, _)| l) as i64);
            // xmin, origin, origin_lsn: not carried through the change batches.
            out.extend_from_slice(&[0, 0, 0]);
        }
    }

    /// The `_seq`-dependent end of `source`.
    fn suffix(&self, out: &mut Vec<u8>, seq: u32) {
        if self.connector != Connector::Postgres {
            // row (int), thread, query, then seq.
            write_long(out, i64::from(seq));
            out.extend_from_slice(&[0, 0]);
        }
        write_long(out, i64::from(seq));
    }
}

#[cfg(test)]
#[path = "avro_tests.rs"]
mod tests;
