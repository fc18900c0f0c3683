"""The net effect of a change batch, by primary key: what a database sink applies, what replay
(``arrowtail verify`` against Parquet) reconstructs.

A change batch (DESIGN.md, "The change batch") lists changes of one table in source order. Applied
one by one they would need a statement per row; instead the batch is reduced, with pyarrow and
numpy only (no per-row Python), to

- ``truncate``: the table is emptied first (the last ``t`` row; everything before it is moot),
- ``deletes``: keys to delete (a key deleted in the batch, also when it is re-inserted later in the
  same batch: delete-then-insert replaces the row instead of merging into it),
- ``upserts``: one row per surviving key, merged in (``_pos``, ``_seq``) order: the last change
  wins, but a column listed in ``_unchanged`` keeps the value of an earlier change of the batch or,
  when no change of the batch sent it, the value already in the target (``unchanged`` flags).

An update that changes the primary key (its ``_before`` image carries another key) is a delete of
the old key followed by an upsert of the new one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from arrowtail.exceptions import SchemaChangeError

#: The bookkeeping columns of a change batch; every other column is a user column.
META_COLUMNS = frozenset({"_op", "_pos", "_seq", "_xid", "_commit_ts", "_before", "_unchanged"})
_UPSERT_OPS = ("c", "u", "r")


@dataclass(frozen=True)
class TableInfo:
    """What the schema metadata of a change batch says about its table."""

    table: str
    primary_key: tuple[str, ...]
    columns: tuple[str, ...]
    source: str
    schema_version: int


def table_info(schema: pa.Schema, table: str | None = None) -> TableInfo:
    """Reads ``arrowtail.*`` schema metadata; ``table`` overrides ``arrowtail.table``."""
    meta = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
    name = table or meta.get("arrowtail.table", "")
    columns = tuple(n for n in schema.names if n not in META_COLUMNS)
    pk = tuple(c.strip() for c in meta.get("arrowtail.primary_key", "").split(",") if c.strip())
    missing = [c for c in pk if c not in columns]
    if missing:
        raise SchemaChangeError(f"table {name}: primary key column(s) {missing} not in the batch")
    try:
        version = int(meta.get("arrowtail.schema_version", "0"))
    except ValueError:
        version = 0
    return TableInfo(name, pk, columns, meta.get("arrowtail.source", ""), version)


@dataclass
class NetChanges:
    """A batch reduced to one action per key (see the module documentation)."""

    truncate: bool
    #: Key columns of the keys to delete before the upserts.
    deletes: pa.Table
    #: User columns, one row per key.
    upserts: pa.Table
    #: ``unchanged[i, j]``: upsert row ``i`` did not send column ``j`` of ``upserts``; keep the
    #: target's value.
    unchanged: np.ndarray

    def groups(self) -> Iterator[tuple[list[str], pa.Table]]:
        """Upsert rows grouped by the set of columns they carry (usually a single group)."""
        if self.upserts.num_rows == 0:
            return
        names = self.upserts.column_names
        width = len(names)
        if width <= 62:
            # One integer per row is far quicker to group than rows of a boolean matrix.
            codes = (self.unchanged.astype(np.int64) << np.arange(width, dtype=np.int64)).sum(1)
            _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
            signatures = self.unchanged[first]
        else:
            signatures, inverse = np.unique(self.unchanged, axis=0, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)
        for i, signature in enumerate(signatures):
            columns = [n for n, skip in zip(names, signature, strict=True) if not skip]
            rows = self.upserts.filter(pa.array(inverse == i)).select(columns)
            yield columns, rows


def _as_table(batch: pa.RecordBatch | pa.Table) -> pa.Table:
    if isinstance(batch, pa.RecordBatch):
        return pa.Table.from_batches([batch])
    return batch


def _ops(table: pa.Table) -> pa.Array:
    ops = table["_op"].combine_chunks()
    if pa.types.is_dictionary(ops.type):
        ops = ops.dictionary_decode()
    return ops.cast(pa.string())


def _unchanged_matrix(table: pa.Table, columns: list[str]) -> np.ndarray:
    matrix = np.zeros((table.num_rows, len(columns)), dtype=bool)
    if "_unchanged" not in table.column_names or table.num_rows == 0:
        return matrix
    lists = table["_unchanged"].combine_chunks()
    flat = pc.list_flatten(lists)
    if len(flat) == 0:
        return matrix
    parents = pc.list_parent_indices(lists).to_numpy()
    for j, name in enumerate(columns):
        hit = pc.fill_null(pc.equal(flat, name), False).to_numpy(zero_copy_only=False)
        matrix[parents[hit], j] = True
    return matrix


def _key_change_deletes(table: pa.Table, ops: pa.Array, pk: tuple[str, ...]) -> pa.Array | None:
    """Mask of update rows whose ``_before`` key differs from the new key."""
    if "_before" not in table.column_names or not pk:
        return None
    before = table["_before"].combine_chunks()
    if not all(before.type.get_field_index(k) >= 0 for k in pk):
        return None
    changed = None
    for k in pk:
        diff = pc.fill_null(pc.not_equal(pc.struct_field(before, k), table[k]), False)
        changed = diff if changed is None else pc.or_(changed, diff)
    mask = pc.and_(pc.equal(ops, "u"), changed)
    return mask if pc.any(mask).as_py() else None


def _empty(table: pa.Table, columns: list[str], pk: tuple[str, ...], truncate: bool) -> NetChanges:
    schema = table.select(columns).schema.remove_metadata()
    return NetChanges(
        truncate,
        schema.empty_table().select(list(pk)),
        schema.empty_table(),
        np.zeros((0, len(columns)), dtype=bool),
    )


def collapse(
    batch: pa.RecordBatch | pa.Table, primary_key: tuple[str, ...], after: int | None = None
) -> NetChanges:
    """Reduces ``batch`` to its net effect; changes with ``_pos <= after`` are skipped (already
    applied before a restart), except snapshot reads (``r``) at exactly ``after``: a snapshot
    consistent with the stored position may have been stored only in part (its rows all share
    that position), and re-reading a full row image as of that position is harmless."""
    table = _as_table(batch)
    columns = [n for n in table.column_names if n not in META_COLUMNS]
    pk = tuple(primary_key)
    if after is not None and table.num_rows:
        at = pa.scalar(after, pa.uint64())
        snapshot_at = pc.and_(pc.equal(table["_pos"], at), pc.equal(_ops(table), "r"))
        table = table.filter(pc.or_(pc.greater(table["_pos"], at), snapshot_at))
    if table.num_rows == 0:
        return _empty(table, columns, pk, False)
    table = table.take(pc.sort_indices(table, [("_pos", "ascending"), ("_seq", "ascending")]))
    ops = _ops(table)
    truncated = np.flatnonzero(pc.equal(ops, "t").to_numpy(zero_copy_only=False))
    truncate = truncated.size > 0
    if truncate:
        start = int(truncated[-1]) + 1
        table, ops = table.slice(start), ops.slice(start)
    if table.num_rows == 0:
        return _empty(table, columns, pk, truncate)
    if not pk:
        raise SchemaChangeError("changes without a primary key cannot be applied by key")

    # Events in order: ordinal 2*i for the delete of an old key, 2*i+1 for row i itself.
    n = table.num_rows
    is_upsert = pc.is_in(ops, pa.array(_UPSERT_OPS)).to_numpy(zero_copy_only=False)
    is_delete = pc.equal(ops, "d").to_numpy(zero_copy_only=False)
    rows = table.select(columns).append_column("__ord", pa.array(np.arange(n) * 2 + 1))
    rows = rows.append_column("__row", pa.array(np.arange(n)))
    rows = rows.append_column("__kind", pa.array(np.where(is_delete, 0, 1).astype(np.int8)))
    rows = rows.filter(pa.array(is_upsert | is_delete))
    parts = [rows]
    moved = _key_change_deletes(table, ops, pk)
    if moved is not None:
        idx = np.flatnonzero(moved.to_numpy(zero_copy_only=False))
        old = table["_before"].combine_chunks().take(pa.array(idx))
        arrays = []
        for name in columns:
            field = table.schema.field(name)
            if name in pk:
                arrays.append(pc.struct_field(old, name).cast(field.type))
            else:
                arrays.append(pa.nulls(len(idx), field.type))
        extra = pa.table(arrays, names=columns).append_column("__ord", pa.array(idx * 2))
        extra = extra.append_column("__row", pa.array(idx))
        extra = extra.append_column("__kind", pa.array(np.zeros(len(idx), dtype=np.int8)))
        parts.append(extra.cast(rows.schema))
    events = pa.concat_tables(parts) if len(parts) > 1 else rows
    if events.num_rows == 0:
        return _empty(table, columns, pk, truncate)
    order = [(k, "ascending") for k in pk] + [("__ord", "ascending")]
    events = events.take(pc.sort_indices(events, order)).combine_chunks()

    m = events.num_rows
    first = np.zeros(m, dtype=bool)
    first[0] = True
    for k in pk:
        col = events[k].combine_chunks()
        if m > 1:
            ne = pc.fill_null(pc.not_equal(col.slice(1), col.slice(0, m - 1)), True)
            first[1:] |= ne.to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    pos = np.arange(m)
    kind = events["__kind"].to_numpy()
    last_delete = np.maximum.reduceat(np.where(kind == 0, pos, -1), starts)
    deleted_groups = np.flatnonzero(last_delete >= 0)
    deletes = events.select(list(pk)).take(pa.array(last_delete[deleted_groups]))

    live = (kind == 1) & (pos > last_delete[group])
    last_live = np.maximum.reduceat(np.where(live, pos, -1), starts)
    kept = last_live >= 0
    unchanged_rows = _unchanged_matrix(table, columns)[events["__row"].to_numpy()]
    out_columns = []
    unchanged = np.zeros((int(kept.sum()), len(columns)), dtype=bool)
    for j, name in enumerate(columns):
        if name in pk:
            provider = last_live[kept]
        else:
            candidates = np.where(live & ~unchanged_rows[:, j], pos, -1)
            provider = np.maximum.reduceat(candidates, starts)[kept]
        missing = provider < 0
        unchanged[:, j] = missing
        indices = pa.array(np.where(missing, 0, provider), mask=missing)
        out_columns.append(events[name].take(indices))
    upserts = pa.table(out_columns, schema=table.select(columns).schema.remove_metadata())
    return NetChanges(truncate, deletes, upserts, unchanged)


def replay(batches: pa.Table, primary_key: tuple[str, ...]) -> pa.Table:
    """The table that replaying ``batches`` from an empty table produces (user columns only;
    a column that no change ever sent is null)."""
    return collapse(batches, primary_key).upserts
