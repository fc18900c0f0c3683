"""Replays change batches into table images: the correctness test of docs/design.md.

``replay(batches)`` applies the rows of every table in ``(_pos, _seq)`` order: ``c`` and ``r``
insert by primary key, ``u`` replaces the row found by its old key (``_before`` when sent, else
the row's own key) and carries ``_unchanged`` columns forward from the previous image, ``d``
removes the row, ``t`` empties the table; pseudo-table rows (``m``) are ignored. Without a primary
key the whole row (or ``_before`` image) is the key. Works for every source: it reads only the
change-batch contract.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

META = frozenset({"_op", "_pos", "_seq", "_xid", "_commit_ts", "_before", "_unchanged"})

Row = dict[str, Any]
Image = dict[tuple[Any, ...], Row]


def _primary_key(batch: pa.RecordBatch) -> list[str]:
    raw = (batch.schema.metadata or {}).get(b"arrowtail.primary_key", b"")
    return [c for c in raw.decode().split(",") if c]


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _key(row: Row, pk: list[str]) -> tuple[Any, ...]:
    if pk:
        return tuple(_hashable(row.get(c)) for c in pk)
    return tuple(sorted((k, repr(v)) for k, v in row.items()))


def replay(
    batches: Iterable[tuple[str, int, pa.RecordBatch]],
) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Applies change batches; returns ``{table: {primary key tuple: row dict}}``."""
    pending: dict[str, list[tuple[int, int, int, Row, list[str]]]] = {}
    order = 0
    for table, _version, batch in batches:
        pk = _primary_key(batch)
        for row in batch.to_pylist():
            order += 1
            pending.setdefault(table, []).append((row["_pos"], row["_seq"], order, row, pk))
    result: dict[str, Image] = {}
    for table, rows in pending.items():
        image: Image = {}
        for _pos, _seq, _order, row, pk in sorted(rows, key=lambda r: r[:3]):
            _apply(table, image, row, pk)
        result[table] = image
    return result


def _apply(table: str, image: Image, row: Row, pk: list[str]) -> None:
    op = row["_op"]
    user = {k: v for k, v in row.items() if k not in META}
    unchanged = row.get("_unchanged") or []
    if op == "t":
        image.clear()
    elif op in ("c", "r"):
        image[_key(user, pk)] = user
    elif op == "u":
        before = row.get("_before")
        # A before image keys the old row when it carries the key: MINIMAL images hold only key
        # columns, while REPLICA IDENTITY FULL lists every column as key, NULLs included.
        if before is not None and (not pk or any(before.get(c) is not None for c in pk)):
            old_key = _key(before, pk)
        else:
            old_key = _key(user, pk)
        previous = image.pop(old_key, None)
        for col in unchanged:
            if previous is None:
                raise AssertionError(f"{table}: {col} unchanged but no earlier image of the row")
            user[col] = previous[col]
        image[_key(user, pk)] = user
    elif op == "d":
        image.pop(_key(user, pk), None)


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
