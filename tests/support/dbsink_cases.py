"""Change batches and a row-by-row reference replay shared by the database sink tests.

The reference applies each change in (_pos, _seq) order with plain dicts; the sinks reduce batches
to set-based statements. Both must end with the same table.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa

from tests.support.batches import make_batch

COLUMNS = [
    pa.field("id", pa.int64()),  # nullable: a truncate row has no key
    pa.field("name", pa.string()),
    pa.field("note", pa.string()),
    pa.field("price", pa.decimal128(10, 2)),
    pa.field("n", pa.int32()),
    pa.field("ts", pa.timestamp("us", tz="UTC")),
    pa.field("blob", pa.binary()),
]
NAMES = [f.name for f in COLUMNS]
UTC = dt.timezone.utc


def _row(i: int, name: str, n: int = 0, note: str | None = "note") -> dict[str, Any]:
    return {
        "id": i,
        "name": name,
        "note": None if note is None else f"{note}-{i}" * 50,
        "price": Decimal(f"{i}.25"),
        "n": n,
        "ts": dt.datetime(2026, 3, 1, 12, 0, i, 123456, tzinfo=UTC),
        "blob": bytes([i, 0, 255]),
    }


def _txn(pos: int, *changes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"_pos": pos, "_seq": s, **c} for s, c in enumerate(changes)]


def _unch(row: dict[str, Any], *cols: str) -> dict[str, Any]:
    out = dict(row)
    for c in cols:
        out[c] = None
    out["_unchanged"] = list(cols)
    return out


def batches(table: str, source: str) -> list[pa.RecordBatch]:
    """B1 inserts; B2 updates (one with an unchanged column), deletes, repeated keys, a key
    deleted and re-inserted, one inserted and deleted; B3 more updates with unchanged columns;
    B4 a truncate followed by inserts and an update; B5 an update and an insert."""
    kw = {"table": table, "source": source, "primary_key": ("id",)}
    b1 = _txn(1000, *({"_op": "c", **_row(i, f"item{i}")} for i in range(1, 6)))
    b2 = (
        _txn(
            1100,
            {"_op": "u", **_row(1, "one", 1)},
            {"_op": "u", **_unch(_row(2, "two", 1), "note")},
        )
        + _txn(
            1200,
            {"_op": "d", "id": 3},
            {"_op": "c", **_row(6, "six")},
            {"_op": "u", **_row(4, "four", 1)},
        )
        + _txn(
            1300,
            {"_op": "u", **_unch(_row(4, "four", 2), "note")},
            {"_op": "c", **_row(7, "seven")},
            {"_op": "d", "id": 7},
            {"_op": "d", "id": 5},
            {"_op": "c", **_row(5, "five-again", 0, note="again")},
        )
    )
    b3 = _txn(
        1400,
        {"_op": "u", **_row(1, "one", 2)},
        {"_op": "u", **_unch(_row(2, "ignored", 2), "name", "note")},
        {"_op": "u", **_row(6, "six", 1)},
    )
    b4 = (
        _txn(1500, {"_op": "t"})
        + _txn(1600, {"_op": "c", **_row(20, "twenty")}, {"_op": "c", **_row(21, "twenty-one")})
        + _txn(1700, {"_op": "u", **_row(20, "twenty", 1)})
    )
    b5 = _txn(1800, {"_op": "u", **_row(21, "twenty-one", 1)}, {"_op": "c", **_row(22, "x")})
    return [make_batch(COLUMNS, rows, **kw) for rows in (b1, b2, b3, b4, b5)]


def last_pos(batch: pa.RecordBatch) -> int:
    return max(batch.column("_pos").to_pylist())


def reference(batch_list: list[pa.RecordBatch]) -> dict[int, dict[str, Any]]:
    """The table after applying every change one by one (the obviously correct way)."""
    table: dict[int, dict[str, Any]] = {}
    rows = [r for b in batch_list for r in b.to_pylist()]
    for r in sorted(rows, key=lambda r: (r["_pos"], r["_seq"])):
        if r["_op"] == "t":
            table.clear()
        elif r["_op"] == "d":
            table.pop(r["id"], None)
        else:
            new = {c: r[c] for c in NAMES}
            old = table.get(r["id"], {})
            for c in r["_unchanged"] or []:
                new[c] = old.get(c)
            table[r["id"]] = new
    return table


#: Update-trigger counts after B1..B3 applied once each, in three commits: proves no change was
#: applied twice (a replayed B2 would count 2 for id 4, a replayed B3 3 for id 1).
HITS_AFTER_B3 = {1: 2, 2: 2, 4: 1, 5: 0, 6: 1}
#: After B1..B5: the truncate reset everything; B5 updated 21 once.
HITS_AFTER_B5 = {20: 0, 21: 1, 22: 0}
