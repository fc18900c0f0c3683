"""Random change streams with a row-by-row reference replay, for property tests of everything
that applies change batches by key (the database and lake sinks, the collapse and replay of
arrowtail.changes that verify uses).

A stream is a list of transactions over a small key space so that keys repeat, die and come back:
inserts of new keys, updates (some with columns left out as ``_unchanged``, some moving a row to
a new key with the old key in ``_before``, those too with or without ``_unchanged`` columns),
deletes and the occasional truncate.
"""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa

from tests.support.batches import make_batch

COLUMNS = [pa.field("id", pa.int64()), pa.field("a", pa.int64()), pa.field("b", pa.string())]
NAMES = ("id", "a", "b")


def random_stream(seed: int, changes: int = 80, keys: int = 8) -> list[list[dict[str, Any]]]:
    """Transactions of change dicts (user columns plus ``_op``/``_unchanged``/``_before``)."""
    rng = random.Random(seed)
    live: dict[int, dict[str, Any]] = {}
    txns: list[list[dict[str, Any]]] = []
    counter = 0
    while counter < changes:
        txn = []
        for _ in range(rng.randint(1, 5)):
            counter += 1
            free = [k for k in range(keys) if k not in live]
            roll = rng.random()
            if roll < 0.03:
                txn.append({"_op": "t"})
                live.clear()
            elif (roll < 0.35 or not live) and free:
                k = rng.choice(free)
                row = {"id": k, "a": counter, "b": rng.choice([None, f"v{counter}"])}
                live[k] = row
                txn.append({"_op": "c", **row})
            elif roll < 0.55 and live:
                k = rng.choice(sorted(live))
                del live[k]
                txn.append({"_op": "d", "id": k})
            elif roll < 0.62 and live and free:
                old, new = rng.choice(sorted(live)), rng.choice(free)
                row = {"id": new, "a": counter, "b": f"moved{counter}"}
                # Some moves leave columns out (PostgreSQL: unchanged TOAST values): the new
                # row keeps the old row's values for them.
                unchanged = rng.choice([[], [], ["b"], ["a", "b"]])
                for c in unchanged:
                    row[c] = live[old][c]
                del live[old]
                live[new] = dict(row)
                change = {"_op": "u", **row, "_before": {"id": old}}
                if unchanged:
                    change.update({c: None for c in unchanged}, _unchanged=unchanged)
                txn.append(change)
            elif live:
                k = rng.choice(sorted(live))
                unchanged = rng.choice([[], [], ["b"], ["a"], ["a", "b"]])
                row = {"id": k, "a": counter, "b": f"u{counter}"}
                for c in unchanged:
                    row[c] = live[k][c]
                live[k] = dict(row)
                change = {"_op": "u", **row}
                if unchanged:
                    change.update({c: None for c in unchanged}, _unchanged=unchanged)
                txn.append(change)
        txns.append(txn)
    return txns


def stream_batches(
    txns: list[list[dict[str, Any]]], cuts: list[int], **schema_kw: Any
) -> list[pa.RecordBatch]:
    """The stream as change batches split before the transaction indexes in ``cuts``."""
    rows_by_txn = [
        [{"_pos": 1000 + 10 * t, "_seq": s, **c} for s, c in enumerate(txn)]
        for t, txn in enumerate(txns)
    ]
    bounds = [0, *sorted(set(cuts) - {0}), len(txns)]
    return [
        make_batch(COLUMNS, [r for txn in rows_by_txn[lo:hi] for r in txn], **schema_kw)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        if hi > lo
    ]


def reference(txns: list[list[dict[str, Any]]]) -> dict[int, tuple]:
    """The table after applying each change in order, as ``{id: (id, a, b)}``."""
    table: dict[int, dict[str, Any]] = {}
    for txn in txns:
        for c in txn:
            if c["_op"] == "t":
                table.clear()
            elif c["_op"] == "d":
                table.pop(c["id"], None)
            else:
                old = table.get(c["id"], {})
                if c.get("_before") and c["_before"]["id"] != c["id"]:
                    old = table.pop(c["_before"]["id"], None) or {}
                new = {n: c.get(n) for n in NAMES}
                for n in c.get("_unchanged") or []:
                    new[n] = old.get(n)
                table[c["id"]] = new
    return {k: tuple(r[n] for n in NAMES) for k, r in table.items()}
