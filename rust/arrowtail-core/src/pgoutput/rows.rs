//! Turning one Insert, Update, Delete, Truncate or logical message into a row of its change
//! builder: tuple values through the type codecs, the old image into `_before`, unchanged TOAST
//! columns filled from the old image when it has them, otherwise listed in `_unchanged`.

use std::collections::btree_map::{Entry, VacantEntry};
use std::collections::BTreeMap;

use super::decoder::{arrow_err, at, Decoder, Held, Key, MESSAGES_KEY};
use super::message::{OldKind, Tuple, Value};
use super::row_buffer::{RelVersion, RowBuffer};
use crate::arrow::{ColumnBuilder, Op, RowMeta};
use crate::types::postgres::{
    append, append_binary_quick, append_text_quick, Appended, Format, PgType,
};
use crate::{Error, Result};

/// Where a row goes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Dest {
    /// The output, for an ordinary transaction.
    Main {
        xid: u32,
        pos: u64,
        ts: i64,
        seq: u32,
    },
    /// A held (streamed or prepared) transaction `top`, written by subtransaction `sub`.
    Held { top: u32, sub: u32, seq: u32 },
    /// Nowhere: a change of a transaction sent again after a lost connection, handed on already.
    Skip,
}

/// A row change.
pub(super) enum Change<'a> {
    Insert(Tuple<'a>),
    Update(Option<(OldKind, Tuple<'a>)>, Tuple<'a>),
    Delete((OldKind, Tuple<'a>)),
    Truncate,
}

#[inline(always)]
fn buffer_for<'s>(
    buffers: &'s mut BTreeMap<Key, RowBuffer>,
    key: Key,
    rel: &std::sync::Arc<RelVersion>,
    lsn: u64,
    limits: (usize, bool, bool),
) -> Result<&'s mut RowBuffer> {
    match buffers.entry(key) {
        Entry::Occupied(e) => Ok(e.into_mut()),
        Entry::Vacant(e) => new_buffer(e, rel, lsn, limits),
    }
}

/// The first row of a relation version in a set of row buffers makes its buffer; kept out of
/// line, away from the per-row path.
#[cold]
#[inline(never)]
fn new_buffer<'s>(
    e: VacantEntry<'s, Key, RowBuffer>,
    rel: &std::sync::Arc<RelVersion>,
    lsn: u64,
    (byte_limit, row_lsn, steady): (usize, bool, bool),
) -> Result<&'s mut RowBuffer> {
    let buf = RowBuffer::new(rel.clone(), byte_limit, row_lsn, steady)
        .map_err(|err| arrow_err(rel.table.table.clone(), lsn, err))?;
    Ok(e.insert(buf))
}

/// The decoder's row buffers: the output's and the held transactions', and their byte limit.
/// Taken apart from the decoder so that a relation borrowed from it stays usable beside them.
struct Buffers<'d> {
    main: &'d mut BTreeMap<Key, RowBuffer>,
    held: &'d mut std::collections::HashMap<u32, Held>,
    byte_limit: usize,
    row_lsn: bool,
}

/// The row buffer and row metadata for a row of `rel`. Inlined: its result is read straight
/// from registers, not through memory written field by field.
#[inline(always)]
fn target<'d>(
    d: Buffers<'d>,
    dest: Dest,
    key: Key,
    rel: &std::sync::Arc<RelVersion>,
    op: Op,
    lsn: u64,
) -> Result<(&'d mut RowBuffer, RowMeta, Option<u32>)> {
    Ok(match dest {
        Dest::Main { xid, pos, ts, seq } => (
            buffer_for(d.main, key, rel, lsn, (d.byte_limit, d.row_lsn, true))?,
            RowMeta {
                op,
                pos,
                seq,
                xid: u64::from(xid),
                commit_ts_us: ts,
            },
            None,
        ),
        Dest::Held { top, sub, seq } => {
            let h = d.held.entry(top).or_default();
            (
                buffer_for(
                    &mut h.buffers,
                    key,
                    rel,
                    lsn,
                    (d.byte_limit, d.row_lsn, false),
                )?,
                RowMeta {
                    op,
                    pos: 0,
                    seq,
                    xid: u64::from(top),
                    commit_ts_us: 0,
                },
                Some(sub),
            )
        }
        Dest::Skip => return Err(no_buffer_for_skipped(lsn)),
    })
}

