"""The net effect of a change batch, by primary key: what a database sink applies, what replay
(``arrowtail verify`` against Parquet) reconstructs.

A change batch (docs/design.md, "The change batch") is one table's changes in source order. Applied
one by one they would need a statement per row; instead the batch is reduced, with pyarrow and
numpy only (no per-row Python), to

- ``truncate``: the table is emptied first (the last ``t`` row; everything before it is moot),
- ``deletes``: keys to delete (a key deleted in the batch, also when it is re-inserted later in the
  same batch: delete-then-insert replaces the row instead of merging into it),
- ``upserts``: one row per surviving key, merged in (``_pos``, ``_seq``) order: the last change
  wins, but a column listed in ``_unchanged`` keeps the value of an earlier change of the batch or,
  when no change of the batch sent it, the value already in the target (``unchanged`` flags).

An update that changes the primary key (its ``_before`` image carries another key) is a delete of
the old key followed by an upsert of the new one. Its ``_unchanged`` columns (PostgreSQL sends
unchanged TOASTed values as ``u``, protocol "TupleData") belong to the old row: an earlier change
of the batch supplies them, through any chain of key changes, or else they are ``carried`` from
the old key's row in the target, which the sink reads before it deletes that row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from arrowtail.exceptions import RESERVED_COLUMNS, SchemaChangeError

#: The bookkeeping columns of a change batch; every other column is a user column.
META_COLUMNS = frozenset(RESERVED_COLUMNS)
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
    #: Key columns of the target row each upsert row takes its ``carried`` columns from (the old
    #: key of a primary-key change); a null row carries nothing. ``None``: no row carries.
    carry_from: pa.Table | None = None
    #: ``carried[i, j]``: upsert row ``i`` takes column ``j`` from the target's row at
    #: ``carry_from[i]`` (as it was before this batch); always also ``unchanged[i, j]``.
    carried: np.ndarray | None = None

    def groups(self) -> Iterator[tuple[list[str], pa.Table]]:
        """Upsert rows grouped by the set of columns they carry (usually a single group)."""
        names = self.upserts.column_names
        for mask, signature in _signatures(self.unchanged):
            columns = [n for n, skip in zip(names, signature, strict=True) if not skip]
            yield columns, self.upserts.filter(pa.array(mask)).select(columns)

    def carries(self) -> Iterator[tuple[list[str], pa.Table]]:
        """For rows that carry columns from another key, grouped by those columns: (the carried
        columns, a table of the new key's columns followed by the old key's as ``__from_<k>``)."""
        if self.carry_from is None or self.carried is None:
            return
        pk = self.carry_from.column_names
        pairs = self.upserts.select(pk)
        for name in pk:
            pairs = pairs.append_column(f"__from_{name}", self.carry_from[name])
        for mask, signature in _signatures(self.carried):
            if signature.any():
                names = self.upserts.column_names
                columns = [n for n, take in zip(names, signature, strict=True) if take]
                yield columns, pairs.filter(pa.array(mask))


def _signatures(matrix: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(row mask, row) for each distinct row of a boolean matrix."""
    if matrix.shape[0] == 0:
        return
    width = matrix.shape[1]
    if width <= 62:
        # One integer per row is far quicker to group than rows of a boolean matrix.
        codes = (matrix.astype(np.int64) << np.arange(width, dtype=np.int64)).sum(1)
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        signatures = matrix[first]
    else:
        signatures, inverse = np.unique(matrix, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    for i, signature in enumerate(signatures):
        yield inverse == i, signature


def comparable(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``array`` in a form Arrow's sort and comparison kernels take, equal exactly where the
    values are equal: lists (PostgreSQL arrays, MySQL SET) and month-day-nano intervals have no
    such kernels, so they become text and 16-byte binary; other types are returned as they are
    (extension types as their storage, dictionaries decoded). Used for key columns, which under
    REPLICA IDENTITY FULL are all columns."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    t = array.type
    if isinstance(t, pa.BaseExtensionType):
        array = array.storage
        t = array.type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _list_text(array)
    if t == pa.month_day_nano_interval():
        return pa.Array.from_buffers(
            pa.binary(16), len(array), array.buffers()[:2], offset=array.offset
        )
    if pa.types.is_struct(t) and [(f.name, f.type) for f in t] == _INTERVAL_PARTS:
        return _interval_struct_bytes(array)
    return array


#: The children of an interval as the Parquet sink stores it (struct<months, days, nanoseconds>).
_INTERVAL_PARTS = [("months", pa.int32()), ("days", pa.int32()), ("nanoseconds", pa.int64())]


def _interval_struct_bytes(array: pa.StructArray) -> pa.Array:
    """An interval struct as 16 bytes a value (months, days, nanoseconds), a null struct null."""
    packed = np.zeros(len(array), dtype=[(name, str(t)) for name, t in _INTERVAL_PARTS])
    for (name, _t), child in zip(_INTERVAL_PARTS, array.flatten(), strict=True):
        packed[name] = pc.fill_null(child, 0).to_numpy(zero_copy_only=False)
    validity = pc.is_valid(array).buffers()[1] if array.null_count else None
    return pa.Array.from_buffers(pa.binary(16), len(array), [validity, pa.py_buffer(packed)])


def _element_text(array: pa.Array) -> pa.Array:
    """Elements of a list as text (nulls stay null), one text per distinct value."""
    array = comparable(array)
    t = array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return array.cast(pa.large_string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        from arrowtail.sinks.database.postgres_copy import hex_strings

        return hex_strings(array.cast(pa.large_binary()), b"")
    return array.cast(pa.large_string())


def _list_text(array: pa.Array) -> pa.Array:
    """Each list as ``<length>:<e1>,<e2>,...`` with ``\\`` and ``,`` escaped and a null element
    as ``\\N``; a null list stays null. The length tells ``[]`` from ``[""]``."""
    lengths = pc.list_value_length(array)
    text = _element_text(array.flatten())
    text = pc.replace_substring(text, "\\", "\\\\")
    text = pc.replace_substring(text, ",", "\\,")
    text = pc.fill_null(text, "\\N")
    counts = pc.fill_null(lengths, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = np.zeros(len(array) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), text)
    joined = pc.binary_join(lists, pa.scalar(",", pa.large_string()))
    colon = pa.scalar(":", pa.large_string())
    return pc.binary_join_element_wise(lengths.cast(pa.large_string()), joined, colon)


def _fill_unsent_keys(table: pa.Table, pk: tuple[str, ...]) -> pa.Table:
    """Key columns an update did not send (MySQL ``binlog_row_image=MINIMAL`` sends the key in
    the before image only, and lists it in ``_unchanged``) take the before image's value: the
    key did not change."""
    if "_before" not in table.column_names:
        return table
    before = table["_before"].combine_chunks()
    unsent = _unchanged_matrix(table, list(pk))
    for j, k in enumerate(pk):
        if before.type.get_field_index(k) < 0 or not unsent[:, j].any():
            continue
        field = table.schema.field(k)
        old = pc.struct_field(before, k).cast(field.type)
        filled = pc.if_else(pa.array(unsent[:, j]), old, table[k].combine_chunks())
        table = table.set_column(table.schema.get_field_index(k), field, filled)
    return table


def _differ(a: pa.Array, b: pa.Array) -> pa.Array:
    """Element-wise "not the same key value", a null being the same as a null only (under
    REPLICA IDENTITY FULL every column is a key column, NULLs included)."""
    return pc.fill_null(pc.not_equal(a, b), pc.xor(pc.is_null(a), pc.is_null(b)))


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
        diff = _differ(comparable(pc.struct_field(before, k)), comparable(table[k]))
        diff = pc.and_(diff, pc.is_valid(before))  # no old image: the key did not change
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


def unapplied(batch: pa.RecordBatch | pa.Table, after: int) -> pa.Array:
    """Which changes of ``batch`` a sink that stored position ``after`` has yet to apply: those
    with ``_pos > after``, and snapshot reads (``r``) at exactly ``after`` (a snapshot consistent
    with the stored position may have been stored only in part, its rows all sharing that
    position, and re-reading a full row image as of that position is harmless)."""
    table = _as_table(batch)
    at = pa.scalar(after, pa.uint64())
    snapshot_at = pc.and_(pc.equal(table["_pos"], at), pc.equal(_ops(table), "r"))
    return pc.or_(pc.greater(table["_pos"], at), snapshot_at)


def collapse(
    batch: pa.RecordBatch | pa.Table, primary_key: tuple[str, ...], after: int | None = None
) -> NetChanges:
    """Reduces ``batch`` to its net effect; with ``after``, only the changes :func:`unapplied`
    names are kept (the others were applied before a restart)."""
    table = _as_table(batch)
    columns = [n for n in table.column_names if n not in META_COLUMNS]
    pk = tuple(primary_key)
    if after is not None and table.num_rows:
        table = table.filter(unapplied(table, after))
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
    table = _fill_unsent_keys(table, pk)

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
        arrays += [pa.array(idx * 2), pa.array(idx), pa.array(np.zeros(len(idx), dtype=np.int8))]
        # Built with the rows' schema, not cast to it: a cast refuses the null structs of a
        # column whose children are not nullable (Parquet's interval struct).
        parts.append(pa.Table.from_arrays(arrays, schema=rows.schema))
    events = pa.concat_tables(parts) if len(parts) > 1 else rows
    if events.num_rows == 0:
        return _empty(table, columns, pk, truncate)
    # Key columns Arrow cannot sort or compare (lists, intervals) are sorted and grouped by a
    # comparable stand-in column.
    sort_keys = []
    for i, k in enumerate(pk):
        stand_in = comparable(events[k])
        if stand_in.type == events.schema.field(k).type:
            sort_keys.append(k)
        else:
            sort_keys.append(f"__key{i}")
            events = events.append_column(sort_keys[-1], stand_in)
    order = [(k, "ascending") for k in sort_keys] + [("__ord", "ascending")]
    events = events.take(pc.sort_indices(events, order)).combine_chunks()

    m = events.num_rows
    first = np.zeros(m, dtype=bool)
    first[0] = True
    for k in sort_keys:
        col = events[k].combine_chunks()
        if m > 1:
            first[1:] |= _differ(col.slice(1), col.slice(0, m - 1)).to_numpy(zero_copy_only=False)
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
    # providers[i, j]: the event whose value upsert row i gets for column j (-1: none).
    providers = np.empty((int(kept.sum()), len(columns)), dtype=np.int64)
    for j, name in enumerate(columns):
        if name in pk:
            providers[:, j] = last_live[kept]
        else:
            candidates = np.where(live & ~unchanged_rows[:, j], pos, -1)
            providers[:, j] = np.maximum.reduceat(candidates, starts)[kept]
    unchanged = providers < 0
    carry_from, carried = None, None
    if moved is not None and unchanged.any():
        history = _History(events, kind, group, starts, unchanged_rows, moved, pk)
        first_live = np.minimum.reduceat(np.where(live, pos, m), starts)[kept]
        carry_from, carried = history.resolve(first_live, providers, unchanged, truncate)
    out_columns = []
    for j, name in enumerate(columns):
        missing = providers[:, j] < 0
        indices = pa.array(np.where(missing, 0, providers[:, j]), mask=missing)
        out_columns.append(events[name].take(indices))
    upserts = pa.table(out_columns, schema=table.select(columns).schema.remove_metadata())
    return NetChanges(truncate, deletes, upserts, unchanged, carry_from, carried)


class _History:
    """Where the unsent columns of a row moved to a new key come from: the old key's events in
    the batch (key order, then event order), followed back through earlier key changes, or the
    old key's row in the target. Only rows moved by a key change get here; those whose old key
    has no earlier event in the batch (the usual case) are settled at once, the rest one by one."""

    def __init__(
        self,
        events: pa.Table,
        kind: np.ndarray,
        group: np.ndarray,
        starts: np.ndarray,
        unchanged_rows: np.ndarray,
        moved: pa.Array,
        pk: tuple[str, ...],
    ) -> None:
        self.events, self.kind, self.group, self.starts = events, kind, group, starts
        self.unchanged_rows = unchanged_rows
        rows = events["__row"].to_numpy()
        order = events["__ord"].to_numpy()
        is_moved = moved.to_numpy(zero_copy_only=False)[rows]
        #: The event that moves a row in (the key change's own row event).
        self.move_in = (kind == 1) & is_moved
        #: Table row of a key change -> its delete-of-the-old-key event (even ordinal).
        removal = np.flatnonzero((kind == 0) & (order % 2 == 0))
        self.removal = np.full(int(rows.max()) + 1 if rows.size else 0, -1, dtype=np.int64)
        self.removal[rows[removal]] = removal
        self.rows = rows
        self.pk = list(pk)

    def origin(self, arrival: int, j: int) -> tuple[str, int]:
        """Column ``j`` of the row that event ``arrival`` moved in, just before the move:
        ``("batch", event)``, ``("target", event with the key to read)`` or ``("null", -1)``."""
        removal = int(self.removal[self.rows[arrival]])
        start = int(self.starts[self.group[removal]])
        kinds = self.kind[start:removal]
        deleted = np.flatnonzero(kinds == 0)
        first = start + (int(deleted[-1]) + 1 if deleted.size else 0)
        live = [p for p in range(first, removal) if self.kind[p] == 1]
        for p in reversed(live):
            if not self.unchanged_rows[p, j]:
                return "batch", p
        if live and self.move_in[live[0]]:
            return self.origin(live[0], j)
        if deleted.size:
            return "null", -1  # the old row was deleted earlier in the batch
        return "target", removal

    def resolve(
        self, first_live: np.ndarray, providers: np.ndarray, unchanged: np.ndarray, truncate: bool
    ) -> tuple[pa.Table | None, np.ndarray | None]:
        """Fills ``providers``/``unchanged`` in place for rows whose first live event moved them
        in; returns ``carry_from`` and ``carried`` (``None`` when nothing is carried)."""
        carried = np.zeros_like(unchanged)
        source = np.full(len(first_live), -1, dtype=np.int64)
        rows = np.flatnonzero(self.move_in[first_live] & unchanged.any(axis=1))
        removals = self.removal[self.rows[first_live[rows]]]
        # The old key's first event is its removal: its row comes straight from the target.
        direct = removals == self.starts[self.group[removals]]
        if truncate:
            unchanged[rows[direct]] = False  # the target was emptied: no old row to keep
        else:
            carried[rows[direct]] = unchanged[rows[direct]]
            source[rows[direct]] = removals[direct]
        for i in rows[~direct]:
            for j in np.flatnonzero(unchanged[i]):
                where, event = self.origin(int(first_live[i]), int(j))
                if where == "batch":
                    providers[i, j], unchanged[i, j] = event, False
                elif where == "target" and not truncate:
                    carried[i, j], source[i] = True, event
                else:  # nothing to keep: the row did not exist before its move
                    unchanged[i, j] = False
        if not carried.any():
            return None, None
        return self.events.select(self.pk).take(
            pa.array(np.maximum(source, 0), mask=source < 0)
        ), carried


def replay(batches: pa.Table, primary_key: tuple[str, ...]) -> pa.Table:
    """The table that replaying ``batches`` from an empty table produces (user columns only;
    a column that no change ever sent is null)."""
    return collapse(batches, primary_key).upserts


def hashable(value: object) -> object:
    """A value as a dictionary key: lists, tuples and structs as tuples, NaN (a float or decimal
    one, which never equals itself) as one marker."""
    if isinstance(value, (list, tuple)):
        return tuple(hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, hashable(v)) for k, v in value.items()))
    if value != value:  # noqa: PLR0124 - NaN
        return "\0NaN"
    return value


def replay_rows(batches: pa.Table) -> pa.Table:
    """The table that replaying ``batches`` of a table without a key produces: each row is
    identified by all its values, and identical rows are counted, so a delete (or an update's old
    image, which such a table sends whole: MySQL's full row image, PostgreSQL's REPLICA IDENTITY
    FULL) removes one of them. Row by row in Python: for tables without any key only."""
    table = _as_table(batches)
    columns = [n for n in table.column_names if n not in META_COLUMNS]
    order = pc.sort_indices(table, [("_pos", "ascending"), ("_seq", "ascending")])
    table = table.take(order)
    ops = _ops(table).to_pylist()
    has_before = "_before" in table.column_names
    before = table["_before"].to_pylist() if has_before else [None] * len(ops)
    unchanged = (
        table["_unchanged"].to_pylist() if "_unchanged" in table.column_names else [None] * len(ops)
    )
    rows = table.select(columns).to_pylist()
    live: dict[object, list[dict[str, object]]] = {}

    def key(row: dict[str, object]) -> object:
        return tuple(hashable(row.get(c)) for c in columns)

    def remove(row: dict[str, object]) -> None:
        same = live.get(key(row))
        if same:
            same.pop()

    for op, row, old, kept in zip(ops, rows, before, unchanged, strict=True):
        if op == "t":
            live.clear()
        elif op in ("c", "r"):
            live.setdefault(key(row), []).append(row)
        elif op == "u":
            if old is not None:
                for col in kept or ():
                    row[col] = old.get(col)
                remove({c: old.get(c) for c in columns})
            live.setdefault(key(row), []).append(row)
        elif op == "d":
            remove(row)
    out = [row for same in live.values() for row in same]
    return pa.Table.from_pylist(out, schema=table.select(columns).schema)
