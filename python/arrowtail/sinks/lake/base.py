"""What the Iceberg and Delta Lake sinks share: buffering between table commits, the two table
shapes, and exactly-once bookkeeping.

Shapes (``mode``):

- ``mirror``: one table per source table, merged by primary key, equal to the source table as of
  the committed position. A batch is reduced to its net effect per key
  (:func:`arrowtail.changes.collapse`): a truncate empties the table, deleted keys are
  removed, surviving keys are inserted or replaced; a column the source did not send
  (``_unchanged``) keeps the table's value. Pseudo-tables (``_messages``, ``_ddl``) have no rows
  to mirror and are left out; a table without a primary key cannot be mirrored and stops the run.
- ``changelog``: every change appended with ``_op``, ``_pos``, ``_seq``, ``_xid``,
  ``_commit_ts`` and ``_unchanged``, partitioned by the commit day.

Exactly once. Each table commit carries, in the same atomic commit, the source position of the
flush and the table's high-water mark: the ``(_pos, _seq)`` of the last change it holds. After
the tables, a small state record stores the position of the whole flush. A restart resumes the
source at that state position; a table that had already committed a later flush (a crash between
table commits) skips every change at or below its own high-water mark, so no change is applied
twice and none is lost.

Small files: changes are buffered and committed every ``commit_interval`` seconds or when
``commit_rows`` changes are waiting, whichever comes first (and on a clean stop). Until then the
source is not acknowledged past what the tables hold.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from arrowtail.changes import META_COLUMNS, collapse, table_info
from arrowtail.exceptions import ConfigError, SchemaChangeError, SinkError
from arrowtail.sinks.base import PositionJSON, table_parts

log = logging.getLogger(__name__)

MODES = ("mirror", "changelog")
#: Change-log columns kept beside the user columns.
CHANGELOG_COLUMNS = ("_op", "_pos", "_seq", "_xid", "_commit_ts", "_unchanged")
#: Property and commit-metadata keys.
POSITION_KEY = "arrowtail.position"
HIGH_WATER_KEY = "arrowtail.high_water"
SCHEMA_KEY = "arrowtail.arrow_schema"


def not_ours(table: str, what: str) -> str:
    """The error for a lake table of ``table``'s name that arrowtail did not create (it has no
    :data:`SCHEMA_KEY`): it is neither merged into nor replaced."""
    return (
        f"{what} for {table} exists but was not created by arrowtail (it carries no"
        f" {SCHEMA_KEY}); arrowtail writes only into tables it created: move that table away or"
        " choose another root or namespace"
    )


PRIMARY_KEY = "arrowtail.primary_key"


@dataclass
class TableState:
    """One lake table as the sink knows it."""

    name: str
    primary_key: tuple[str, ...]
    #: ``(_pos, _seq)`` of the last change the table holds; changes at or below are skipped.
    high_water: tuple[int, int] | None
    handle: Any = None
    pending: list[pa.RecordBatch] = field(default_factory=list)


def parse_high_water(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    pos, _, seq = text.partition(":")
    return int(pos), int(seq)


def after_high_water(batch: pa.RecordBatch, high_water: tuple[int, int] | None) -> pa.RecordBatch:
    """The changes of ``batch`` past ``high_water`` (all of them when there is none)."""
    if high_water is None or batch.num_rows == 0:
        return batch
    pos = batch.column("_pos").to_numpy(zero_copy_only=False).astype(np.uint64)
    seq = batch.column("_seq").to_numpy(zero_copy_only=False).astype(np.uint64)
    hp, hs = np.uint64(high_water[0]), np.uint64(high_water[1])
    keep = (pos > hp) | ((pos == hp) & (seq > hs))
    if keep.all():
        return batch
    return batch.filter(pa.array(keep))


def _same_schema_runs(batches: list[pa.RecordBatch]) -> list[list[pa.RecordBatch]]:
    runs: list[list[pa.RecordBatch]] = []
    for b in batches:
        if runs and runs[-1][0].schema.equals(b.schema):
            runs[-1].append(b)
        else:
            runs.append([b])
    return runs


def last_change(batches: list[pa.RecordBatch]) -> tuple[int, int] | None:
    """The highest ``(_pos, _seq)`` in ``batches``."""
    best: tuple[int, int] | None = None
    for b in batches:
        if b.num_rows == 0:
            continue
        pos = b.column("_pos").to_numpy(zero_copy_only=False).astype(np.uint64)
        seq = b.column("_seq").to_numpy(zero_copy_only=False).astype(np.uint64)
        i = int(np.lexsort((seq, pos))[-1])
        cand = (int(pos[i]), int(seq[i]))
        if best is None or cand > best:
            best = cand
    return best


class LakeSink:
    """The sink protocol over a table format; subclasses implement the ``_table_*`` steps."""

    fmt = ""

    def __init__(
        self,
        *,
        mode: str = "mirror",
        commit_interval: float = 10.0,
        commit_rows: int = 500_000,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"lake table mode must be mirror or changelog, not {mode!r}")
        if commit_interval < 0 or commit_rows <= 0:
            raise ConfigError("commit_interval must be >= 0 and commit_rows > 0")
        self.mode = mode
        self.commit_interval = commit_interval
        self.commit_rows = commit_rows
        self._tables: dict[str, TableState] = {}
        self._pending_rows = 0
        self._pending_position: PositionJSON | None = None
        self._durable: PositionJSON | None = None
        self._last_flush = 0.0
        self._opened = False

    # -- Sink protocol ---------------------------------------------------------------------

    def open(self) -> PositionJSON | None:
        try:
            self._durable = self._read_state()
        except SinkError:
            raise
        except Exception as exc:
            raise SinkError(f"cannot open {self.describe()}: {exc}") from exc
        self._opened = True
        self._last_flush = time.monotonic()
        return self._durable

    def write(self, table: str, schema_version: int, batch: pa.RecordBatch) -> None:
        if not self._opened:
            raise SinkError(f"{type(self).__name__}.write called before open()")
        if batch.num_rows == 0:
            return
        schema, _ = table_parts(table)
        if self.mode == "mirror" and not schema:
            return  # _messages, _ddl: nothing to mirror
        state = self._tables.get(table)
        if state is None:
            state = self._load(table, batch.schema)
        elif self.mode == "mirror":
            info = table_info(batch.schema, table)
            if info.primary_key and info.primary_key != state.primary_key:
                raise SchemaChangeError(
                    f"table {table}: primary key changed from {list(state.primary_key)} to "
                    f"{list(info.primary_key)}; the mirror table cannot follow (its key columns"
                    " are fixed when it is made): mirror into a new location with a new"
                    " --snapshot initial, or use mode=changelog, which keeps each change's key"
                )
        batch = after_high_water(batch, state.high_water)
        if batch.num_rows:
            state.pending.append(batch)
            self._pending_rows += batch.num_rows

    def commit(self, position: PositionJSON) -> None:
        if not self._opened:
            raise SinkError(f"{type(self).__name__}.commit called before open()")
        self._pending_position = position
        due = time.monotonic() - self._last_flush >= self.commit_interval
        if due or self._pending_rows >= self.commit_rows:
            self._flush()

    def durable_position(self) -> PositionJSON | None:
        return self._durable

    def tick(self) -> None:
        """Called by the pipeline after every poll: a flush whose interval has passed is made
        durable even when no new change arrived since its commit."""
        if self._pending_position is not None and self._pending_position != self._durable:
            if time.monotonic() - self._last_flush >= self.commit_interval:
                self._flush()

    def close(self) -> None:
        if not self._opened:
            return
        try:
            if self._pending_position is not None:
                self._flush()
        finally:
            self._opened = False

    # -- flushing --------------------------------------------------------------------------

    def _flush(self) -> None:
        position = self._pending_position
        if position is None:
            return
        text = json.dumps(position, sort_keys=True, separators=(",", ":"))
        for name, state in self._tables.items():
            # One table commit per run of batches with the same schema (a schema change in the
            # middle of a flush makes two commits, the second one evolving the table).
            for run in _same_schema_runs(state.pending):
                high = last_change(run)
                props = {POSITION_KEY: text, HIGH_WATER_KEY: f"{high[0]}:{high[1]}" if high else ""}
                try:
                    if self.mode == "mirror":
                        self._apply_mirror(state, run, props)
                    else:
                        self._append_changelog(state, run, props)
                except (SinkError, SchemaChangeError):
                    raise
                except Exception as exc:
                    raise SinkError(
                        f"cannot commit to {self.describe()} table {name}: {exc}"
                    ) from exc
                state.high_water = high
            state.pending.clear()
        try:
            self._write_state(text)
        except Exception as exc:
            raise SinkError(f"cannot store the position in {self.describe()}: {exc}") from exc
        self._pending_rows = 0
        self._durable = position
        self._last_flush = time.monotonic()

    def _apply_mirror(
        self, state: TableState, run: list[pa.RecordBatch], props: dict[str, str]
    ) -> None:
        changes = pa.Table.from_batches(run).combine_chunks()
        self._ensure_columns(state, changes.schema)
        net = collapse(changes, state.primary_key)
        deletes = net.deletes
        upserts = net.upserts
        keep = net.unchanged
        if net.carry_from is not None and net.carried is not None and net.carried.any():
            # A key change that left columns unchanged: they come from the old key's row, as it
            # was before this batch.
            filled = self._fill(state, upserts, net.carried, net.carry_from)
            keep = keep & ~net.carried
        else:
            filled = upserts
        if keep.any():
            # Columns not sent at all: the row keeps the value it has in the table.
            filled = self._fill(state, filled, keep, upserts.select(list(state.primary_key)))
        upserts = filled
        self._table_merge(state, net.truncate, deletes, upserts, props)

    def _fill(
        self, state: TableState, rows: pa.Table, missing: np.ndarray, keys: pa.Table
    ) -> pa.Table:
        """``rows`` with each flagged value taken from the table's row at ``keys`` (same
        position); a value whose row is gone stays null."""
        pk = list(state.primary_key)
        need = missing.any(axis=1)
        wanted = keys.filter(pa.array(need))
        current = self._table_rows(state, wanted)
        index: dict[tuple, int] = {}
        if current.num_rows:
            cur_keys = list(zip(*(current.column(c).to_pylist() for c in pk), strict=True))
            index = {k: i for i, k in enumerate(cur_keys)}
        key_rows = list(zip(*(keys.column(c).to_pylist() for c in pk), strict=True))
        columns = list(rows.column_names)
        out = []
        for j, name in enumerate(columns):
            if not missing[:, j].any():
                out.append(rows.column(name))
                continue
            values = rows.column(name).to_pylist()
            have = current.column(name).to_pylist() if name in current.column_names else []
            for i in np.nonzero(missing[:, j])[0]:
                at = index.get(key_rows[i]) if key_rows[i] is not None else None
                values[i] = have[at] if at is not None else None
            out.append(_array(values, rows.schema.field(name).type))
        return pa.Table.from_arrays(out, schema=rows.schema)

    def _append_changelog(
        self, state: TableState, run: list[pa.RecordBatch], props: dict[str, str]
    ) -> None:
        changes = pa.Table.from_batches(run).combine_chunks()
        keep = [c for c in changes.column_names if c not in META_COLUMNS or c in CHANGELOG_COLUMNS]
        changes = changes.select(keep)
        self._ensure_columns(state, changes.schema)
        self._table_append(state, changes, props)

    def _load(self, table: str, schema: pa.Schema) -> TableState:
        info = table_info(schema, table)
        if self.mode == "mirror" and not info.primary_key:
            raise SinkError(
                f"table {table} has no primary key: a mirror table merges by key; "
                "use mode=changelog for it, or give the table a key"
            )
        state = TableState(table, info.primary_key, None)
        self._table_open(state, schema)
        self._tables[table] = state
        return state

    def user_schema(self, schema: pa.Schema) -> pa.Schema:
        """The columns a table of this shape holds, in change-batch types."""
        keep = CHANGELOG_COLUMNS if self.mode == "changelog" else ()
        fields = [f for f in schema if f.name not in META_COLUMNS or f.name in keep]
        return pa.schema(fields, metadata=schema.metadata)

    # -- format steps --------------------------------------------------------------------------

    def describe(self) -> str:
        raise NotImplementedError

    def _read_state(self) -> PositionJSON | None:
        raise NotImplementedError

    def _write_state(self, position_json: str) -> None:
        raise NotImplementedError

    def _table_open(self, state: TableState, schema: pa.Schema) -> None:
        """Opens or creates the lake table of ``state`` and sets its high-water mark."""
        raise NotImplementedError

    def _ensure_columns(self, state: TableState, schema: pa.Schema) -> None:
        """Adds columns ``schema`` has and the table lacks; refuses type changes."""
        raise NotImplementedError

    def _table_rows(self, state: TableState, keys: pa.Table) -> pa.Table:
        """The table's current rows with these keys (user columns, change-batch types)."""
        raise NotImplementedError

    def _table_merge(
        self,
        state: TableState,
        truncate: bool,
        deletes: pa.Table,
        upserts: pa.Table,
        props: dict[str, str],
    ) -> None:
        raise NotImplementedError

    def _table_append(self, state: TableState, changes: pa.Table, props: dict[str, str]) -> None:
        raise NotImplementedError