#[cold]
#[inline(never)]
fn no_buffer_for_skipped(lsn: u64) -> Error {
    Error::decode(
        "change",
        at(lsn),
        "a change handed on already has no row buffer",
    )
}

/// Checks a tuple's column count against the relation (an old tuple's count was validated against
/// its bytes when its message was parsed; a new tuple's is, as its values are read).
fn check_count(t: &Tuple<'_>, rel: &RelVersion, lsn: u64) -> Result<()> {
    if t.len() != rel.types.len() {
        return Err(Error::SchemaChange {
            table: rel.table.table.clone(),
            at: at(lsn),
            detail: format!(
                "tuple has {} columns but the Relation message announced {}",
                t.len(),
                rel.types.len()
            ),
        });
    }
    Ok(())
}

/// Reads a tuple's values into `out`, checking the column count against the relation.
fn tuple_values<'a>(
    t: &Tuple<'a>,
    rel: &RelVersion,
    lsn: u64,
    out: &mut Vec<Value<'a>>,
) -> Result<()> {
    check_count(t, rel, lsn)?;
    t.values_into(out);
    Ok(())
}

/// A new tuple whose bytes are not its announced number of values (it is read only as it is
/// decoded, see [`super::message::parse_for_decode`]); the decoder reports the parse error of its
/// message instead, which says what is wrong where.
#[cold]
#[inline(never)]
fn malformed_tuple(lsn: u64) -> Error {
    Error::decode(
        "tuple",
        at(lsn),
        "the tuple's bytes are not its announced column count of values",
    )
}

/// Buffers reused from row to row, so decoding a row allocates nothing. Only an old image is
/// collected (a new tuple's unchanged columns may need its values by index); new tuples are read
/// in one pass straight into the builders.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    old: Vec<Value<'static>>,
    unchanged: Vec<usize>,
}

