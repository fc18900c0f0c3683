"""The Delta Lake sink (delta-rs): one Delta table per source table under a root directory,
``ROOT/<schema>.<table>`` (pseudo-tables ``_messages``/``_ddl`` of a change log as
``ROOT/_messages``), and the position of each flush in ``ROOT/_arrowtail_state``.

A mirror is kept with one MERGE per table and flush: the source rows carry their operation (``d``
deletes a matched row, anything else updates or inserts) and, per column that a row did not send,
a flag that keeps the table's value. A truncate is a delete of every row in its own commit
before the MERGE; the position is stored only with the MERGE, so a crash between the two is
repaired by the replay. Each commit carries ``arrowtail.position`` and ``arrowtail.high_water``
in its commit metadata and an application transaction (``arrowtail``, flush number), Delta's own
idempotent-writer record.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa

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
    lake_field,
    lake_schema,
    restore,
)

STATE_DIR = "_arrowtail_state"
APP_ID = "arrowtail"
#: How many commits back a restart looks for the last arrowtail commit of a table (maintenance
#: commits such as OPTIMIZE and VACUUM carry no position).
HISTORY_DEPTH = 100


def _deltalake() -> Any:
    try:
        import deltalake
    except ImportError as exc:  # pragma: no cover - a runtime dependency
        raise ConfigError(
            f"the Delta Lake sink needs deltalake ({exc}); install it with: "
            "pip install 'arrowtail[lake]'"
        ) from exc
    return deltalake


def location(path: Path) -> str:
    """What delta-rs is given for a folder: its ``file:`` URI (delta-rs reads a plain path as a
    URL too, decoding any ``%`` escape in it)."""
    return path.absolute().as_uri()


#: Characters a Delta folder name escapes as ``~`` and two hex digits: path separators, and
#: ``%``, which delta-rs would decode.
_ESCAPED = {"~": "~7E", "/": "~2F", "\\": "~5C", "%": "~25"}
_UNESCAPE = re.compile(r"~(7E|2F|5C|25)")


def folder_name(table: str) -> str:
    """The folder of ``table``'s Delta table under the root: its name as one path component
    (a ``/`` in a name would put one table's folder inside another's, whose vacuum then
    deletes the inner table's files)."""
    return "".join(_ESCAPED.get(ch, ch) for ch in table)


def table_of_folder(name: str) -> str:
    """The table name of a folder :func:`folder_name` made."""
    return _UNESCAPE.sub(lambda m: bytes.fromhex(m.group(1)).decode(), name)


def table_path(root: Path, table: str) -> Path:
    """The folder of ``table``'s Delta table (:func:`folder_name`); a table made before names
    were escaped keeps its folder."""
    schema, name = table_parts(table)
    plain = f"{schema}.{name}" if schema else name
    escaped = root / folder_name(plain)
    legacy = root / plain
    if legacy != escaped and (legacy / "_delta_log").is_dir():
        return legacy
    return escaped


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def last_commit_metadata(dt: Any) -> dict[str, Any]:
    """The newest commit of ``dt`` that arrowtail wrote (it has a position), or {}."""
    for entry in dt.history(HISTORY_DEPTH):
        if POSITION_KEY in entry:
            return dict(entry)
    return {}


class DeltaSink(LakeSink):
    """Change batches into Delta tables (see the module documentation)."""

    fmt = "delta"

    def __init__(self, root: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.root = Path(root)
        self._round = 0

    def describe(self) -> str:
        return f"Delta Lake root {self.root}"

    def _commit_properties(self, props: dict[str, str]) -> Any:
        dl = _deltalake()
        return dl.CommitProperties(
            custom_metadata=props, app_transactions=[dl.Transaction(APP_ID, self._round)]
        )

    # -- state -----------------------------------------------------------------------------

    def _read_state(self) -> PositionJSON | None:
        dl = _deltalake()
        path = self.root / STATE_DIR
        if not (path / "_delta_log").is_dir():
            return None
        dt = dl.DeltaTable(location(path))
        self._round = dt.transaction_version(APP_ID) or 0
        meta = last_commit_metadata(dt)
        return json.loads(meta[POSITION_KEY]) if meta.get(POSITION_KEY) else None

    def _write_state(self, position_json: str) -> None:
        dl = _deltalake()
        self.root.mkdir(parents=True, exist_ok=True)
        empty = pa.table({"note": pa.array([], pa.string())})
        dl.write_deltalake(
            location(self.root / STATE_DIR),
            empty,
            mode="append",
            commit_properties=self._commit_properties({POSITION_KEY: position_json}),
        )

    def _flush(self) -> None:
        self._round += 1
        super()._flush()

    # -- tables ----------------------------------------------------------------------------

    def _table_open(self, state: TableState, schema: pa.Schema) -> None:
        dl = _deltalake()
        path = table_path(self.root, state.name)
        user = self.user_schema(schema)
        if (path / "_delta_log").is_dir():
            dt = dl.DeltaTable(location(path))
            config = dt.metadata().configuration
            meta = last_commit_metadata(dt)
            state.high_water = parse_high_water(meta.get(HIGH_WATER_KEY))
            stored = dt.metadata().description or ""
            if SCHEMA_KEY not in stored:
                raise SinkError(not_ours(state.name, f"the Delta table {path}"))
            stored_pk = json.loads(stored).get(PRIMARY_KEY) if stored.startswith("{") else None
            if self.mode == "mirror" and stored_pk not in (None, ",".join(state.primary_key)):
                raise SchemaChangeError(
                    f"table {state.name}: the Delta table {path} is keyed by {stored_pk}, the "
                    f"source by {','.join(state.primary_key)}"
                )
            del config
        else:
            arrow = lake_schema(user, self.fmt)
            if self.mode == "mirror":
                arrow = pa.schema(
                    [f.with_nullable(False) if f.name in state.primary_key else f for f in arrow]
                )
            partition = None
            if self.mode == "changelog" and "_commit_ts" in arrow.names:
                arrow = arrow.append(pa.field("_commit_date", pa.date32()))
                partition = ["_commit_date"]
            description = json.dumps(
                {
                    PRIMARY_KEY: ",".join(state.primary_key),
                    SCHEMA_KEY: encode_schema(user),
                    "arrowtail.mode": self.mode,
                }
            )
            dl.DeltaTable.create(
                location(path),
                schema=arrow,
                partition_by=partition,
                description=description,
                mode="error",
            )
        state.handle = path

    def _description(self, state: TableState) -> dict[str, str]:
        dl = _deltalake()
        text = dl.DeltaTable(location(state.handle)).metadata().description or "{}"
        return json.loads(text)

    def _original(self, state: TableState) -> pa.Schema:
        return decode_schema(self._description(state)[SCHEMA_KEY])

    def _ensure_columns(self, state: TableState, schema: pa.Schema) -> None:
        dl = _deltalake()
        original = self._original(state)
        user = self.user_schema(schema)
        added = check_evolution(state.name, original, user)
        widened = [
            f for f in user if f.name in original.names and original.field(f.name).type != f.type
        ]
        if widened:
            raise SchemaChangeError(
                f"table {state.name} column {widened[0].name}: type widened from "
                f"{original.field(widened[0].name).type} to {widened[0].type}; the Delta table "
                "cannot change a column's type in place (recreate it with a new snapshot)"
            )
        if not added:
            return
        dt = dl.DeltaTable(location(state.handle))
        dt.alter.add_columns([dl.Field.from_arrow(lake_field(f, self.fmt)) for f in added])
        merged = pa.schema(list(original) + added)
        description = self._description(state)
        description[SCHEMA_KEY] = encode_schema(merged)
        dl.DeltaTable(location(state.handle)).alter.set_table_description(json.dumps(description))

    def _target_schema(self, state: TableState) -> pa.Schema:
        dl = _deltalake()
        schema = dl.DeltaTable(location(state.handle)).schema().to_arrow()
        return pa.schema(schema)

    def _table_rows(self, state: TableState, keys: pa.Table) -> pa.Table:
        dl = _deltalake()
        if keys.num_rows == 0:
            return pa.table({})
        pk = list(state.primary_key)
        target = self._target_schema(state)
        wanted = lake_batch(keys.select(pk), pa.schema([target.field(c) for c in pk]))
        data = pa.table(dl.DeltaTable(location(state.handle)).to_pyarrow_table())
        joined = data.join(wanted.combine_chunks(), pk, join_type="inner")
        return restore(joined, self._original(state))

    def _table_merge(
        self,
        state: TableState,
        truncate: bool,
        deletes: pa.Table,
        upserts: pa.Table,
        props: dict[str, str],
    ) -> None:
        dl = _deltalake()
        path = location(state.handle)
        target = self._target_schema(state)
        pk = list(state.primary_key)
        if truncate:
            dl.DeltaTable(path).delete()
        user = [f.name for f in target]
        if deletes.num_rows and upserts.num_rows:
            # A key deleted and inserted again in the flush: the insert replaces the whole row
            # (every column is filled), and MERGE takes one source row per key.
            deletes = deletes.join(upserts.select(pk), pk, join_type="left anti")
        source = pa.concat_tables(
            [
                lake_batch(
                    deletes.select(pk), pa.schema([target.field(c) for c in pk])
                ).append_column("__op", pa.array(["d"] * deletes.num_rows, pa.string())),
                lake_batch(upserts, pa.schema([target.field(c) for c in user])).append_column(
                    "__op", pa.array(["u"] * upserts.num_rows, pa.string())
                ),
            ],
            promote_options="default",
        )
        condition = " AND ".join(f"t.{_quote(c)} = s.{_quote(c)}" for c in pk)
        updates = {_quote(c): f"s.{_quote(c)}" for c in user}
        (
            dl.DeltaTable(path)
            .merge(
                source,
                condition,
                source_alias="s",
                target_alias="t",
                commit_properties=self._commit_properties(props),
            )
            .when_matched_delete("s.__op = 'd'")
            .when_matched_update(updates=updates, predicate="s.__op <> 'd'")
            .when_not_matched_insert(updates=updates, predicate="s.__op <> 'd'")
            .execute()
        )

    def _table_append(self, state: TableState, changes: pa.Table, props: dict[str, str]) -> None:
        dl = _deltalake()
        target = self._target_schema(state)
        data = lake_batch(changes, pa.schema([f for f in target if f.name != "_commit_date"]))
        if "_commit_date" in target.names:
            data = data.append_column(
                "_commit_date", data.column("_commit_ts").cast(pa.timestamp("us")).cast(pa.date32())
            )
        dl.write_deltalake(
            location(state.handle),
            data,
            mode="append",
            commit_properties=self._commit_properties(props),
        )


def read_mirror(root: str, table: str) -> pa.Table | None:
    dl = _deltalake()
    path = table_path(Path(root), table)
    if not (path / "_delta_log").is_dir():
        return None
    dt = dl.DeltaTable(location(path))
    description = json.loads(dt.metadata().description or "{}")
    data = pa.table(dt.to_pyarrow_table())
    original = decode_schema(description[SCHEMA_KEY]) if SCHEMA_KEY in description else None
    return restore(data, original)


def mirror_tables(root: str) -> dict[str, tuple[str, ...]]:
    dl = _deltalake()
    out: dict[str, tuple[str, ...]] = {}
    for path in sorted(Path(root).iterdir()):
        if path.name == STATE_DIR or not (path / "_delta_log").is_dir():
            continue
        description = json.loads(dl.DeltaTable(location(path)).metadata().description or "{}")
        if description.get("arrowtail.mode") == "mirror":
            pk = description.get(PRIMARY_KEY, "")
            out[table_of_folder(path.name)] = tuple(c for c in pk.split(",") if c)
    return out
