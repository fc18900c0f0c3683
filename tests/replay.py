"""Replays change batches into table images: the correctness test of DESIGN.md.

Rows of each table are applied in ``(_pos, _seq)`` order: ``c``/``r`` insert by primary key,
``u`` updates (carrying ``_unchanged`` columns forward from the previous image), ``d`` deletes,
``t`` empties the table. Tables without a primary key use the ``_before`` image (or the whole
row) as the key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

META = {"_op", "_pos", "_seq", "_xid", "_commit_ts", "_before", "_unchanged"}


def _key(row: dict[str, Any], pk: list[str]) -> tuple[Any, ...]:
    if pk:
        return tuple(row[c] for c in pk)
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
