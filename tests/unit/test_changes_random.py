"""Property test of the net-effect reduction: random change streams, cut into random batches and
applied batch by batch with the semantics of the database sinks, end as the row-by-row replay."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from arrowtail.changes import collapse, replay
from tests.support.changegen import NAMES, random_stream, reference, stream_batches


def _apply(target: dict[int, dict], batch: pa.RecordBatch) -> None:
    """What the sinks' statements do: read the carried columns of moved rows, truncate, delete
    keys, insert or update the sent columns of each upsert row, then fill in the carried ones."""
    net = collapse(batch, ("id",))
    carried = [
        (pair["id"], {c: target[pair["__from_id"]][c] for c in columns})
        for columns, pairs in net.carries()
        for pair in pairs.to_pylist()
    ]
    if net.truncate:
        target.clear()
    for key in net.deletes.column("id").to_pylist():
        target.pop(key, None)
    for _columns, rows in net.groups():  # rows hold exactly the sent columns
        for row in rows.to_pylist():
            target.setdefault(row["id"], {}).update(row)
    for key, values in carried:
        target[key].update(values)


@pytest.mark.parametrize("seed", range(60))
def test_random_streams_in_random_batches_match_the_reference(seed):
    txns = random_stream(seed)
    rng = random.Random(seed + 1000)
    cuts = sorted(rng.sample(range(1, len(txns)), k=min(len(txns) - 1, rng.randint(0, 6))))
    target: dict[int, dict] = {}
    for batch in stream_batches(txns, cuts):
        _apply(target, batch)
    got = {k: tuple(r.get(n) for n in NAMES) for k, r in target.items()}
    assert got == reference(txns)
    # Replaying the whole stream at once from an empty table gives the same table.
    whole = pa.Table.from_batches(stream_batches(txns, []))
    replayed = {r["id"]: tuple(r[n] for n in NAMES) for r in replay(whole, ("id",)).to_pylist()}
    assert replayed == reference(txns)
