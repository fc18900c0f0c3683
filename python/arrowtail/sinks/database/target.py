"""What the PostgreSQL and MySQL/MariaDB target sinks share: the sink protocol, the state table,
replay protection, table preparation and the order in which a batch's net effect is applied.

Exactly-once on the target: everything written between two ``commit`` calls is applied in one
target transaction together with the new position in ``arrowtail_state``. After a crash the
target holds the changes up to the stored position and nothing else, and ``write`` skips rows whose
``_pos`` is at or below it, so a replay neither repeats nor loses a change, and the stored position
never moves backwards. (Snapshot reads at exactly the stored position are applied again: see
:func:`arrowtail.changes.collapse`.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from arrowtail.changes import collapse, table_info, unapplied
from arrowtail.exceptions import ArrowtailError, SinkError
from arrowtail.sinks.database import sqltypes
from arrowtail.sources.base import ADDED_SINCE_START as SOURCE_ADDED_SINCE_START
from arrowtail.sources.base import MISSING_VALUE as SOURCE_MISSING_VALUE
from arrowtail.sources.base import PositionJSON
from arrowtail.sources.positions import read_position

STATE_TABLE = "arrowtail_state"
#: Pseudo-tables (docs/design.md) that carry messages and DDL, not rows of a table.
PSEUDO_TABLES = frozenset({"_messages", "_ddl"})

log = logging.getLogger(__name__)

#: Field metadata: the value a column added at the source with a default holds in the rows that
#: were there before (``sources.base.MISSING_VALUE``), as Arrow gives metadata keys.
MISSING_VALUE = SOURCE_MISSING_VALUE.encode()
#: Field metadata: the column was added after the position the run started from
#: (``sources.base.ADDED_SINCE_START``).
ADDED_SINCE_START = SOURCE_ADDED_SINCE_START.encode()


def position_order(position: PositionJSON | None) -> int | None:
    """The ``_pos`` a position covers (its typed position's order); ``None`` if unknown.

    Unlike file and Kafka sinks, a database sink must compare positions: it decides which
    re-delivered changes its target already holds."""
    if not position:
        return None
    try:
        return read_position(position).order
    except ValueError:
        return None


class TargetTable:
    """A target table as found (or created) for one (table, schema version)."""

    def __init__(
        self,
        name: str,
        sql_name: Any,
        columns: dict[str, str],
        pk: tuple[str, ...],
        other_unique: bool = False,
    ):
        self.name = name
        self.sql_name = sql_name
        self.columns = columns
        self.pk = pk
        #: Whether the target holds unique (or exclusion) constraints besides the primary key.
        self.other_unique = other_unique


class TargetSink:
    """Base class of the database sinks; subclasses implement the ``_``-prefixed engine hooks.

    ``sink_name``: the row of ``arrowtail_state`` this sink owns (several sinks may share a
    target). ``create_tables``: create missing target tables (and add missing columns of a new
    schema version, and widen a number column it widened) from the Arrow schema; otherwise a
    missing table, a missing column, another primary key or an incompatible column type is a
    ``SinkError`` at the table's first batch.
    ``table_map``: ``{"schema.table": "target_schema.target_table"}`` or a callable doing that
    mapping; unmapped tables keep their name (MySQL: the schema is the database).
    """

    engine: str = ""

    #: The engine's DB-API connection, opened by the subclass's ``_connect``.
    _conn: Any

    def __init__(
        self,
        *,
        sink_name: str = "arrowtail",
        create_tables: bool = False,
        table_map: dict[str, str] | Callable[[str], str] | None = None,
    ) -> None:
        self.sink_name = sink_name
        self.create_tables = create_tables
        self.table_map = table_map
        self._durable: PositionJSON | None = None
        self._floor: int | None = None
        self._in_txn = False
        # Set when a write failed: its transaction, with every write since the last commit, is
        # gone, so committing a newer position now would skip those changes for good.
        self._failed: str | None = None
        #: By (table, schema version, the source's key): a key changed at the source keeps
        #: the layout's version, yet the target must be checked (and rekeyed) again.
        self._tables: dict[tuple[str, int, tuple[str, ...]], TargetTable] = {}
        #: Per source table, the columns of the last schema version this sink prepared.
        self._columns_seen: dict[str, set[str]] = {}
        self.rows_applied = 0
        self._savepoints = 0

    # -- the sink protocol -------------------------------------------------------------------

    def open(self) -> PositionJSON | None:
        """Connects, creates the state table if needed and returns the stored position. Called
        again after a failed write, it starts over from the stored position."""
        self._abort()
        self._disconnect()
        try:
            self._connect()
            self._ensure_state_table()
            self._durable = self._read_state(lock=False)
            self._commit_txn()
        except ArrowtailError:
            raise
        except Exception as exc:
            raise SinkError(f"{self.engine} target: cannot open: {exc}") from exc
        self._floor = position_order(self._durable)
        self._failed = None
        return self._durable

    def write(self, table: str, schema_version: int, batch: pa.RecordBatch) -> None:
        """Applies ``batch`` inside the open target transaction (committed by ``commit``)."""
        if table.rsplit(".", 1)[-1] in PSEUDO_TABLES or batch.num_rows == 0:
            return
        info = table_info(batch.schema, table)
        if not info.primary_key:
            raise SinkError(
                f"table {table} has no primary key, so its changes cannot be applied by key: "
                f"name key columns (--key-columns '{table}:col,...'), or leave the table out of "
                "the capture (--tables)"
            )
        if self._applied_before(batch):
            # Nothing to check the target against (a target rekeyed since must not be taken
            # back to the key these older changes were made under).
            self._columns_seen[table] = set(info.columns)
            return
        try:
            self._begin()
            target = self._prepare(table, schema_version, batch.schema)
            self._check_identity(table, batch.schema, info.primary_key, target.pk)
            self._apply_in_order(target, batch)
        except ArrowtailError as exc:
            self._fail(str(exc))
            if table in str(exc):
                raise
            # Value checks name the column; the table is known only here.
            raise type(exc)(f"{self.engine} target, table {table}: {exc}") from exc
        except Exception as exc:
            self._fail(str(exc))
            raise SinkError(f"{self.engine} target, table {table}: {exc}{self._hint(exc)}") from exc

    def _apply_in_order(self, target: TargetTable, batch: pa.RecordBatch) -> None:
        """Applies ``batch``'s net effect per key. Its rows go in a few statements, whose order
        is not the source's; a target with other unique keys can refuse that order where the
        source's was fine (two rows trading a value, a value freed by one row and taken by
        another). Then the batch's first half is applied and its second after it, each the
        same way, down to single rows, which come in the source's order and so fit."""
        if not target.other_unique or batch.num_rows < 2:
            self._apply(target, batch)
            return
        mark = self._savepoint()
        try:
            self._apply(target, batch)
        except Exception as exc:
            if not self._refused_by_unique(exc):
                raise
            self._rollback_to(mark)
            half = batch.num_rows // 2
            log.debug(
                "%s: a unique key refused %d rows at once; halving", target.name, batch.num_rows
            )
            self._apply_in_order(target, batch.slice(0, half))
            self._apply_in_order(target, batch.slice(half))
            return
        self._release(mark)

    def _apply(self, target: TargetTable, batch: pa.RecordBatch) -> None:
        net = collapse(batch, target.pk, after=self._floor)
        # Columns a moved row keeps from its old key are read before that key is deleted.
        carried = [self._stash(target, c, pairs) for c, pairs in net.carries()]
        if net.truncate:
            self._truncate(target)
        if net.deletes.num_rows:
            self._delete(target, net.deletes)
        for columns, rows in net.groups():
            self._upsert(target, columns, rows)
        for columns, stash in carried:
            self._unstash(target, columns, stash)
        self.rows_applied += net.deletes.num_rows + net.upserts.num_rows

    def _savepoint(self) -> Any:
        """Sets a savepoint in the open transaction; returns what :meth:`_rollback_to` and
        :meth:`_release` take."""
        self._savepoints += 1
        name = f"arrowtail_{self._savepoints}"
        with self._conn.cursor() as cur:
            cur.execute(f"SAVEPOINT {name}")
        return name

    def _rollback_to(self, mark: Any) -> None:
        with self._conn.cursor() as cur:
            cur.execute(f"ROLLBACK TO SAVEPOINT {mark}")

    def _release(self, mark: Any) -> None:
        with self._conn.cursor() as cur:
            cur.execute(f"RELEASE SAVEPOINT {mark}")

    def _applied_before(self, batch: pa.RecordBatch) -> bool:
        """Whether every row of ``batch`` was applied before a restart (``collapse`` would skip
        them all)."""
        if self._floor is None:
            return False
        return not pc.any(unapplied(batch, self._floor)).as_py()

    def commit(self, position: PositionJSON) -> None:
        """Commits everything written together with ``position`` in the state table."""
        if self._failed is not None:
            raise SinkError(
                f"{self.engine} target: not committing {position}: an earlier write failed and"
                f" was rolled back ({self._failed}); restart from the durable position"
            )
        new = position_order(position)
        backwards = new is not None and self._floor is not None and new < self._floor
        try:
            self._begin()
            if backwards:
                # Everything at or below the stored position was skipped by write(); keep it.
                # Normal after a restart when the source re-delivers from an older point.
                log.info("keeping the stored position %s (commit of older %s)", self._floor, new)
            else:
                self._write_state(position)
            self._commit_txn()
        except ArrowtailError:
            self._abort()
            raise
        except Exception as exc:
            self._abort()
            raise SinkError(f"{self.engine} target: commit failed: {exc}") from exc
        self._in_txn = False
        if not backwards:
            self._durable = position
            self._floor = new if new is not None else self._floor

    def durable_position(self) -> PositionJSON | None:
        """The last position committed to the target."""
        return self._durable

    def close(self) -> None:
        """Rolls back anything uncommitted and disconnects."""
        try:
            self._abort()
        finally:
            self._disconnect()

    # -- shared steps ------------------------------------------------------------------------

    def _begin(self) -> None:
        if self._in_txn:
            return
        # Re-read (and lock) the state row: another process may have advanced it since open().
        stored = self._read_state(lock=True)
        order = position_order(stored)
        if order is not None and (self._floor is None or order > self._floor):
            self._floor, self._durable = order, stored
        self._in_txn = True

    def _fail(self, reason: str) -> None:
        self._failed = reason
        self._abort()

    def _abort(self) -> None:
        if self._in_txn:
            self._in_txn = False
            try:
                self._rollback()
            except Exception:  # the connection may be gone; the server rolls back anyway
                log.debug("rollback failed", exc_info=True)

    def target_name(self, table: str) -> tuple[str, str]:
        """``schema.table`` -> (target schema or database, target table)."""
        mapped = table
        if callable(self.table_map):
            mapped = self.table_map(table)
        elif self.table_map and table in self.table_map:
            mapped = self.table_map[table]
        # The first dot separates schema (MySQL: database) and table, as everywhere in arrowtail.
        schema, dot, name = mapped.partition(".")
        if not dot:
            schema, name = "", schema
        return schema or self._default_schema(), name

    def _prepare(self, table: str, version: int, schema: pa.Schema) -> TargetTable:
        info = table_info(schema, table)
        cached = self._tables.get((table, version, tuple(info.primary_key)))
        if cached is not None:
            return cached
        fields = [schema.field(c) for c in info.columns]
        target_schema, name = self.target_name(table)
        where = f"{target_schema}.{name}"
        columns, pk = self._describe(target_schema, name)
        # PostgreSQL flags every column as key under REPLICA IDENTITY FULL (pgoutput Relation
        # message), so the stream does not say which columns the primary key has.
        full = (schema.metadata or {}).get(b"arrowtail.replica_identity") == b"f"
        if columns is None:
            if not self.create_tables:
                raise SinkError(
                    f"target table {where} (for {table}) does not exist; create it or pass"
                    " create_tables=True"
                )
            if full:
                raise SinkError(
                    f"table {table} has REPLICA IDENTITY FULL, so its changes do not name its"
                    f" primary key; create the target table {where} with the source's primary"
                    " key first (or let an initial snapshot create it)"
                )
            defs = [
                (f.name, self._column_type(f, where, f.name in info.primary_key)) for f in fields
            ]
            self._create(target_schema, name, defs, info.primary_key)
            columns, pk = self._describe(target_schema, name)
            assert columns is not None
        problems = []
        missing = [f for f in fields if f.name not in columns]
        if missing and self.create_tables:
            self._add_columns(
                target_schema, name, [(f.name, self._column_type(f, where)) for f in missing]
            )
            columns, pk = self._describe(target_schema, name)
            assert columns is not None
        elif missing:
            problems.append("missing column(s) " + ", ".join(f.name for f in missing))
        widen = [
            (f.name, wider)
            for f in fields
            if f.name in columns
            and (wider := sqltypes.widened(f, columns[f.name], self.engine)) is not None
        ]
        decimals = [f for f in fields if f.name in columns and sqltypes.family(f) == "decimal"]
        if decimals and self.create_tables:
            digits = self._decimal_digits(target_schema, name)
            widen += [
                (f.name, wider)
                for f in decimals
                if (wider := sqltypes.widened_decimal(f, digits.get(f.name), self.engine))
            ]
        if widen and self.create_tables:
            log.info(
                "target table %s: widening %s, as %s was altered",
                where,
                ", ".join(f"{c} ({columns[c]} to {t})" for c, t in widen),
                table,
            )
            self._widen_columns(target_schema, name, widen)
            columns, pk = self._describe(target_schema, name)
            assert columns is not None
        key = tuple(info.primary_key)
        if full and pk and set(pk) <= set(info.columns):
            key = tuple(pk)  # every column identifies the row; the target's key is among them
        self._check_identity(table, schema, key, tuple(pk))
        held = tuple(pk) != key and pk and self.create_tables and set(key) <= set(columns)
        if held and self._key_has_nulls(target_schema, name, key):
            problems.append(
                f"({', '.join(key)}) would be NULL in rows already there, so it cannot be the"
                " primary key yet (a renamed key column arrives as a new column): add it to the"
                " target table and fill it from the old one (ALTER TABLE ... ADD COLUMN, UPDATE"
                " ... SET new = old), then start the run again"
            )
        elif held:
            # The source's primary key changed while streaming (ALTER TABLE ... ADD PRIMARY
            # KEY): its rows are unique by the new key, and the target's rows are its rows.
            log.info(
                "target table %s: primary key (%s) replaced by (%s), as %s's was",
                where,
                ", ".join(pk),
                ", ".join(key),
                table,
            )
            by_name = {f.name: f for f in fields}
            self._rekey(
                target_schema,
                name,
                [(c, self._column_type(by_name[c], where, True)) for c in key],
                [c for c in pk if c not in key],
            )
            columns, pk = self._describe(target_schema, name)
            assert columns is not None
        if tuple(pk) != key:
            problems.append(
                f"primary key is ({', '.join(pk)}), the source's is ({', '.join(info.primary_key)})"
            )
        elif missing and self.create_tables:
            # After every ALTER TABLE: a MySQL target may roll its transaction back for one.
            self._fill_added(target_schema, name, where, table, missing)
        for f in fields:
            have = columns.get(f.name)
            if have is not None and not sqltypes.accepts(f, have):
                problems.append(f"column {f.name} is {have}, cannot hold Arrow {f.type}")
        if problems:
            raise SinkError(f"target table {where} does not match {table}: " + "; ".join(problems))
        target = TargetTable(
            table,
            self._sql_name(target_schema, name),
            columns,
            key,
            self._other_unique(target_schema, name),
        )
        self._tables[(table, version, tuple(info.primary_key))] = target
        self._columns_seen[table] = set(info.columns)
        return target

    @staticmethod
    def _check_identity(
        table: str, schema: pa.Schema, identity: tuple[str, ...], key: tuple[str, ...]
    ) -> None:
        """Refuses changes that name their row by a replica identity index other than the key
        the target applies them by (PostgreSQL ``REPLICA IDENTITY USING INDEX`` on a table with
        a primary key): a delete carries only the index columns and a key change does not say
        the old key, so applied by the primary key they would leave rows behind silently."""
        if (schema.metadata or {}).get(b"arrowtail.replica_identity") != b"i" or identity == key:
            return
        raise SinkError(
            f"table {table} has REPLICA IDENTITY USING INDEX ({', '.join(identity)}): its"
            f" deletes and key changes name a row by those columns only, which a target keyed"
            f" by ({', '.join(key)}) cannot apply. On the source run ALTER TABLE {table}"
            " REPLICA IDENTITY FULL (or DEFAULT), then take a new snapshot into an emptied"
            " target: changes already in the log keep naming rows by the index"
        )

    def _values(self, target: TargetTable, rows: pa.Table) -> list[tuple]:
        return sqltypes.rows_for(rows, self.engine, target.columns)

    # -- engine hooks ------------------------------------------------------------------------

    def _connect(self) -> None:
        raise NotImplementedError

    def _other_unique(self, schema: str, name: str) -> bool:
        """Whether the table has unique or exclusion constraints besides its primary key."""
        raise NotImplementedError

    def _refused_by_unique(self, exc: Exception) -> bool:
        """Whether ``exc`` is a unique (or exclusion) constraint refusing a write."""
        raise NotImplementedError

    def _hint(self, exc: Exception) -> str:
        """What to do about ``exc``, a failed write, appended to its message (or nothing)."""
        return ""

    def _disconnect(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def _commit_txn(self) -> None:
        raise NotImplementedError

    def _ensure_state_table(self) -> None:
        raise NotImplementedError

    def _read_state(self, lock: bool) -> PositionJSON | None:
        """The stored position (``lock``: row-locked until the transaction ends). Both engines'
        drivers take the same statement; psycopg returns jsonb parsed, PyMySQL JSON as text."""
        suffix = " FOR UPDATE" if lock else ""
        with self._conn.cursor() as cur:
            cur.execute(
                f"SELECT position FROM {STATE_TABLE} WHERE sink_name = %s{suffix}",
                (self.sink_name,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return row[0] if isinstance(row[0], dict) else json.loads(row[0])

    def _write_state(self, position: PositionJSON) -> None:
        raise NotImplementedError

    def _decimal_digits(self, schema: str, name: str) -> dict[str, tuple[int, int]]:
        """``(precision, scale)`` of the target table's decimal columns that declare them."""
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT column_name, numeric_precision, numeric_scale"
                " FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                " AND data_type IN ('numeric', 'decimal') AND numeric_precision IS NOT NULL",
                (schema, name),
            )
            rows = cur.fetchall()
        return {str(c): (int(p), int(s or 0)) for c, p, s in rows}

    def _column_type(self, field: pa.Field, where: str, key: bool = False) -> str:
        """The type of a column this sink creates for ``field`` in the target table ``where``
        (``key``: a primary key column)."""
        return sqltypes.sql_type(field, self.engine, key)

    def _default_schema(self) -> str:
        raise NotImplementedError

    def _sql_name(self, schema: str, name: str) -> Any:
        raise NotImplementedError

    def _describe(self, schema: str, name: str) -> tuple[dict[str, str] | None, tuple[str, ...]]:
        """Target columns ``{name: data_type}`` (``None`` if no table) and primary key."""
        raise NotImplementedError

    def _create(self, schema: str, name: str, defs: list[tuple[str, str]], pk: tuple) -> None:
        raise NotImplementedError

    def _widen_columns(self, schema: str, name: str, defs: list[tuple[str, str]]) -> None:
        """Changes the type of existing columns to the wider ``defs`` (name, SQL type), keeping
        what else the columns declare."""
        raise NotImplementedError

    def _add_columns(self, schema: str, name: str, defs: list[tuple[str, str]]) -> None:
        raise NotImplementedError

    def _key_has_nulls(self, schema: str, name: str, key: tuple[str, ...]) -> bool:
        """Whether a row of the table has NULL in a column of ``key``."""
        raise NotImplementedError

    def _rekey(self, schema: str, name: str, key: list[tuple[str, str]], left: list[str]) -> None:
        """Makes ``key`` (columns with their key types) the table's primary key in place of
        the one it has; the old key's columns ``left`` out of it may hold NULL from then on
        (the source's rows may not carry them)."""
        raise NotImplementedError

    def _fill_added(
        self, schema: str, name: str, where: str, table: str, added: list[pa.Field]
    ) -> None:
        """Gives the rows already in the target the value the source's rows hold in columns
        added at the source with a default (PostgreSQL sends no change for those rows): each
        row of the target is one of them, since the table's first change after the column was
        added is the first of the new shape, being applied now. Only for a column this sink saw
        the table's changes without, in this run, or one the source says was added after the
        position the run started from (``ADDED_SINCE_START``): a column that first arrives
        with a run's first change of the table otherwise (say once a transform stops dropping
        it) may hold other values in rows written since it was added, and stays NULL in the
        target's rows."""
        before = self._columns_seen.get(table)

        def added_since(f: pa.Field) -> bool:
            if before is not None:
                return f.name not in before
            return (f.metadata or {}).get(ADDED_SINCE_START) == b"1"

        fills = [
            (f.name, value)
            for f in added
            if added_since(f) and (value := (f.metadata or {}).get(MISSING_VALUE)) is not None
        ]
        if not fills:
            return
        shown = ", ".join(f"{c} = {v.decode()!r}" for c, v in fills)
        log.info("target table %s: %s in the rows already there, as in %s's", where, shown, table)
        self._set_all(schema, name, [(c, v.decode()) for c, v in fills])

    def _set_all(self, schema: str, name: str, values: list[tuple[str, str]]) -> None:
        """Sets the columns to the values (source text) in every row of the table."""
        raise NotImplementedError

    def _truncate(self, target: TargetTable) -> None:
        raise NotImplementedError

    def _delete(self, target: TargetTable, keys: pa.Table) -> None:
        raise NotImplementedError

    def _upsert(self, target: TargetTable, columns: list[str], rows: pa.Table) -> None:
        """Inserts ``rows``, or updates ``columns`` of the rows with their keys, never by
        matching another unique key of ``target`` (an error instead)."""
        raise NotImplementedError

    def _stash(self, target: TargetTable, columns: list[str], pairs: pa.Table) -> tuple[list, Any]:
        """Copies ``columns`` of the target rows at the old keys of ``pairs`` (``__from_<k>``
        columns) into a temporary table keyed by the new keys (the pk columns of ``pairs``);
        returns ``(columns, that table)`` for :meth:`_unstash`."""
        raise NotImplementedError

    def _unstash(self, target: TargetTable, columns: list[str], stash: Any) -> None:
        """Sets ``columns`` of the rows at the new keys from the stashed values."""
        raise NotImplementedError

    def _pair_types(self, target: TargetTable, pairs: pa.Table) -> dict[str, str]:
        """Target types of the columns of a ``pairs`` table (old keys typed as their key)."""
        return {n: target.columns[n.removeprefix("__from_")] for n in pairs.column_names}
