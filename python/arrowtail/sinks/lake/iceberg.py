"""The Iceberg sink (pyiceberg): one Iceberg table per source table, in a SQL catalog on SQLite
by default (``iceberg:DIR`` keeps ``DIR/catalog.db`` and the warehouse ``DIR/warehouse``), or any
catalog pyiceberg can load (``iceberg:rest+https://host/path?warehouse=...`` for a REST catalog).

Source ``schema.table`` becomes namespace ``schema``, table ``table``. A mirror table's primary
key is its identifier fields. Each flush commits each touched table once — deletes and inserts
of a mirror, or the appended changes of a change log, plus the table properties
``arrowtail.position`` and ``arrowtail.high_water`` — in one Iceberg transaction, so the data and
the position it reaches are one atomic metadata swap. The position of the whole flush is then
stored as a property of the table ``_arrowtail.state``.

Mirror deletes and replaced rows are written copy-on-write (pyiceberg rewrites the data files
holding them); ``arrowtail lake-maintain`` compacts small files and expires old snapshots.
"""

from __future__ import annotations

import importlib
import json
import warnings
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from arrowtail.exceptions import ConfigError, SchemaChangeError, SinkError
from arrowtail.sinks.base import PositionJSON, table_parts
from arrowtail.sinks.lake.base import (
    HIGH_WATER_KEY,
    POSITION_KEY,
    PRIMARY_KEY,
    SCHEMA_KEY,
    LakeSink,
    TableState,
    check_evolution,
    not_ours,
    parse_high_water,
)
from arrowtail.sinks.lake.types import (
    decode_schema,
    encode_schema,
    lake_batch,
    lake_schema,
    restore,
)

STATE_NAMESPACE = "_arrowtail"
STATE_TABLE = "state"
CHANGELOG_NAMESPACE = "_arrowtail"


def load_catalog(location: str, name: str = "arrowtail") -> Any:
    """The catalog an ``iceberg:`` location names."""
    try:
        from pyiceberg.catalog import load_catalog as _load
        from pyiceberg.catalog.sql import SqlCatalog
    except ImportError as exc:  # pragma: no cover - a runtime dependency
        raise ConfigError(
            f"the Iceberg sink needs pyiceberg ({exc}); install it with: "
            "pip install 'arrowtail[lake]'"
        ) from exc
    if location.startswith(("rest+http://", "rest+https://")):
        base, _, query = location[len("rest+") :].partition("?")
        props = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        return _load(name, type="rest", uri=base, **props)
    root = Path(location).resolve()
    root.mkdir(parents=True, exist_ok=True)
    (root / "warehouse").mkdir(exist_ok=True)
    return SqlCatalog(
        name,
        uri=f"sqlite:///{root / 'catalog.db'}",
        warehouse=(root / "warehouse").as_uri(),
    )


def identifier(table: str, mode: str) -> tuple[str, str]:
    schema, name = table_parts(table)
    if not schema:
        return (CHANGELOG_NAMESPACE, name.lstrip("_") or name)
    return (schema, name)


