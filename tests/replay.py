"""Replays change batches into table images: the correctness test of DESIGN.md.

Rows of each table are applied in ``(_pos, _seq)`` order: ``c``/``r`` insert by primary key,
``u`` updates (carrying ``_unchanged`` columns forward from the previous image), ``d`` deletes,
``t`` empties the table. Tables without a primary key use the ``_before`` image (or the whole
row) as the key.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

META = {"_op", "_pos", "_seq", "_xid", "_commit_ts", "_before", "_unchanged"}


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _key(row: dict[str, Any], pk: list[str]) -> tuple[Any, ...]:
    if pk:
        return tuple(_hashable(row[c]) for c in pk)
    return tuple(sorted((k, repr(v)) for k, v in row.items()))


def replay(
    batches: Iterable[tuple[str, int, pa.RecordBatch]],
) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Applies change batches; returns ``{table: {primary key tuple: row dict}}``."""
    changes: dict[str, list[tuple[int, int, dict[str, Any], list[str]]]] = {}
    for table, _version, batch in batches:
        pk_meta = (batch.schema.metadata or {}).get(b"arrowtail.primary_key", b"").decode()
        pk = [c for c in pk_meta.split(",") if c]
        for row in batch.to_pylist():
            changes.setdefault(table, []).append((row["_pos"], row["_seq"], row, pk))
    out: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for table, rows in changes.items():
        image: dict[tuple[Any, ...], dict[str, Any]] = {}
        for _pos, _seq, row, pk in sorted(rows, key=lambda r: (r[0], r[1])):
            user = {k: v for k, v in row.items() if k not in META}
            op = row["_op"]
            if op == "t":
                image.clear()
            elif op in ("c", "r"):
                image[_key(user, pk)] = user
            elif op == "u":
                before = row["_before"]
                old_key = _key(before, pk) if before else _key(user, pk)
                previous = image.pop(old_key, None)
                if previous is None and not before:
                    previous = image.get(_key(user, pk))
                for col in row["_unchanged"] or []:
                    if previous is None:
                        raise AssertionError(f"{table}: unchanged {col} with no earlier image")
                    user[col] = previous[col]
                image[_key(user, pk)] = user
            elif op == "d":
                image.pop(_key(user, pk), None)
        out[table] = image
    return out


def parquet_changes(root: str | Path) -> list[tuple[str, int, pa.RecordBatch]]:
    """Change batches read back from a Parquet sink directory (``<root>/<schema>.<table>/``)."""
    import pyarrow.parquet as pq

    out: list[tuple[str, int, pa.RecordBatch]] = []
    for path in sorted(Path(root).glob("*/*.parquet")):
        if path.parent.name.startswith("_"):
            continue
        table = pq.read_table(path)
        meta = table.schema.metadata or {}
        version = int(meta.get(b"arrowtail.schema_version", b"1"))
        for batch in table.to_batches():
            out.append((path.parent.name, version, batch))
    return out


def normalize(value: Any) -> Any:
    """A comparable form of a value read from Arrow or from a database driver."""
    if isinstance(value, pa.MonthDayNano):
        return [value.months, value.days, value.nanoseconds]
    if hasattr(value, "bytes") and hasattr(value, "hex") and hasattr(value, "version"):
        return value.bytes  # uuid.UUID
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, float) and value != value:
        return "NaN"
    return value


def assert_tables_equal(
    actual: dict[tuple[Any, ...], dict[str, Any]],
    want: dict[tuple[Any, ...], dict[str, Any]],
    table: str,
) -> None:
    """Same keys and, column by column, the same values (value-level comparison)."""
    missing = sorted(set(want) - set(actual))[:5]
    extra = sorted(set(actual) - set(want))[:5]
    assert not missing and not extra, f"{table}: missing keys {missing}, extra keys {extra}"
    for key, row in want.items():
        got = actual[key]
        for col, value in row.items():
            assert normalize(got.get(col)) == normalize(value), (
                f"{table} {key} column {col}: stream has {got.get(col)!r}, database has {value!r}"
            )
