"""The value rows already in a MySQL/MariaDB table hold in a column ``ALTER TABLE ... ADD`` makes.

The server gives those rows the column's default (or, for a NOT NULL column without one, the
type's implicit default: 0, the empty string, an ENUM's first label) and logs no row change for
them: the binlog holds only the statement. A database target that adds the column would leave
them NULL. So the source reads the value from the statement (``ddl.altered_columns``) and puts it
on the column's field in the table's batches from the statement on, as field metadata
``arrowtail.missing_value`` (the key PostgreSQL sources use for the same case); the target sets
it in its rows when it adds the column. A value the statement does not tell in a form read here
(an expression such as ``CURRENT_TIMESTAMP``, ``AUTO_INCREMENT``, a generated column, a
``TIMESTAMP`` literal, which depends on the session's time zone) is a warning naming the column.

A value holds until a later statement drops, renames or changes the column, or renames the
table; it lives for the run (a restart that reads the ``ALTER`` again from the binlog finds it
again). The field also carries ``arrowtail.added_since_start``: the statement came after the
position the run started from, so every row a target holds predates the column, and a target
fills it even when the run's first change of the table brings the column (a table with no
change between that position and the statement).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pyarrow as pa

from arrowtail.sources.base import ADDED_SINCE_START, MISSING_VALUE, TableBatch
from arrowtail.sources.mysql.ddl import altered_columns, touched_tables
from arrowtail.sources.mysql.truncate import DDL_TABLE

log = logging.getLogger("arrowtail.mysql")


class AddedValues:
    """Follows a poll's ``_ddl`` rows and marks added columns in the batches after them.

    ``wanted("db.t")`` tells the captured tables (others are neither followed nor warned of)."""

    def __init__(self, wanted: Callable[[str], bool]) -> None:
        self._wanted = wanted
        #: Per table: lower-case column name -> the text of the value its older rows hold.
        self._values: dict[str, dict[str, str]] = {}

    def apply(self, batches: list[TableBatch]) -> list[TableBatch]:
        """``batches`` (one poll, in stream order within each table), each table batch marked
        with the values in force at its first row."""
        if not self._values and not any(table == DDL_TABLE for table, _, _ in batches):
            return batches
        events: list[tuple[int, int, int, int]] = []
        statements: list[tuple[str, str]] = []
        for i, (table, _, batch) in enumerate(batches):
            if not batch.num_rows:
                continue
            if table == DDL_TABLE:
                rows = batch.select(["_pos", "_seq", "database", "statement"]).to_pylist()
                for row in rows:
                    events.append((row["_pos"], row["_seq"], 0, len(statements)))
                    statements.append((row["database"] or "", row["statement"] or ""))
            elif not table.startswith("_"):
                events.append((batch.column("_pos")[0].as_py(), -1, 1, i))
        out = list(batches)
        for _pos, _seq, kind, index in sorted(events):
            if kind == 0:
                self._follow(*statements[index])
            else:
                out[index] = self._mark(batches[index])
        return out

    def mark(self, batches: list[TableBatch]) -> list[TableBatch]:
        """``batches`` marked with the values in force now (rows of a spilled transaction)."""
        return [self._mark(b) for b in batches] if self._values else batches

    def _follow(self, database: str, statement: str) -> None:
        altered = altered_columns(statement, database)
        if altered is None:
            # CREATE, DROP or RENAME TABLE: what was known of the tables it touches is gone.
            known = [(db, name) for db, _, name in (t.partition(".") for t in self._values)]
            touched = touched_tables(statement, database, known)
            if touched is None:
                return
            for db, name in touched:
                self._values.pop(f"{db}.{name}", None)
            return
        table = f"{altered.table[0]}.{altered.table[1]}"
        if altered.forget_all:
            self._values.pop(table, None)
            return
        values = self._values.setdefault(table, {})
        for name in altered.removed:
            values.pop(name, None)
        untold = []
        for key, (name, value, why) in altered.added.items():
            values.pop(key, None)
            if value is not None:
                values[key] = value
            elif why:
                untold.append(f"{name} ({why})")
        if untold and self._wanted(table):
            log.warning(
                "%s: ALTER TABLE added %s; the rows already there hold values the binlog does "
                "not tell, so a database target leaves them NULL in its rows (`arrowtail "
                "verify` names those rows)",
                table,
                ", ".join(untold),
            )
        if not values:
            del self._values[table]

    def _mark(self, item: TableBatch) -> TableBatch:
        table, version, batch = item
        values = self._values.get(table)
        if not values or not any(f.name.lower() in values for f in batch.schema):
            return item
        # Read from the statement in this run's stream, after its start: the column is newer
        # than every row a target holds.
        fields = [
            f.with_metadata(
                {
                    **(f.metadata or {}),
                    MISSING_VALUE: values[f.name.lower()],
                    ADDED_SINCE_START: "1",
                }
            )
            if f.name.lower() in values
            else f
            for f in batch.schema
        ]
        schema = pa.schema(fields, metadata=batch.schema.metadata)
        return table, version, pa.RecordBatch.from_arrays(batch.columns, schema=schema)
