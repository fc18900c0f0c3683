"""``TRUNCATE TABLE`` of a MySQL/MariaDB table as a ``t`` row of that table.

The binlog carries a truncate as a statement (a QUERY event), which the decoder hands on as a
``_ddl`` row. A consumer replaying the table (a Kafka consumer such as Debezium's JDBC sink, a
database target) needs it as the table's own change, as PostgreSQL's truncate arrives: one row
with ``_op = t``, every user column null, in the table's batches between the rows before and
after the statement. This module makes that row from the ``_ddl`` row (same ``_pos``, ``_seq``,
``_xid``, ``_commit_ts`` and, when the decoder writes it, ``_gtid``) and keeps the ``_ddl`` row.

The ``t`` row has the columns the table's change batches have at the statement's position: those
of the table's latest batch before it (stream or snapshot) when no DDL statement that may have
changed the table's columns came between, otherwise the columns ``information_schema`` gives now
(exact while the source is caught up, as for the schema history of ``history.py``). Its schema
version comes from the source's run-wide numbering, so a layout seen before keeps its number.

Binlog files decoded offline (``arrowtail decode``, ``sources/files.py``) have no server to ask:
there the ``t`` row needs rows of the table decoded before the statement with no DDL statement
that may have changed its columns in between; otherwise only the ``_ddl`` row is handed on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from arrowtail.sources.base import TableBatch
from arrowtail.sources.mysql.ddl import TableKey, touched_tables, truncated_table

log = logging.getLogger("arrowtail.mysql")

DDL_TABLE = "_ddl"
#: Columns of the ``t`` row taken from its ``_ddl`` row.
_FROM_DDL = ("_pos", "_seq", "_xid", "_commit_ts", "_gtid")


class Truncates:
    """Adds a ``t`` batch for every ``TRUNCATE`` among a poll's ``_ddl`` rows.

    ``connect`` opens a query connection (for ``information_schema``; None for binlog files
    decoded offline), ``versions`` is the source's ``SchemaVersions``, ``wanted("db.t")`` tells the
    captured tables."""

    def __init__(
        self, connect: Callable[[], Any] | None, versions: Any, wanted: Callable[[str], bool]
    ):
        self._connect = connect
        self._versions = versions
        self._wanted = wanted
        #: Per table: the schema of its latest batch and the latest ``_pos`` in that batch.
        self._layouts: dict[str, tuple[pa.Schema, int]] = {}
        #: Per table: ``_pos`` of the last DDL statement that may have changed its columns.
        self._changed: dict[str, int] = {}
        #: ``_pos`` of the last DDL statement whose tables could not be told.
        self._changed_all = -1

    def seen(self, batches: list[TableBatch]) -> None:
        """Records the layouts of batches handed on without passing through :meth:`apply`
        (snapshot batches, a spilled transaction's rows)."""
        for table, _, batch in batches:
            self._remember(table, batch)

    def apply(self, batches: list[TableBatch]) -> list[TableBatch]:
        """``batches`` (one poll, decoded and filtered) with a ``t`` batch after the rows of its
        table that come before each ``TRUNCATE``, and before those that follow it."""
        statements = sorted(
            (
                (row["_pos"], row["_seq"], row["database"] or "", row["statement"] or "", batch, j)
                for table, _, batch in batches
                if table == DDL_TABLE
                for j, row in enumerate(
                    batch.select(["_pos", "_seq", "database", "statement"]).to_pylist()
                )
            ),
            key=lambda s: (s[0], s[1]),
        )
        for pos, _seq, database, statement, ddl_batch, j in statements:
            key = truncated_table(statement, database)
            if key is None:
                self._note_ddl(pos, statement, database)
                continue
            name = f"{key[0]}.{key[1]}"
            if not self._wanted(name):
                continue
            schema = self._schema_at(name, pos, batches) or self._current_schema(key)
            if schema is None:
                why = (
                    "it no longer exists"
                    if self._connect is not None
                    else "no rows of it decoded since its columns last may have changed"
                )
                log.warning(
                    "TRUNCATE of %s at _pos %d: the table's columns are unknown (%s), so only "
                    "its _ddl row is handed on",
                    name,
                    pos,
                    why,
                )
                continue
            row = _truncate_row(schema, ddl_batch.slice(j, 1))
            version, row = self._versions.assign(name, row)
            batches = _place(batches, (name, version, row), pos)
        for table, _, batch in batches:
            self._remember(table, batch)
        return batches

    def _remember(self, table: str, batch: pa.RecordBatch) -> None:
        if table.startswith("_") or not batch.num_rows:
            return
        # A batch's rows are in commit order: its last row has its latest position.
        last = batch.column("_pos")[batch.num_rows - 1].as_py()
        known = self._layouts.get(table)
        if known is None or last >= known[1]:
            self._layouts[table] = (batch.schema, last)

    def _note_ddl(self, pos: int, statement: str, database: str) -> None:
        known = [_key(t) for t in self._layouts]
        touched = touched_tables(statement, database, known)
        if touched is None:
            self._changed_all = pos
            return
        for db, table in touched:
            self._changed[f"{db}.{table}"] = pos

    def _schema_at(self, name: str, pos: int, batches: list[TableBatch]) -> pa.Schema | None:
        """The schema of the table's latest rows before ``pos``, unless a DDL statement after
        them may have changed its columns."""
        best = self._layouts.get(name)
        for table, _, batch in batches:
            if table != name:
                continue
            before = pc.filter(batch.column("_pos"), pc.less(batch.column("_pos"), pos))
            if len(before):
                last = pc.max(before).as_py()
                if best is None or last >= best[1]:
                    best = (batch.schema, last)
        if best is None:
            return None
        schema, last = best
        changed = max(self._changed.get(name, -1), self._changed_all)
        return schema if last > changed else None

    def _current_schema(self, key: TableKey) -> pa.Schema | None:
        """The table's change-batch schema from ``information_schema`` (as its snapshot has
        it); None when the table is gone, or without a server to ask."""
        from arrowtail.sources.mysql.snapshot import row_builder, table_columns

        if self._connect is None:
            return None
        conn = self._connect()
        try:
            columns, pk = table_columns(conn, key[0], key[1])
        finally:
            conn.close()
        if not columns:
            return None
        epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
        schema: pa.Schema = row_builder(f"{key[0]}.{key[1]}", columns, pk, 0, epoch).schema
        return schema


def _key(table: str) -> TableKey:
    db, _, name = table.partition(".")
    return db, name


def _truncate_row(schema: pa.Schema, ddl_row: pa.RecordBatch) -> pa.RecordBatch:
    """One ``t`` row of ``schema``: the ``_ddl`` row's position, ordinal, transaction and time,
    every other column null. The optional ``_gtid`` comes along when the ``_ddl`` row has it (a
    schema read from ``information_schema`` lacks it)."""
    if "_gtid" in ddl_row.schema.names and "_gtid" not in schema.names:
        schema = schema.append(ddl_row.schema.field("_gtid"))
    arrays = []
    for field in schema:
        if field.name == "_op":
            arrays.append(pa.array(["t"], field.type))
        elif field.name in _FROM_DDL:
            arrays.append(ddl_row.column(field.name).cast(field.type))
        else:
            arrays.append(pa.nulls(1, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _place(batches: list[TableBatch], truncate: TableBatch, pos: int) -> list[TableBatch]:
    """``batches`` with ``truncate`` between its table's rows before ``pos`` and those after
    (a table's rows are in ``_pos`` order within each batch)."""
    name = truncate[0]
    out: list[TableBatch] = []
    placed = False
    for table, version, batch in batches:
        if table != name or placed:
            out.append((table, version, batch))
            continue
        before = pc.sum(pc.less(batch.column("_pos"), pos)).as_py() or 0
        if before == batch.num_rows:
            out.append((table, version, batch))
            continue
        if before:
            out.append((table, version, batch.slice(0, before)))
        out.append(truncate)
        placed = True
        out.append((table, version, batch.slice(before)))
    if not placed:
        out.append(truncate)
    return out
