"""Replays change batches into table images: the correctness test of DESIGN.md.

``replay(batches)`` applies the rows of every table in ``(_pos, _seq)`` order: ``c`` and ``r``
insert by primary key, ``u`` replaces the row found by its old key (``_before`` when sent, else
the row's own key) and carries ``_unchanged`` columns forward from the previous image, ``d``
removes the row, ``t`` empties the table; pseudo-table rows (``m``) are ignored. Without a primary
key the whole row (or ``_before`` image) is the key. Works for every source: it reads only the
change-batch contract.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

META = frozenset({"_op", "_pos", "_seq", "_xid", "_commit_ts", "_before", "_unchanged"})

Row = dict[str, Any]
Image = dict[tuple[Any, ...], Row]


def _primary_key(batch: pa.RecordBatch) -> list[str]:
    raw = (batch.schema.metadata or {}).get(b"arrowtail.primary_key", b"")
    return [c for c in raw.decode().split(",") if c]


def _key(row: Row, pk: list[str]) -> tuple[Any, ...]:
    if pk:
        return tuple(row.get(c) for c in pk)
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
        if before is not None and (not pk or all(before.get(c) is not None for c in pk)):
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
