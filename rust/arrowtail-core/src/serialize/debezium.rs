//! Debezium-compatible Kafka messages from a change batch.
//!
//! For each row: a key (the JSON object of the primary key columns, `{"id":1}`; null for tables
//! without a primary key and for truncates) and a value, the envelope
//! `{"before":..,"after":..,"source":{..},"transaction":null,"op":..,"ts_ms":..,"ts_us":..,"ts_ns":..}`,
//! `transaction` Debezium's block when [`DebeziumOptions::transactions`] asks for it
//! ([`super::txmeta`]).
//!
//! - `c`, `r` (snapshot) and `m` (logical messages, DDL pseudo-tables): `before` null, `after` the row.
//! - `u`: `before` from `_before` when the source sent an old image, else null. When the old image
//!   has a different primary key, the update is written as Debezium writes it: a delete of the old
//!   key (plus its tombstone) and a create of the new key, so each key's partition sees its end.
//! - `d`: `before` from `_before`, or else the row itself (a delete carries the old image in the
//!   user columns); `after` null; then a tombstone (same key, null value) when enabled.
//! - `t`: key null, `before` and `after` null.
//!
//! Columns listed in `_unchanged` (not sent by the source) are written in `after` as the string
//! `__debezium_unavailable_value`, as Debezium does, or left out ([`Unavailable::Omit`]).
//!
//! `source` follows Debezium's PostgreSQL or MySQL connector block. `db`, the binlog base name and
//! `server_id` come from the batch metadata the sources set (`arrowtail.database`,
//! `arrowtail.binlog_basename`, `arrowtail.server_id`), else from [`DebeziumOptions`]. Values
//! arrowtail knows only per transaction are given per transaction: PostgreSQL `lsn` is the commit
//! LSN (`_pos`) and `sequence` is null (see docs/debezium.md), unless the batch carries each
//! change's `_lsn` and `_last_commit_lsn` (then `lsn` is the change's and `sequence`
//! `["<last commit lsn>","<lsn>"]`, as Debezium writes them); MySQL `file`
//! and `pos` are the binlog file (`<basename>.<number of _pos >> 32, six digits>`) and the end
//! offset of the commit event (`_pos & 0xffffffff`), `row` is `_seq` and `gtid` the transaction's
//! GTID when the batch carries `_gtid` (else null). Every `source` also carries
//! `seq` (`_seq`), so consumers can drop duplicates by (`lsn`/`file`+`pos`, `seq`).

// The core's one error enum is large (it carries a `Location`); it is returned once per batch.
#![allow(clippy::result_large_err)]

use arrow_array::builder::BinaryBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, BinaryArray, Int32Array, RecordBatch, UInt32Array};
use arrow_schema::Field;

use super::encoder::{self, Unavailable};
use super::keys::{bad, column, pick, sequence_text, BatchParts, NotSent, SourceKey, TxColumns};
use super::txmeta::{self, TxBlocks, TxCarry, TxRun};
use super::{json, schema, DecimalMode};
use crate::arrow::change::names;
use crate::partition::partition_for_key;
use crate::Result;

/// Options of the Debezium serializer.
#[derive(Debug, Clone)]
pub struct DebeziumOptions {
    /// Logical server name (Debezium `topic.prefix`), written as `source.name`.
    pub topic_prefix: String,
    /// PostgreSQL database name for `source.db` when the batch does not name it
    /// (`arrowtail.database`); MySQL uses the database of the table.
    pub database: String,
    pub decimals: DecimalMode,
    pub unavailable: Unavailable,
    /// Follow each delete with a tombstone (same key, null value), for log compaction.
    pub tombstones: bool,
    /// Wrap keys and values as `{"schema":..,"payload":..}` (Kafka Connect JSON, schemas on).
    pub schemas: bool,
    /// MySQL binlog base name for `source.file` (`mysql-bin` gives `mysql-bin.000003`) when the
    /// batch does not name it (`arrowtail.binlog_basename`).
    pub binlog_basename: String,
    /// MySQL `source.server_id` when the batch does not name it (`arrowtail.server_id`).
    pub server_id: u32,
    /// Processing time for the envelope's `ts_ms`, milliseconds since the epoch.
    pub ts_ms: i64,
    /// The same processing time in microseconds, for the envelope's `ts_us` and `ts_ns`; when
    /// unset they are `ts_ms` scaled.
    pub ts_us: Option<i64>,
    /// When set, also compute each message's partition with Kafka's Java rule.
    pub partitions: Option<i32>,
    /// When set, streamed events carry Debezium's `transaction` block (PostgreSQL only), counted
    /// on from this carry of the batch's table ([`txmeta`]); else `transaction` is null.
    pub transactions: Option<TxCarry>,
}