def _array(values: list[Any], t: pa.DataType) -> pa.Array:
    if isinstance(t, pa.BaseExtensionType):
        return pa.ExtensionArray.from_storage(t, pa.array(values, type=t.storage_type))
    return pa.array(values, type=t)


def check_evolution(table: str, current: pa.Schema, incoming: pa.Schema) -> list[pa.Field]:
    """The fields of ``incoming`` that ``current`` lacks; a column whose type changed in a way
    the table formats cannot follow (anything but widening an integer, a float or a decimal's
    precision) is a SchemaChangeError naming the table and the column."""
    added = []
    for f in incoming:
        if f.name not in current.names:
            added.append(f)
            continue
        old = current.field(f.name).type
        if old == f.type or _widens(old, f.type):
            continue
        raise SchemaChangeError(
            f"table {table} column {f.name}: type changed from {old} to {f.type}, which the "
            "lake table cannot take; nothing of the new shape was written. Recreate the table "
            "(drop it and run again with a snapshot) or map the column to a new name"
        )
    return added


def _widens(old: pa.DataType, new: pa.DataType) -> bool:
    if pa.types.is_integer(old) and pa.types.is_integer(new):
        return new.bit_width >= old.bit_width and (
            pa.types.is_signed_integer(new) or not pa.types.is_signed_integer(old)
        )
    if pa.types.is_floating(old) and pa.types.is_floating(new):
        return new.bit_width >= old.bit_width
    if pa.types.is_decimal(old) and pa.types.is_decimal(new):
        return new.scale == old.scale and new.precision >= old.precision
    return False
