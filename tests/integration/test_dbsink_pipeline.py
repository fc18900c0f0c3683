"""The database sinks driven by the real pipeline loop: a source that replays every transaction
from the beginning on each run (at-least-once delivery at its worst) still leaves each change
applied once, and the pipeline acknowledges exactly the positions the target stored."""

from __future__ import annotations

from typing import Any

import pytest

from arrowtail.pipeline import Pipeline
from arrowtail.sources.base import Chunk
from tests.support.batches import make_batch
from tests.support.dbsink_cases import COLUMNS, HITS_AFTER_B5, _row, batches, last_pos
from tests.support.dbsink_child import make_sink, position
from tests.support.dbsink_targets import TABLE, MariaTarget, PgTarget, expect_rows, source_kind


class ReplayingSource:
    """Delivers every batch as its own chunk, from the start, whatever position it is given."""

    kind = "test"

    def __init__(self, engine: str, batch_list: list) -> None:
        self.chunks = [Chunk([(TABLE, 1, b)], position(engine, last_pos(b))) for b in batch_list]
        self.acks: list[dict[str, Any]] = []
        self.opened_at: dict[str, Any] | None = None

    def open(self, start: dict[str, Any] | None) -> None:
        self.opened_at = start

    def poll(self, timeout: float) -> Chunk:
        return self.chunks.pop(0) if self.chunks else Chunk(exhausted=True)

    def acknowledge(self, position: dict[str, Any]) -> None:
        self.acks.append(position)

    def close(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize("server", ["postgres", "mariadb"])
def test_pipeline_runs_twice_over_the_same_stream_and_applies_it_once(request, server):
    srv = request.getfixturevalue(server)
    target = PgTarget(srv) if server == "postgres" else MariaTarget(srv)
    target.reset()
    bs = batches(TABLE, source_kind(target))
    for run in range(2):
        source = ReplayingSource(target.engine, bs)
        summary = Pipeline(source, make_sink(target.engine, target.params)).run()
        assert summary.stopped_by == "input exhausted"
        if run == 0:
            assert source.opened_at is None
            assert source.acks[-1] == position(target.engine, 1800)
        else:  # resumed at the stored position: nothing new to acknowledge
            assert source.opened_at == position(target.engine, 1800)
            assert source.acks == []
        expect_rows(target, bs, HITS_AFTER_B5)


def test_snapshot_chunks_sharing_one_position_are_all_stored(postgres):
    """Snapshot reads all carry the position the snapshot is consistent with; the pipeline
    commits that position after the first chunk, and the later chunks must not be skipped."""
    target = PgTarget(postgres)
    target.reset()
    kind = "postgres"

    def reads(ids: range) -> list[dict[str, Any]]:
        return [{"_op": "r", "_pos": 900, "_seq": i, **_row(i, f"snap{i}")} for i in ids]

    chunks = [
        make_batch(COLUMNS, reads(range(1, 4)), table=TABLE, source=kind),
        make_batch(COLUMNS, reads(range(4, 8)), table=TABLE, source=kind),
        make_batch(
            COLUMNS,
            [{"_op": "u", "_pos": 950, "_seq": 0, **_row(2, "two", 1)}],
            table=TABLE,
            source=kind,
        ),
    ]
    source = ReplayingSource(kind, [])
    source.chunks = [
        Chunk([(TABLE, 1, chunks[0])], position(kind, 900)),
        Chunk([(TABLE, 1, chunks[1])], position(kind, 900)),
        Chunk([(TABLE, 1, chunks[2])], position(kind, 950)),
    ]
    Pipeline(source, make_sink(kind, target.params)).run()
    expect_rows(target, chunks, {1: 0, 2: 1, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0})