class IcebergSink(LakeSink):
    """Change batches into Iceberg tables (see the module documentation)."""

    fmt = "iceberg"

    def __init__(self, location: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.location = location
        self._catalog: Any = None

    def describe(self) -> str:
        return f"Iceberg catalog at {self.location}"

    @property
    def catalog(self) -> Any:
        if self._catalog is None:
            self._catalog = load_catalog(self.location)
        return self._catalog

    # -- state -----------------------------------------------------------------------------

    def _state_table(self) -> Any:
        from pyiceberg.schema import Schema
        from pyiceberg.types import NestedField, StringType

        self.catalog.create_namespace_if_not_exists(STATE_NAMESPACE)
        ident = (STATE_NAMESPACE, STATE_TABLE)
        if self.catalog.table_exists(ident):
            return self.catalog.load_table(ident)
        schema = Schema(NestedField(1, "note", StringType(), required=False))
        return self.catalog.create_table(ident, schema=schema)

    def _read_state(self) -> PositionJSON | None:
        ident = (STATE_NAMESPACE, STATE_TABLE)
        if not self.catalog.table_exists(ident):
            return None
        text = self.catalog.load_table(ident).properties.get(POSITION_KEY)
        return json.loads(text) if text else None

    def _write_state(self, position_json: str) -> None:
        table = self._state_table()
        with table.transaction() as tx:
            tx.set_properties({POSITION_KEY: position_json})

    # -- tables ----------------------------------------------------------------------------

    def _table_open(self, state: TableState, schema: pa.Schema) -> None:
        ident = identifier(state.name, self.mode)
        self.catalog.create_namespace_if_not_exists(ident[0])
        user = self.user_schema(schema)
        if self.catalog.table_exists(ident):
            table = self.catalog.load_table(ident)
            if SCHEMA_KEY not in table.properties:
                raise SinkError(not_ours(state.name, f"the Iceberg table {'.'.join(ident)}"))
            state.high_water = parse_high_water(table.properties.get(HIGH_WATER_KEY))
            stored = table.properties.get(PRIMARY_KEY)
            if (
                self.mode == "mirror"
                and stored is not None
                and stored != ",".join(state.primary_key)
            ):
                raise SchemaChangeError(
                    f"table {state.name}: the Iceberg table {'.'.join(ident)} is keyed by "
                    f"{stored}, the source by {','.join(state.primary_key)}"
                )
        else:
            arrow = self._with_key(state, lake_schema(user, self.fmt))
            table = self.catalog.create_table(
                ident,
                schema=arrow,
                properties={
                    PRIMARY_KEY: ",".join(state.primary_key),
                    SCHEMA_KEY: encode_schema(user),
                    "arrowtail.mode": self.mode,
                },
            )
            if self.mode == "changelog" and "_commit_ts" in arrow.names:
                from pyiceberg.transforms import DayTransform

                with table.update_spec() as spec:
                    spec.add_field("_commit_ts", DayTransform(), "_commit_day")
            if self.mode == "mirror":
                with table.update_schema() as update:
                    update.set_identifier_fields(*state.primary_key)
        state.handle = table

    def _with_key(self, state: TableState, arrow: pa.Schema) -> pa.Schema:
        """A mirror's key columns are required (Iceberg identifier fields must be)."""
        if self.mode != "mirror":
            return arrow
        return pa.schema(
            [f.with_nullable(False) if f.name in state.primary_key else f for f in arrow]
        )

    def _ensure_columns(self, state: TableState, schema: pa.Schema) -> None:
        table = state.handle
        original = decode_schema(table.properties[SCHEMA_KEY])
        user = self.user_schema(schema)
        added = check_evolution(state.name, original, user)
        widened = [
            f for f in user if f.name in original.names and original.field(f.name).type != f.type
        ]
        if not added and not widened:
            return
        merged = pa.schema(
            [user.field(f.name) if f.name in user.names else f for f in original] + added
        )
        with table.transaction() as tx:
            arrow = self._with_key(state, lake_schema(merged, self.fmt))
            with tx.update_schema() as update:
                update.union_by_name(arrow)
            tx.set_properties({SCHEMA_KEY: encode_schema(merged)})
        state.handle = self.catalog.load_table(table.name())

    def _arrow(self, state: TableState, rows: pa.Table) -> pa.Table:
        target = state.handle.schema().as_arrow()
        return lake_batch(rows, target)

    def _key_filter(self, state: TableState, keys: pa.Table) -> Any:
        """An expression matching the rows with these keys (None for no keys)."""
        ex: Any = importlib.import_module("pyiceberg.expressions")
        pk = list(state.primary_key)
        lake_keys = self._lake_keys(state, keys)
        if len(pk) == 1:
            values = lake_keys.column(0).to_pylist()
            present = [v for v in values if v is not None]
            expr: Any = ex.In(pk[0], present) if present else None
            if len(present) < len(values):
                expr = ex.Or(expr, ex.IsNull(pk[0])) if expr is not None else ex.IsNull(pk[0])
            return expr
        rows = zip(*(lake_keys.column(c).to_pylist() for c in pk), strict=True)
        terms = [
            reduce(
                ex.And,
                [
                    ex.EqualTo(c, v) if v is not None else ex.IsNull(c)
                    for c, v in zip(pk, r, strict=True)
                ],
            )
            for r in rows
        ]
        return reduce(ex.Or, terms) if terms else None

    def _lake_keys(self, state: TableState, keys: pa.Table) -> pa.Table:
        target = state.handle.schema().as_arrow()
        return lake_batch(keys, pa.schema([target.field(c) for c in keys.column_names]))

    def _table_rows(self, state: TableState, keys: pa.Table) -> pa.Table:
        expr = self._key_filter(state, keys) if keys.num_rows else None
        if expr is None:
            return pa.table({})
        table = state.handle.scan(row_filter=expr).to_arrow()
        return restore(table, decode_schema(state.handle.properties[SCHEMA_KEY]))

    def _table_merge(
        self,
        state: TableState,
        truncate: bool,
        deletes: pa.Table,
        upserts: pa.Table,
        props: dict[str, str],
    ) -> None:
        """Copy-on-write of the key ranges the flush touches: the rows in those ranges are read,
        the touched keys dropped, the new rows added, and the result replaces the ranges in one
        commit (``overwrite`` with the ranges as its filter). A filter of a few ranges keeps
        pyiceberg's expression binding cheap, where one literal per key would not be."""
        ex: Any = importlib.import_module("pyiceberg.expressions")
        table = state.handle
        pk = list(state.primary_key)
        new_rows = self._arrow(state, upserts)
        with warnings.catch_warnings(), table.transaction() as tx:
            # Ranges new to the table, or an empty table truncated, match nothing: expected.
            warnings.filterwarnings("ignore", "Delete operation did not match")
            if truncate:
                tx.delete(ex.AlwaysTrue(), snapshot_properties=props)
                if new_rows.num_rows:
                    tx.append(new_rows, snapshot_properties=props)
            else:
                gone = self._lake_keys(
                    state, pa.concat_tables([deletes.select(pk), upserts.select(pk)])
                )
                where = _ranges_filter(ex, pk[0], gone.column(0))
                if where is not None:
                    current = table.scan(row_filter=where).to_arrow()
                    kept = _without_keys(current, gone, pk)
                    replacement = pa.concat_tables([kept, new_rows]) if new_rows.num_rows else kept
                    tx.overwrite(replacement, overwrite_filter=where, snapshot_properties=props)
            tx.set_properties(props)
        state.handle = self.catalog.load_table(table.name())

    def _table_append(self, state: TableState, changes: pa.Table, props: dict[str, str]) -> None:
        table = state.handle
        with table.transaction() as tx:
            tx.append(self._arrow(state, changes), snapshot_properties=props)
            tx.set_properties(props)
        state.handle = self.catalog.load_table(table.name())


#: At most this many key ranges in a merge's filter.
MAX_RANGES = 16


def _ranges_filter(ex: Any, column: str, keys: pa.ChunkedArray | pa.Array) -> Any:
    """A filter on ``column`` covering every key: up to MAX_RANGES closed ranges, split at the
    widest gaps between the sorted keys (None when there are no keys). A null key adds
    ``column IS NULL``."""
    values = keys.drop_null() if keys.null_count else keys
    terms = []
    if len(values):
        flat = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        unique = pc.unique(flat)
        ordered = unique.take(pc.array_sort_indices(unique))
        bounds = [(0, len(ordered) - 1)]
        if len(ordered) > MAX_RANGES and _numeric(ordered.type):
            gaps = np.diff(ordered.cast(pa.float64()).to_numpy(zero_copy_only=False))
            cuts = np.sort(np.argsort(gaps)[-(MAX_RANGES - 1) :])
            starts = [0, *(int(c) + 1 for c in cuts)]
            ends = [*(int(c) for c in cuts), len(ordered) - 1]
            bounds = list(zip(starts, ends, strict=True))
        for lo, hi in bounds:
            low, high = ordered[lo].as_py(), ordered[hi].as_py()
            terms.append(
                ex.EqualTo(column, low)
                if lo == hi
                else ex.And(ex.GreaterThanOrEqual(column, low), ex.LessThanOrEqual(column, high))
            )
    if keys.null_count:
        terms.append(ex.IsNull(column))
    return reduce(ex.Or, terms) if terms else None


def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _without_keys(rows: pa.Table, keys: pa.Table, pk: list[str]) -> pa.Table:
    """``rows`` less those whose key is in ``keys`` (the join sees only the key columns and a row
    index, so any column type may ride along)."""
    if rows.num_rows == 0 or keys.num_rows == 0:
        return rows
    index = rows.select(pk).append_column("__row", pa.array(np.arange(rows.num_rows)))
    keep = index.join(keys.select(pk).group_by(pk).aggregate([]), pk, join_type="left anti")
    return rows.take(np.sort(keep.column("__row").to_numpy()))


def read_mirror(location: str, table: str) -> pa.Table | None:
    """The mirror of ``table`` (``schema.table``) in change-batch types, or None."""
    catalog = load_catalog(location)
    ident = identifier(table, "mirror")
    if not catalog.table_exists(ident):
        return None
    t = catalog.load_table(ident)
    if t.properties.get("arrowtail.mode") not in (None, "mirror"):
        raise SinkError(f"Iceberg table {'.'.join(ident)} is a change log, not a mirror")
    return restore(t.scan().to_arrow(), decode_schema(t.properties[SCHEMA_KEY]))


def mirror_tables(location: str) -> dict[str, tuple[str, ...]]:
    """``schema.table`` -> primary key of every mirror table in the catalog."""
    catalog = load_catalog(location)
    out: dict[str, tuple[str, ...]] = {}
    for ns in catalog.list_namespaces():
        if ns[0] == STATE_NAMESPACE:
            continue
        for ident in catalog.list_tables(ns):
            t = catalog.load_table(ident)
            if t.properties.get("arrowtail.mode") == "mirror":
                pk = t.properties.get(PRIMARY_KEY, "")
                out[".".join(ident[-2:])] = tuple(c for c in pk.split(",") if c)
    return out
