"""The pipeline loop's ordering rules, with in-memory stand-ins for source and sink.

The end-to-end proofs run against real servers in tests/integration; this checks the loop's own
rule: a position is acknowledged and checkpointed only once the sink calls it durable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from arrowtail.checkpoint import CheckpointFile
from arrowtail.pipeline import Pipeline
from arrowtail.sources.base import Chunk


def batch(ops: list[str], pos: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {"id": list(range(len(ops))), "_op": ops, "_pos": pa.array([pos] * len(ops), pa.uint64())}
    )


class ListSource:
    kind = "test"

    def __init__(self, chunks: list[Chunk]) -> None:
        self.chunks = chunks
        self.acks: list[dict[str, Any]] = []
        self.opened_at: dict[str, Any] | None = None
        self.closed = False

    def open(self, start: dict[str, Any] | None) -> None:
        self.opened_at = start

    def poll(self, timeout: float) -> Chunk:
        return self.chunks.pop(0) if self.chunks else Chunk(exhausted=True)

    def acknowledge(self, position: dict[str, Any]) -> None:
        self.acks.append(position)

    def close(self) -> None:
        self.closed = True

    def describe(self) -> dict[str, Any]:
        return {}


class LaggingSink:
    """Calls a position durable one commit late, like an asynchronous producer."""

    def __init__(self) -> None:
        self.rows = 0
        self.committed: list[dict[str, Any]] = []
        self.durable: dict[str, Any] | None = None
        self.closed = False

    def open(self) -> dict[str, Any] | None:
        return None

    def write(self, table: str, schema_version: int, b: pa.RecordBatch) -> None:
        self.rows += b.num_rows

    def commit(self, position: dict[str, Any]) -> None:
        if self.committed:
            self.durable = self.committed[-1]
        self.committed.append(position)

    def durable_position(self) -> dict[str, Any] | None:
        return self.durable

    def close(self) -> None:
        self.closed = True
        if self.committed:
            self.durable = self.committed[-1]


def test_acknowledges_only_durable_positions(tmp_path: Path) -> None:
    source = ListSource(
        [
            Chunk([("public.a", 1, batch(["c", "c"], 10))], {"lsn": 10}),
            Chunk([("public.a", 1, batch(["u"], 20))], {"lsn": 20}),
            Chunk([("public.b", 1, batch(["d"], 30))], {"lsn": 30}),
        ]
    )
    sink = LaggingSink()
    cp = CheckpointFile(tmp_path / "cp.json")
    # The source hears of a position only once the checkpoint file holds it (saved on the
    # checkpoint's own thread): record what the file says at each acknowledgement.
    on_disk: list[dict[str, Any] | None] = []
    acknowledge = source.acknowledge
    source.acknowledge = lambda p: (on_disk.append(cp.load()), acknowledge(p))  # type: ignore[method-assign]
    summary = Pipeline(source, sink, checkpoint=cp).run()
    # Each ack trails the newest commit, newest wins when saves overlap (so a middle one may be
    # skipped), acks only grow, and the final one comes after close().
    lsns = [a["lsn"] for a in source.acks]
    assert lsns == sorted(set(lsns)) and set(lsns) <= {10, 20, 30} and lsns[-1] == 30
    assert all(
        d is not None and d["lsn"] >= a["lsn"] for d, a in zip(on_disk, source.acks, strict=True)
    )
    assert sink.closed and source.closed
    assert cp.load() == {"lsn": 30}
    assert summary.rows == 4
    assert summary.by_table_op[("public.a", "c")] == 2
    assert summary.by_table_op[("public.b", "d")] == 1
    assert summary.stopped_by == "input exhausted"
    text = summary.render()
    assert "4 changes in 3 batches" in text
    assert "public.a  insert 2, update 1" in text
    assert "acknowledged position: {'lsn': 30}" in text


def test_resumes_from_checkpoint_and_never_goes_back(tmp_path: Path) -> None:
    cp = CheckpointFile(tmp_path / "cp.json")
    cp.save({"lsn": 50})
    source = ListSource([Chunk([("public.a", 1, batch(["c"], 40))], {"lsn": 40})])
    sink = LaggingSink()
    summary = Pipeline(source, sink, checkpoint=cp).run()
    assert source.opened_at == {"lsn": 50}
    # A durable position below the checkpoint is never acknowledged.
    assert source.acks == []
    assert cp.load() == {"lsn": 50}
    assert summary.acknowledged == {"lsn": 50}


def test_failing_sink_acknowledges_nothing_it_did_not_store(tmp_path: Path) -> None:
    class FailingSink(LaggingSink):
        def write(self, table: str, schema_version: int, b: pa.RecordBatch) -> None:
            if b.column("_pos")[0].as_py() == 20:
                raise OSError("disk full")
            super().write(table, schema_version, b)

    source = ListSource(
        [
            Chunk([("public.a", 1, batch(["c"], 10))], {"lsn": 10}),
            Chunk([("public.a", 1, batch(["c"], 20))], {"lsn": 20}),
        ]
    )
    cp = CheckpointFile(tmp_path / "cp.json")
    try:
        Pipeline(source, FailingSink(), checkpoint=cp).run()
    except OSError:
        pass
    else:  # pragma: no cover
        raise AssertionError("the sink failure must stop the pipeline")
    assert source.acks == []
    assert cp.load() is None
    assert source.closed


class SlowSource(ListSource):
    """Takes ``delay`` seconds per poll, like a source receiving a large transaction."""

    def __init__(self, chunks: list[Chunk], delay: float) -> None:
        super().__init__(chunks)
        self.delay = delay

    def poll(self, timeout: float) -> Chunk:
        import time

        time.sleep(self.delay)  # the simulated network time of one poll
        return self.chunks.pop(0) if self.chunks else Chunk()


def test_a_transaction_in_progress_is_not_idleness() -> None:
    """A transaction arriving for longer than idle_exit (busy chunks, no batch yet) must not stop
    the run before its commit is stored."""
    busy = [Chunk(busy=True) for _ in range(6)]
    source = SlowSource([*busy, Chunk([("t", 1, batch(["c"], 5))], {"lsn": 5})], delay=0.05)
    sink = LaggingSink()
    summary = Pipeline(source, sink, idle_exit=0.2).run()
    assert sink.rows == 1
    assert summary.stopped_by == "idle for 0.2s"
    assert source.acks == [{"lsn": 5}]


def test_idle_time_counts_from_the_start_of_the_poll_that_found_the_source_caught_up(
    monkeypatch: Any,
) -> None:
    """An empty backlog: the first poll waits its whole timeout, finds nothing and ends caught
    up. That poll was already quiet, so with idle_exit equal to the poll timeout the run stops
    after it instead of waiting through a second one."""
    clock = [100.0]
    monkeypatch.setattr("arrowtail.pipeline.time.monotonic", lambda: clock[0])
    polls: list[float] = []

    class QuietSource(ListSource):
        caught_up = True

        def poll(self, timeout: float) -> Chunk:
            polls.append(timeout)
            clock[0] += timeout  # a blocking read that saw nothing until its deadline
            return Chunk()

    summary = Pipeline(QuietSource([]), LaggingSink(), idle_exit=0.5, poll_timeout=0.5).run()
    assert polls == [0.5]
    assert summary.stopped_by == "idle for 0.5s"


def test_summary_reports_the_counts_each_poll_touched_and_renders_per_table() -> None:
    from arrowtail.pipeline import Summary

    summary = Summary()
    for table, op, n in [("s.b", "c", 2), ("s.a", "r", 5), ("s.b", "u", 1), ("s.a", "r", 1)]:
        summary.by_table_op[table, op] += n
        summary.touched.add((table, op))
    assert summary.take_touched() == {("s.a", "r"), ("s.b", "c"), ("s.b", "u")}
    assert summary.take_touched() == set()
    summary.stopped_by = "idle for 1s"
    lines = summary.render().splitlines()[1:]
    assert lines == ["  s.a  snapshot 6", "  s.b  insert 2, update 1"]
