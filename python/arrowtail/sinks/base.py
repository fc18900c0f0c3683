"""The interface every sink implements, as the pipeline drives it.

The pipeline calls :meth:`Sink.open` once, then :meth:`Sink.write` for each change batch and
:meth:`Sink.commit` at transaction boundaries with the source position everything written so far
belongs to; it acknowledges to the source only what :meth:`Sink.durable_position` reports. A sink
that cannot store something raises :class:`arrowtail.exceptions.SinkError` and never reports a
position past it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pyarrow as pa

# A source position (``PositionJSON``) is opaque to sinks: JSON-serialisable, ordered by the
# source's typed position. Sinks store and return it unchanged and never compare two positions
# themselves (commit order is the order); the database targets are the exception, see
# ``arrowtail.sinks.database.target.position_order``.
from arrowtail.sources.base import PositionJSON


@runtime_checkable
class Sink(Protocol):
    """A destination of change batches."""

    def open(self) -> PositionJSON | None:
        """Prepares the sink; returns the checkpoint it stores (None: it keeps none, or fresh)."""
        ...

    def write(self, table: str, schema_version: int, batch: pa.RecordBatch) -> None:
        """Accepts one change batch of ``table`` (``schema.table``) at ``schema_version``."""
        ...

    def commit(self, position: PositionJSON) -> None:
        """Everything written so far belongs to source positions up to ``position``: make it
        durable (possibly asynchronously, see :meth:`durable_position`)."""
        ...

    def durable_position(self) -> PositionJSON | None:
        """The highest committed position whose changes are all durably stored, or None."""
        ...

    def close(self) -> None:
        """Flushes what can be flushed and releases resources; acknowledges nothing beyond what
        is durable."""
        ...


# A sink may also have ``tick()``, which the pipeline calls after every poll: a sink that
# defers its commits (a commit interval) makes a due commit durable there, also when no new
# position arrives (see :class:`arrowtail.sinks.lake.base.LakeSink`).


def table_parts(table: str) -> tuple[str, str]:
    """Splits ``schema.table`` (MySQL: ``database.table``) at the first dot; pseudo-tables such
    as ``_ddl`` have an empty schema."""
    schema, dot, name = table.partition(".")
    return (schema, name) if dot else ("", schema)
