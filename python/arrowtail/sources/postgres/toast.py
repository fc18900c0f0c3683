"""TOAST re-select: fill unchanged TOASTed values of updates with the table's current values.

pgoutput does not send a TOASTed column an update left untouched (tuple kind ``u``): the change
batch lists it in ``_unchanged`` and leaves it null. With ``source.toast_reselect = true`` the
PostgreSQL source reads those columns by primary key, one query per table batch
(``COPY (SELECT key, columns FROM t WHERE (key) IN (VALUES ...))`` through the COPY decoder, so the
values have the stream's Arrow types), fills them in and removes them from ``_unchanged``.

The value read is the row's value *now*, which may be newer than the change being delivered (a
later transaction may have changed it already). A row that no longer exists keeps the column in
``_unchanged``. Tables without a primary key are left as they are.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import psycopg
import pyarrow as pa
from psycopg import sql

from arrowtail.exceptions import SourceError
from arrowtail.lazy import LazyModule
from arrowtail.sources.base import TableBatch
from arrowtail.sources.postgres import admin as pg_admin
from arrowtail.sources.postgres.incremental import Key, row_keys, split_name
from arrowtail.sources.postgres.snapshot import TableShape, copy_rows, new_decoder, table_shape

#: Imported at first use (:mod:`arrowtail.lazy`): a plain run never needs it.
if TYPE_CHECKING:
    import pyarrow.compute as pc
else:
    pc = LazyModule("pyarrow.compute")

log = logging.getLogger("arrowtail.postgres.toast")


class ToastReselect:
    """Fills unchanged TOAST columns of update rows; keeps one ordinary connection open."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection | None = None
        self._shapes: dict[str, TableShape] = {}
        #: Values filled in so far (for ``describe``).
        self.filled = 0

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def fill(self, batches: list[TableBatch]) -> list[TableBatch]:
        """``batches`` with the unchanged values of their update rows read back where possible."""
        out = []
        for table, version, batch in batches:
            if not table.startswith("_") and "_unchanged" in batch.schema.names:
                try:
                    batch = self._fill(table, batch)
                except (psycopg.Error, SourceError) as exc:
                    # Never raised on: the batches are decoded and their position handed out.
                    log.warning("TOAST re-select of %s failed, left unchanged: %s", table, exc)
                    self.close()
            out.append((table, version, batch))
        return out

    def _fill(self, table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        unchanged = batch.column("_unchanged")
        wanted = pc.and_(
            pc.equal(batch.column("_op"), "u"),
            pc.fill_null(pc.greater(pc.list_value_length(unchanged), 0), False),
        )
        if not pc.any(wanted).as_py():
            return batch
        lists: list[list[str] | None] = unchanged.to_pylist()
        rows = [i for i, w in enumerate(wanted.to_pylist()) if w]
        columns = sorted({c for i in rows for c in lists[i] or []})
        shape = self._shape(table, columns)
        if not shape.pk:
            return batch
        keys = row_keys(batch, shape.pk)
        fetched = self._select(shape, columns, {k for i in rows if (k := keys[i]) is not None})
        if fetched is None:
            return batch
        where: dict[Key, int] = {k: i for i, k in enumerate(row_keys(fetched, shape.pk)) if k}
        # Row of the batch -> row of ``fetched`` holding its current values.
        source = {i: where[k] for i in rows if (k := keys[i]) is not None and k in where}
        for name in columns:
            take = [
                source.get(i) if name in (lists[i] or []) else None for i in range(batch.num_rows)
            ]
            if all(t is None for t in take):
                continue
            j = batch.schema.get_field_index(name)
            values = fetched.column(name).take(pa.array(take, pa.int64()))
            mask = pa.array([t is not None for t in take])
            merged = _merge(mask, values, batch.column(j))
            batch = batch.set_column(j, batch.schema.field(j), merged)
            for i, t in enumerate(take):
                if t is not None and lists[i] is not None:
                    lists[i] = [c for c in lists[i] or [] if c != name]
                    self.filled += 1
        k = batch.schema.get_field_index("_unchanged")
        field = batch.schema.field(k)
        return batch.set_column(k, field, pa.array(lists, field.type))

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = pg_admin.connect(self._dsn)
        return self._conn

    def _shape(self, table: str, columns: list[str]) -> TableShape:
        shape = self._shapes.get(table)
        if shape is None or not set(columns) <= {c[0] for c in shape.columns}:
            schema, name = split_name(table)
            shape = self._shapes[table] = table_shape(self._connection(), schema, name)
        return shape

    def _select(
        self, shape: TableShape, columns: list[str], keys: set[Key]
    ) -> pa.RecordBatch | None:
        """The key and ``columns`` of the rows with ``keys``, in one statement."""
        known = {c[0]: c for c in shape.columns}
        if not keys or any(c not in known for c in columns):
            return None  # a column dropped since the change: nothing to read it from
        picked = [known[c] for c in shape.pk + [c for c in columns if c not in shape.pk]]
        sub = TableShape(shape.schema, shape.table, picked, shape.pk, shape.pk_types)
        values = sql.SQL(", ").join(
            sql.SQL("({})").format(
                sql.SQL(", ").join(
                    sql.SQL("CAST({} AS {})").format(sql.Literal(_literal(v, t)), sql.SQL(t))
                    for v, t in zip(key, shape.pk_types, strict=True)
                )
            )
            for key in sorted(keys, key=repr)
        )
        where = sql.SQL("({}) IN (VALUES {})").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in shape.pk), values
        )
        decoder = new_decoder(sub, 0, time.time_ns() // 1000)
        batches = [b for _, _, b in copy_rows(self._connection(), sub, decoder, None, where=where)]
        if not batches:
            return None
        return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _literal(value: Any, sql_type: str) -> Any:
    """A key value read from Arrow as psycopg can quote it (a uuid may arrive as 16 bytes)."""
    if sql_type == "uuid" and isinstance(value, bytes):
        return str(uuid.UUID(bytes=value))
    return value


def _merge(mask: pa.Array, values: pa.Array, original: pa.Array) -> pa.Array:
    """``values`` where ``mask`` is true, else ``original``."""
    try:
        return pc.if_else(mask, values, original)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        rows = zip(mask.to_pylist(), values.to_pylist(), original.to_pylist(), strict=True)
        picked = [v if m else o for m, v, o in rows]
        return pa.array(picked, original.type)