impl Default for DebeziumOptions {
    fn default() -> Self {
        Self {
            topic_prefix: "arrowtail".into(),
            database: String::new(),
            decimals: DecimalMode::String,
            unavailable: Unavailable::Placeholder,
            tombstones: true,
            schemas: false,
            binlog_basename: "mysql-bin".into(),
            server_id: 0,
            ts_ms: 0,
            ts_us: None,
            partitions: None,
            transactions: None,
        }
    }
}

/// Kafka messages of one batch, in row order (a row may give several messages).
#[derive(Debug, Clone)]
pub struct Serialized {
    /// Message keys; null for keyless tables and truncates.
    pub keys: BinaryArray,
    /// Message values; null for tombstones.
    pub values: BinaryArray,
    /// Index in the batch of the row each message comes from.
    pub rows: UInt32Array,
    /// Partition of each message when [`DebeziumOptions::partitions`] was set (keyless: 0).
    pub partitions: Option<Int32Array>,
    /// The batch's transactions and their events, when [`DebeziumOptions::transactions`] was set.
    pub transactions: Vec<TxRun>,
}

/// Serializes every row of a change batch into Debezium JSON keys and values.
pub fn serialize(batch: &RecordBatch, opts: &DebeziumOptions) -> Result<Serialized> {
    let bp = BatchParts::new(batch)?;
    let BatchParts {
        qualified,
        ns,
        table,
        mysql,
        ..
    } = bp;
    let (pk, user_fields, user_arrays) = (&bp.pk, &bp.user_fields, bp.user_arrays);
    let op_enc = &bp.op;
    let unsupported = |e: encoder::NoEncoder| bp.unsupported(e);
    let forms = bp.forms(opts);
    let after = encoder::object_encoder(user_arrays, user_fields.iter().copied(), forms)
        .map_err(unsupported)?;

    let cols = TxColumns::of(batch)?;
    let before_col = column(batch, names::BEFORE)?
        .as_struct_opt()
        .ok_or_else(|| bad("_before is not a struct"))?;
    // The old image's fields are the row's; the row's carry the source-type metadata the
    // encoders read (it may have been added to the top-level fields only).
    let before = encoder::object_encoder(
        before_col.columns(),
        before_col.fields().iter().map(|f| {
            user_fields
                .iter()
                .copied()
                .find(|u| u.name() == f.name() && u.data_type() == f.data_type())
                .unwrap_or(f.as_ref())
        }),
        forms,
    )
    .map_err(unsupported)?;
    let not_sent = NotSent::new(batch, user_fields)?;

    // Key encoders over the row and over the old image.
    let key_fields = &bp.key_fields;
    let before_fields: Vec<&Field> = before_col.fields().iter().map(|f| f.as_ref()).collect();
    let (_, before_key_arrays) = if pk.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        pick(pk, &before_fields, before_col.columns())?
    };
    let key_enc = bp.key_encoder(opts)?;
    let before_key_enc =
        encoder::object_encoder(&before_key_arrays, key_fields.iter().copied(), forms)
            .map_err(unsupported)?;

    let (key_schema, value_schema) = if opts.schemas {
        let s = schema::schemas(
            opts,
            qualified,
            bp.connector,
            user_fields,
            key_fields,
            &bp.not_null,
        )
        .map_err(unsupported)?;
        (Some(s.0), Some(s.1))
    } else {
        (None, None)
    };

    // The constant head of `source`.
    let mut source_head = Vec::new();
    source_head.extend_from_slice(b"\"source\":{\"version\":");
    json::write_str(&mut source_head, crate::VERSION);
    source_head.extend_from_slice(b",\"connector\":");
    json::write_str(&mut source_head, bp.connector.name());
    source_head.extend_from_slice(b",\"name\":");
    json::write_str(&mut source_head, &opts.topic_prefix);
    let source_parts = SourceParts {
        head: source_head,
        mysql,
        ns,
        table,
        database: bp.database.unwrap_or(&opts.database),
        basename: bp.binlog_basename.unwrap_or(&opts.binlog_basename),
        server_id: bp.server_id.unwrap_or(opts.server_id),
    };
    let tail = envelope_tail(opts.ts_ms, opts.ts_us);
    let mut blocks = TxBlocks::new(opts.transactions);
    let mut block = Vec::new();
    let mut src_tx: Option<SourceKey> = None;
    let mut src_prefix = Vec::new();
    let mut src_buf = Vec::new();

    let rows = batch.num_rows();
    let mut keys = BinaryBuilder::with_capacity(rows, rows * 16);
    let mut values = BinaryBuilder::with_capacity(rows, rows * 256);
    let mut row_of = Vec::with_capacity(rows);
    let mut parts = Vec::with_capacity(if opts.partitions.is_some() { rows } else { 0 });
    let mut key_buf = Vec::new();
    let mut old_key_buf = Vec::new();
    let mut buf = Vec::new();
    let mut skip_cols: Vec<usize> = Vec::new();

    let mut emit = |key: Option<&[u8]>, value: Option<&[u8]>, row: usize| {
        // The partition is computed over the exact key bytes sent, as the Java producer does.
        let wrapped = match (key, key_schema.as_deref()) {
            (Some(k), Some(s)) => Some(wrap(s, k)),
            _ => None,
        };
        let key = wrapped.as_deref().or(key);
        keys.append_option(key);
        match (value, value_schema.as_deref()) {
            (Some(v), Some(s)) => values.append_value(wrap(s, v)),
            (v, None) => values.append_option(v),
            (None, Some(_)) => values.append_null(),
        }
        row_of.push(row as u32);
        if let Some(n) = opts.partitions {
            parts.push(key.and_then(|k| partition_for_key(k, n)).unwrap_or(0));
        }
    };

    for i in 0..rows {
        let op = op_enc(i);
        not_sent.fill(i, &mut skip_cols);
        let skip = |c: usize| skip_cols.contains(&c);
        let has_before = before_col.is_valid(i);
        key_buf.clear();
        let has_key = bp.has_key(op);
        if has_key {
            key_enc.write(&mut key_buf, i, |_| false);
        }
        let key = has_key.then_some(key_buf.as_slice());

        // `source` changes only between transactions, except for its `_seq` fields.
        let tx = cols.key(i, bp.marks.marker(op, cols.seq(i)));
        if src_tx != Some(tx) {
            src_prefix.clear();
            source_parts.prefix(&mut src_prefix, &tx);
            src_tx = Some(tx);
        }
        src_buf.clear();
        src_buf.extend_from_slice(&src_prefix);
        source_parts.suffix(&mut src_buf, cols.seq(i));
        let ctx = RowCtx {
            source: &src_buf,
            tail: &tail,
        };
        // The `transaction` block of the row's next event (none for snapshot reads and messages).
        let row_tx = cols.row_tx(i, &tx, mysql.then_some(source_parts.basename));
        let mut next_block = |block: &mut Vec<u8>| -> bool {
            block.clear();
            match blocks.as_mut().and_then(|b| b.next(op, &row_tx)) {
                Some((id, total, order)) => txmeta::write_block_json(block, id, total, order),
                None => return false,
            }
            true
        };
        match op {
            "c" | "r" | "m" => {
                buf.clear();
                let b = next_block(&mut block).then_some(block.as_slice());
                ctx.envelope(
                    &mut buf,
                    None,
                    Some(&|o: &mut Vec<u8>| after.write_with(o, i, skip, opts.unavailable)),
                    op,
                    b,
                );
                emit(key, Some(&buf), i);
            }
            "u" => {
                old_key_buf.clear();
                if has_key && has_before {
                    before_key_enc.write(&mut old_key_buf, i, |_| false);
                }
                let write_before = |o: &mut Vec<u8>| before.write(o, i, |_| false);
                let write_after = |o: &mut Vec<u8>| after.write_with(o, i, skip, opts.unavailable);
                if has_key && has_before && old_key_buf != key_buf {
                    // Primary key changed: delete (+ tombstone) under the old key, create under
                    // the new one.
                    buf.clear();
                    let b = next_block(&mut block).then_some(block.as_slice());
                    ctx.envelope(&mut buf, Some(&write_before), None, "d", b);
                    emit(Some(&old_key_buf), Some(&buf), i);
                    if opts.tombstones {
                        emit(Some(&old_key_buf), None, i);
                    }
                    buf.clear();
                    let b = next_block(&mut block).then_some(block.as_slice());
                    ctx.envelope(&mut buf, None, Some(&write_after), "c", b);
                    emit(key, Some(&buf), i);
                } else {
                    buf.clear();
                    let b: Image<'_> = if has_before {
                        Some(&write_before)
                    } else {
                        None
                    };
                    let t = next_block(&mut block).then_some(block.as_slice());
                    ctx.envelope(&mut buf, b, Some(&write_after), "u", t);
                    emit(key, Some(&buf), i);
                }
            }
            "d" => {
                buf.clear();
                let write_before = |o: &mut Vec<u8>| {
                    if has_before {
                        before.write(o, i, |_| false)
                    } else {
                        after.write_with(o, i, skip, opts.unavailable)
                    }
                };
                let b = next_block(&mut block).then_some(block.as_slice());
                ctx.envelope(&mut buf, Some(&write_before), None, "d", b);
                emit(key, Some(&buf), i);
                if opts.tombstones && key.is_some() {
                    emit(key, None, i);
                }
            }
            "t" => {
                buf.clear();
                let b = next_block(&mut block).then_some(block.as_slice());
                ctx.envelope(&mut buf, None, None, "t", b);
                emit(None, Some(&buf), i);
            }
            other => {
                return Err(bad(format!(
                    "unknown _op {other:?} in row {i} of {qualified}"
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

/// Wraps a payload with its schema: `{"schema":..,"payload":..}` (Kafka Connect JSON converter
/// with schemas enabled).
pub(super) fn wrap(schema: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut w = Vec::with_capacity(schema.len() + payload.len() + 24);
    w.extend_from_slice(b"{\"schema\":");
    w.extend_from_slice(schema);
    w.extend_from_slice(b",\"payload\":");
    w.extend_from_slice(payload);
    w.push(b'}');
    w
}

/// What the envelope of one row needs besides the images: its `source` object and the constant
/// tail (`transaction`, processing timestamps) are prepared by the caller.
struct RowCtx<'a> {
    source: &'a [u8],
    tail: &'a [u8],
}

type Image<'a> = Option<&'a dyn Fn(&mut Vec<u8>)>;

impl RowCtx<'_> {
    fn envelope(
        &self,
        out: &mut Vec<u8>,
        before: Image<'_>,
        after: Image<'_>,
        op: &str,
        transaction: Option<&[u8]>,
    ) {
        out.extend_from_slice(b"{\"before\":");
        match before {
            Some(w) => w(out),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"after\":");
        match after {
            Some(w) => w(out),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b',');
        out.extend_from_slice(self.source);
        out.extend_from_slice(b",\"transaction\":");
        out.extend_from_slice(transaction.unwrap_or(b"null"));
        out.extend_from_slice(b",\"op\":");
        json::write_str(out, op);
        out.extend_from_slice(self.tail);
    }
}

/// The envelope's constant end: `,"ts_ms":..,"ts_us":..,"ts_ns":..}`, each at its own precision
/// when the microseconds are known.
fn envelope_tail(ts_ms: i64, ts_us: Option<i64>) -> Vec<u8> {
    let us = ts_us.unwrap_or(ts_ms.saturating_mul(1000));
    let mut out = Vec::new();
    out.extend_from_slice(b",\"ts_ms\":");
    json::write_i64(&mut out, ts_us.map_or(ts_ms, |u| u.div_euclid(1000)));
    out.extend_from_slice(b",\"ts_us\":");
    json::write_i64(&mut out, us);
    out.extend_from_slice(b",\"ts_ns\":");
    json::write_i64(&mut out, us.saturating_mul(1000));
    out.push(b'}');
    out
}

/// Per-batch facts of the `source` block.
struct SourceParts<'a> {
    head: Vec<u8>,
    mysql: bool,
    ns: &'a str,
    table: &'a str,
    /// PostgreSQL `source.db`.
    database: &'a str,
    /// MySQL binlog base name and server id.
    basename: &'a str,
    server_id: u32,
}

impl SourceParts<'_> {
    /// Everything of `source` that is the same for all rows of a transaction (and snapshot
    /// marker, `false` for a change from the log); what follows depends on `_seq`
    /// ([`suffix`](Self::suffix)).
    fn prefix(&self, out: &mut Vec<u8>, key: &SourceKey<'_>) {
        let &(pos, xid, us, marker, lsn, gtid) = key;
        let snapshot = marker != "false";
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b",\"ts_ms\":");
        json::write_i64(out, us.div_euclid(1000));
        out.extend_from_slice(b",\"snapshot\":\"");
        out.extend_from_slice(marker.as_bytes());
        out.extend_from_slice(b"\",\"db\":");
        json::write_str(out, if self.mysql { self.ns } else { self.database });
        out.extend_from_slice(b",\"sequence\":");
        match lsn {
            Some((l, last)) if !self.mysql => json::write_str(out, &sequence_text(l, last)),
            _ => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"ts_us\":");
        json::write_i64(out, us);
        out.extend_from_slice(b",\"ts_ns\":");
        json::write_i64(out, us.saturating_mul(1000));
        if self.mysql {
            out.extend_from_slice(b",\"table\":");
            json::write_str(out, self.table);
            out.extend_from_slice(b",\"server_id\":");
            json::write_u64(out, u64::from(self.server_id));
            out.extend_from_slice(b",\"gtid\":");
            match gtid {
                Some(g) => json::write_str(out, g),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"file\":");
            let file = format!("{}.{:06}", self.basename, pos >> 32);
            json::write_str(out, &file);
            out.extend_from_slice(b",\"pos\":");
            json::write_u64(out, pos & 0xffff_ffff);
            out.extend_from_slice(b",\"row\":");
        } else {
            out.extend_from_slice(b",\"schema\":");
            json::write_str(out, self.ns);
            out.extend_from_slice(b",\"table\":");
            json::write_str(out, self.table);
            out.extend_from_slice(b",\"txId\":");
            // A snapshot read without a known transaction id says so rather than claiming 0.
            if snapshot && xid == 0 {
                out.extend_from_slice(b"null");
            } else {
                json::write_u64(out, xid);
            }
            out.extend_from_slice(b",\"lsn\":");
            json::write_u64(out, lsn.map_or(pos, |(l, _)| l));
            // Replication origins are not carried through the change batches.
            out.extend_from_slice(b",\"xmin\":null,\"origin\":null,\"origin_lsn\":null,\"seq\":");
        }
    }

    /// The `_seq`-dependent end of `source`.
    fn suffix(&self, out: &mut Vec<u8>, seq: u32) {
        json::write_u64(out, u64::from(seq));
        if self.mysql {
            out.extend_from_slice(b",\"thread\":null,\"query\":null,\"seq\":");
            json::write_u64(out, u64::from(seq));
        }
        out.push(b'}');
    }
}

#[cfg(test)]
#[path = "debezium_tests.rs"]
mod tests;