/// Empties a value buffer and gives it back without its borrow (the allocation is reused: the
/// element type keeps its layout, so the standard library collects in place).
fn recycle(mut v: Vec<Value<'_>>) -> Vec<Value<'static>> {
    v.clear();
    v.into_iter().map(|_| Value::Null).collect()
}

/// Appends one value (or null) to column `i` of `rel`.
#[inline(always)]
fn put(
    b: &mut ColumnBuilder,
    rel: &RelVersion,
    i: usize,
    v: Value<'_>,
    special: &mut u64,
    lsn: u64,
) -> Result<()> {
    let (format, data) = match v {
        Value::Null | Value::Unchanged => {
            b.append_null();
            return Ok(());
        }
        Value::Text(d) => {
            if append_text_quick(b, &rel.types[i], d) {
                return Ok(());
            }
            (Format::Text, d)
        }
        Value::Binary(d) => {
            if append_binary_quick(b, &rel.types[i], d) {
                return Ok(());
            }
            (Format::Binary, d)
        }
    };
    let ty = &rel.types[i];
    match append(b, ty, format, data) {
        Ok(Appended::Value) => Ok(()),
        Ok(Appended::SpecialNumeric) => {
            *special += 1;
            Ok(())
        }
        Err(detail) => Err(value_error(rel, i, ty, format, detail, lsn)),
    }
}

/// The error for a value of column `i` that would not decode; kept out of line, away from the
/// per-value path.
#[cold]
#[inline(never)]
fn value_error(
    rel: &RelVersion,
    i: usize,
    ty: &PgType,
    format: Format,
    detail: String,
    lsn: u64,
) -> Error {
    Error::decode(
        "column value",
        at(lsn),
        format!(
            "{}.{} ({:?}, {:?} form): {detail}",
            rel.table.table,
            rel.table
                .columns
                .get(i)
                .map(|f| f.name().as_str())
                .unwrap_or("?"),
            ty,
            format
        ),
    )
}

/// Decodes one row change of relation `relid`.
pub(super) fn change(
    d: &mut Decoder,
    xid: Option<u32>,
    relid: u32,
    c: Change<'_>,
    lsn: u64,
) -> Result<()> {
    let mut old: Vec<Value<'_>> = std::mem::take(&mut d.scratch.old);
    let mut unchanged = std::mem::take(&mut d.scratch.unchanged);
    let res = change_with(d, xid, relid, c, lsn, &mut old, &mut unchanged);
    d.scratch.old = recycle(old);
    unchanged.clear();
    d.scratch.unchanged = unchanged;
    // Only an error is moved into the result: the whole of a large `Result` copied on every row
    // waits on stores that its fields were written with.
    match res {
        Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The relation a row change names.
fn relation(
    relations: &super::relation::Relations,
    relid: u32,
    lsn: u64,
) -> Result<&std::sync::Arc<RelVersion>> {
    relations.get(&relid).ok_or_else(|| {
        Error::decode(
            "row change",
            at(lsn),
            format!("relation id {relid} was not announced by a Relation message"),
        )
    })
}

fn change_with<'a>(
    d: &mut Decoder,
    xid: Option<u32>,
    relid: u32,
    c: Change<'a>,
    lsn: u64,
    old: &mut Vec<Value<'a>>,
    unchanged: &mut Vec<usize>,
) -> Result<()> {
    // The relation is looked up again below rather than cloned: taking the destination needs the
    // decoder mutably in between, and a reference count touched twice per row shows in profiles.
    let rel = relation(&d.relations, relid, lsn)?;
    let version = rel.table.schema_version;
    let (op, new, old_kind) = match c {
        Change::Insert(n) => {
            check_count(&n, rel, lsn)?;
            (Op::Insert, Some(n), None)
        }
        Change::Update(o, n) => {
            let kind = match o {
                Some((k, t)) => {
                    tuple_values(&t, rel, lsn, old)?;
                    Some(k)
                }
                None => None,
            };
            check_count(&n, rel, lsn)?;
            (Op::Update, Some(n), kind)
        }
        Change::Delete((k, t)) => {
            tuple_values(&t, rel, lsn, old)?;
            (Op::Delete, None, Some(k))
        }
        Change::Truncate => (Op::Truncate, None, None),
    };
    let dest = d.dest(xid, lsn)?;
    if matches!(dest, Dest::Skip) {
        // Not decoded, but a malformed message is an error all the same.
        return match new {
            Some(t) if !t.is_well_formed() => Err(malformed_tuple(lsn)),
            _ => Ok(()),
        };
    }
    let key = (relid, version);
    let mut special = 0u64;
    let last_commit = d.last_commit_end();
    let rel = relation(&d.relations, relid, lsn)?;
    let parts = Buffers {
        main: &mut d.main,
        held: &mut d.held,
        byte_limit: d.byte_limit,
        row_lsn: d.row_lsn,
    };
    let (buf, meta, sub) = target(parts, dest, key, rel, op, lsn)?;
    // A held transaction's rows learn the commit before theirs at its own commit.
    buf.b
        .set_row_lsn(lsn, if sub.is_some() { 0 } else { last_commit });
    let old = old_kind.map(|k| (k, &old[..]));
    match fill(buf, rel, op, new, old, unchanged, &mut special, lsn) {
        Ok(()) => {
            buf.b.finish_row(meta, old.is_some(), unchanged);
            if let Some(s) = sub {
                buf.tag(s);
            }
        }
        Err(e) => {
            buf.abandon_partial_row()
                .map_err(|err| arrow_err(rel.table.table.clone(), lsn, err))?;
            return Err(e);
        }
    }
    d.stats.special_numerics += special;
    Ok(())
}

/// Appends the user columns and `_before`; collects the unchanged column indexes. A new tuple
/// is read once, value by value, straight into the builders.
#[allow(clippy::too_many_arguments)]
fn fill(
    buf: &mut RowBuffer,
    rel: &RelVersion,
    op: Op,
    new: Option<Tuple<'_>>,
    old: Option<(OldKind, &[Value<'_>])>,
    unchanged: &mut Vec<usize>,
    special: &mut u64,
    lsn: u64,
) -> Result<()> {
    let n = rel.types.len();
    let columns = &mut buf.b.columns[..n];
    match (op, new, old) {
        (Op::Delete, _, Some((_, o))) => {
            for (i, b) in columns.iter_mut().enumerate() {
                put(b, rel, i, o[i], special, lsn)?;
            }
        }
        (Op::Insert | Op::Update, Some(t), _) => {
            let mut values = t.values();
            for (i, b) in columns.iter_mut().enumerate() {
                let v = match (values.next().ok_or_else(|| malformed_tuple(lsn))?, old) {
                    // Unchanged TOAST: the old image has the value when it is a full row, or a
                    // key column that was sent.
                    (Value::Unchanged, Some((OldKind::Full, o))) if o[i] != Value::Unchanged => {
                        o[i]
                    }
                    (Value::Unchanged, Some((OldKind::Key, o)))
                        if matches!(o[i], Value::Text(_) | Value::Binary(_)) =>
                    {
                        o[i]
                    }
                    (Value::Unchanged, _) => {
                        unchanged.push(i);
                        Value::Unchanged
                    }
                    (v, _) => v,
                };
                put(b, rel, i, v, special, lsn)?;
            }
            if !values.rest().is_empty() {
                return Err(malformed_tuple(lsn));
            }
        }
        // Truncate (and nothing else reaches here): every user column is null.
        _ => {
            for b in columns.iter_mut() {
                b.append_null();
            }
        }
    }
    if let Some((_, o)) = old {
        for (b, (i, v)) in buf.b.before_mut().iter_mut().zip(o.iter().enumerate()) {
            put(b, rel, i, *v, special, lsn)?;
        }
    }
    Ok(())
}

/// A logical decoding message: a row of the `_messages` pseudo-table. Transactional messages are
/// part of their transaction; others stand alone at their own LSN.
pub(super) fn logical_message(
    d: &mut Decoder,
    xid: Option<u32>,
    transactional: bool,
    msg_lsn: u64,
    prefix: &str,
    content: &[u8],
    lsn: u64,
) -> Result<()> {
    let rel = d.messages_rel();
    let dest = if transactional {
        d.dest(xid, lsn)?
    } else {
        Dest::Main {
            xid: xid.unwrap_or(0),
            pos: msg_lsn,
            ts: d.last_clock_us,
            seq: 0,
        }
    };
    if matches!(dest, Dest::Skip) {
        return Ok(());
    }
    let last_commit = d.last_commit_end();
    let parts = Buffers {
        main: &mut d.main,
        held: &mut d.held,
        byte_limit: d.byte_limit,
        row_lsn: d.row_lsn,
    };
    let (buf, meta, sub) = target(
        parts,
        dest,
        MESSAGES_KEY,
        &rel,
        crate::arrow::Op::Message,
        lsn,
    )?;
    buf.b
        .set_row_lsn(lsn, if sub.is_some() { 0 } else { last_commit });
    if let [ColumnBuilder::Utf8(p), ColumnBuilder::Binary(c), ColumnBuilder::Boolean(t), ColumnBuilder::UInt64(l)] =
        &mut buf.b.columns[..]
    {
        p.append_value(prefix);
        c.append_value(content);
        t.append_value(transactional);
        l.append_value(msg_lsn);
    } else {
        return Err(Error::decode(
            "logical message",
            at(lsn),
            "bad _messages builder",
        ));
    }
    buf.b.finish_row(meta, false, &[]);
    if let Some(s) = sub {
        buf.tag(s);
    }
    if !transactional && d.txn.is_none() {
        // Outside an ordinary transaction the output holds no uncommitted rows (streamed ones
        // are held apart), so this row and all before it are committed.
        if let Some(s) = d.main.get_mut(&MESSAGES_KEY) {
            s.committed = s.total();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycling_keeps_the_allocation() {
        let data = vec![1u8; 4];
        let v: Vec<Value<'_>> = vec![Value::Text(&data); 8];
        let r = recycle(v);
        assert!(r.is_empty());
        assert!(r.capacity() >= 8);
    }
}
