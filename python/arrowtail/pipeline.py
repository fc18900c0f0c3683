"""The pipeline loop: source -> (transform) -> sink -> checkpoint -> acknowledge.

One thread, one loop. Reading waits while the sink works, so a slow sink slows reading and memory
stays bounded by one poll's worth of batches (backpressure without queues). A position reaches the
source's acknowledgement and the checkpoint file only after the sink reports it durable.

Stopping: :meth:`Pipeline.stop` (SIGINT/SIGTERM in the CLI) ends the loop after the current step,
then the sink is flushed, the checkpoint written and the source acknowledged. A second signal exits
at once (see ``cli.py``) and acknowledges nothing more.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from arrowtail import _core
from arrowtail.checkpoint import CheckpointFile, CheckpointWriter
from arrowtail.exceptions import ConfigError
from arrowtail.lazy import call
from arrowtail.sources.base import PositionJSON, Source, SourcePosition, brief
from arrowtail.sources.mysql.position import BinlogPosition
from arrowtail.sources.positions import position_type_of, read_position
from arrowtail.sources.postgres.position import PgPosition

if TYPE_CHECKING:
    from arrowtail.sinks.base import Sink

log = logging.getLogger("arrowtail.pipeline")

Transform = Callable[[str, pa.RecordBatch], pa.RecordBatch | None]

#: The kind of source each stored position type comes from, for messages.
_KINDS: dict[type[SourcePosition], str] = {
    PgPosition: "PostgreSQL",
    BinlogPosition: "MySQL/MariaDB",
}


@dataclass
class Summary:
    """What a run did."""

    rows: int = 0
    batches: int = 0
    seconds: float = 0.0
    #: Seconds from the start until the last change arrived (the rate's denominator, so waiting
    #: for ``idle_exit`` does not dilute it).
    active_seconds: float = 0.0
    by_table_op: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Keys of :attr:`by_table_op` counted since :meth:`take_touched` last ran (a snapshot of
    #: many tables reports progress once per table: this keeps each report to what it changed).
    touched: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)
    first_position: PositionJSON | None = None
    last_position: PositionJSON | None = None
    acknowledged: PositionJSON | None = None
    stopped_by: str = ""

    @property
    def rows_per_second(self) -> float:
        seconds = self.active_seconds or self.seconds
        return self.rows / seconds if seconds > 0 else 0.0

    def take_touched(self) -> set[tuple[str, str]]:
        """The keys counted since the last call."""
        touched, self.touched = self.touched, set()
        return touched

    def render(self) -> str:
        """A short human summary: totals, rate, then rows per table and operation."""
        names = {"c": "insert", "u": "update", "d": "delete", "r": "snapshot", "t": "truncate"}
        lines = [
            f"{self.rows} changes in {self.batches} batches, {self.seconds:.1f}s "
            f"({self.rows_per_second:,.0f} rows/s); stopped: {self.stopped_by or 'error'}",
        ]
        by_table: dict[str, list[str]] = {}
        for (table, op), n in sorted(self.by_table_op.items()):
            by_table.setdefault(table, []).append(f"{names.get(op, op)} {n}")
        width = max((len(t) for t in by_table), default=5)
        for table, parts in by_table.items():
            lines.append(f"  {table:<{width}}  " + ", ".join(parts))
        if self.acknowledged is not None:
            lines.append(f"acknowledged position: {brief(self.acknowledged)}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "by_table_op": {f"{t}:{op}": n for (t, op), n in sorted(self.by_table_op.items())},
            "acknowledged": self.acknowledged,
            "stopped_by": self.stopped_by,
        }


class Pipeline:
    """Moves committed changes from a source to a sink.

    Example::

        from arrowtail import Pipeline
        from arrowtail.sources.postgres.source import PostgresSource
        from arrowtail.sinks.parquet import ParquetSink

        summary = Pipeline(
            PostgresSource("postgresql://cdc@db/app", slot="arrowtail", publication="arrowtail"),
            ParquetSink("/data/cdc"),
            idle_exit=10,
        ).run()
        print(summary.rows, "changes stored")
    """

    def __init__(
        self,
        source: Source,
        sink: Sink,
        *,
        checkpoint: str | CheckpointFile | None = None,
        checkpoint_interval: float = 1.0,
        idle_exit: float | None = None,
        poll_timeout: float = 0.5,
        transforms: list[Transform] | None = None,
        on_progress: Callable[[Summary], None] | None = None,
    ) -> None:
        self.source = source
        self.sink = sink
        self.checkpoint = CheckpointFile(checkpoint) if isinstance(checkpoint, str) else checkpoint
        self.checkpoint_interval = checkpoint_interval
        self.idle_exit = idle_exit
        self.poll_timeout = poll_timeout
        self.transforms = list(transforms or [])
        self.on_progress = on_progress
        self.summary = Summary()
        # Sources number schema versions once per run as their decoders make the batches
        # (``schema_versions``, shared by all their decoders); batches of a source without one
        # are numbered here the same way.
        self._number: _core.SchemaVersions | None = (
            None if hasattr(source, "schema_versions") else _core.SchemaVersions()
        )
        self._stop_reason: str | None = None
        self._caught_up_at: float | None = None
        # The checkpoint is saved on a thread of its own (see CheckpointWriter); the newest
        # durable position handed to it, which the source hears of once it is saved.
        self._writer: CheckpointWriter | None = None
        self._submitted: PositionJSON | None = None

    def stop(self, reason: str = "stop requested") -> None:
        """Asks the loop to finish cleanly after its current step."""
        self._stop_reason = reason

    def run(self) -> Summary:
        """Runs until the source is exhausted, ``idle_exit`` seconds pass without a change (or
        the data of a transaction still in progress), or :meth:`stop` is called. Returns what
        was done."""
        started = time.monotonic()
        start = self.sink.open()
        whence = "the sink's stored position"
        if start is None and self.checkpoint is not None:
            start = self.checkpoint.load()
            whence = f"checkpoint file {self.checkpoint.path}"
        if start is not None:
            self._check_start(start, whence)
            log.info("resuming after %s", brief(start))
        self.source.open(start)
        acknowledged = self._submitted = start
        if self.checkpoint is not None:
            self._writer = CheckpointWriter(self.checkpoint, self.checkpoint_interval)
        last_change = time.monotonic()
        pending: PositionJSON | None = None
        # A sink that defers its commits (a commit interval) makes them durable when due, also
        # while no new position arrives.
        tick = getattr(self.sink, "tick", None)
        try:
            while self._stop_reason is None:
                polled_at = time.monotonic()
                chunk = self.source.poll(self.poll_timeout)
                if chunk.batches or chunk.busy:
                    # A large transaction still arriving is not idleness, even with no batch yet.
                    last_change = time.monotonic()
                    self._write(chunk.batches)
                    self.summary.active_seconds = last_change - started
                if chunk.position is not None and chunk.position != pending:
                    pending = chunk.position
                    self.sink.commit(pending)
                    self.summary.last_position = pending
                    if self.summary.first_position is None:
                        self.summary.first_position = pending
                if tick is not None:
                    tick()
                acknowledged = self._acknowledge(acknowledged)
                if self.on_progress is not None:
                    self.on_progress(self.summary)
                if chunk.exhausted:
                    self._stop_reason = "input exhausted"
                elif not chunk.batches and self._idle(last_change, polled_at):
                    # Only a poll that brought nothing counts as idle: with idle_exit 0
                    # ('arrowtail snapshot') a snapshot runs to its end, then the run stops.
                    self._stop_reason = f"idle for {self.idle_exit:g}s"
            self.summary.stopped_by = self._stop_reason or ""
            # Clean stop: make everything durable, save it, then acknowledge it.
            self.sink.close()
            acknowledged = self._acknowledge(acknowledged)
            if self._writer is not None and (saved := self._writer.drain()) is not None:
                self.source.acknowledge(saved)
                acknowledged = saved
        finally:
            if self._writer is not None:
                self._writer.close()
            self.summary.acknowledged = acknowledged
            self.summary.seconds = time.monotonic() - started
            self.source.close()
        return self.summary

    def _idle(self, last_change: float, polled_at: float) -> bool:
        """``idle_exit`` seconds without a change, counted from when the source caught up with
        the log as it stood at start (a backlog being read is not idleness).

        Called after a poll that brought no change: when that poll ends caught up, no change
        arrived since it began (``polled_at``), so the quiet time counts from there. Counting from
        the poll's end instead would add a whole poll timeout to every run that starts with
        nothing to read."""
        if self.idle_exit is None:
            return False
        if not getattr(self.source, "caught_up", True):
            self._caught_up_at = None
            return False
        if self._caught_up_at is None:
            self._caught_up_at = polled_at
        since = max(last_change, self._caught_up_at)
        return time.monotonic() - since >= self.idle_exit

    def _write(self, batches: list[tuple[str, int, pa.RecordBatch]]) -> None:
        for table, version, batch in batches:
            out: pa.RecordBatch | None = batch
            for transform in self.transforms:
                out = transform(table, out)
                if out is None:
                    break
            if out is None or out.num_rows == 0:
                continue
            if self._number is not None:
                version, out = self._number.assign(table, out)
            self.sink.write(table, version, out)
            self.summary.rows += out.num_rows
            self.summary.batches += 1
            ops = out.column("_op")
            if out.num_rows <= 16:  # a commit or two: cheaper than a compute call
                for op in ops.to_pylist():
                    self.summary.by_table_op[(table, op)] += 1
                    self.summary.touched.add((table, op))
                continue
            for item in call("value_counts", ops).to_pylist():
                self.summary.by_table_op[(table, item["values"])] += item["counts"]
                self.summary.touched.add((table, item["values"]))

    def _check_start(self, start: PositionJSON, whence: str) -> None:
        """Refuses a stored position another kind of source wrote: a target database or an
        offsets topic shared by two pipelines under one ``sink_name`` hands each the other's
        position, and resuming from it would skip or misread changes."""
        position_type = getattr(self.source, "position_type", None)
        if position_type is None:
            return
        try:
            stored = position_type_of(start)
        except ValueError:
            stored = None
        if stored is not position_type:
            raise ConfigError(
                f"{whence} ({start}) was not written by a {_KINDS.get(position_type, 'source')}"
                " source like this run's: it belongs to another pipeline. Give each pipeline its"
                " own place for positions (sink_name=NAME on a database target or an exactly-once"
                " Kafka sink, its own --checkpoint file), or remove that one to start over"
            )

    def _typed(self, position: PositionJSON) -> SourcePosition:
        """``position`` as the source's typed position, which gives the order; a source that
        declares no ``position_type`` gets the type its stored form names."""
        position_type = getattr(self.source, "position_type", None)
        return (
            read_position(position) if position_type is None else position_type.from_json(position)
        )

    def _acknowledge(self, acknowledged: PositionJSON | None) -> PositionJSON | None:
        """Hands a new durable position to the checkpoint, and tells the source of the newest
        saved one (without a checkpoint file, at once). Returns the position acknowledged."""
        durable = self.sink.durable_position()
        if durable is not None and durable != self._submitted:
            if self._submitted is None or not self._typed(durable) < self._typed(self._submitted):
                self._submitted = durable
                if self._writer is None:
                    self.source.acknowledge(durable)
                    return durable
                self._writer.submit(durable)
        if self._writer is not None and (saved := self._writer.saved()) is not None:
            self.source.acknowledge(saved)
            return saved
        return acknowledged
