"""A JSON Lines sink: one JSON object per change, to a file or stdout. Meant for the command line
(``--to jsonl:FILE`` / ``jsonl:-``), quick looks and piping into other tools.

Each line is the Debezium envelope of a change (see :mod:`arrowtail.sinks.kafka.sink`), written by
the core's :class:`arrowtail._core.DebeziumSerializer`, made once per sink: the core writes the
JSON of a whole batch, so Python only joins bytes. Tombstones are not written (they only matter to
Kafka's log compaction).
``commit`` flushes what was written and, for a regular file, fsyncs it; stdout, pipes and
character devices (``jsonl:/dev/null``) are written through, as they cannot be fsynced. The position
is kept in memory only.
"""

from __future__ import annotations

import os
import stat
import sys
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from arrowtail import _core
from arrowtail.exceptions import SinkError
from arrowtail.sinks.base import PositionJSON


class JsonlSink:
    """Writes Debezium JSON lines to ``path`` (``-`` for stdout); appends to an existing file."""

    def __init__(self, path: str, *, topic_prefix: str = "arrowtail", **serialize_options: Any):
        self._path = path
        options = {**serialize_options, "tombstones": False}
        self._serializer = _core.DebeziumSerializer(topic_prefix=topic_prefix, **options)
        self._out: IO[bytes] | None = None
        #: Whether the output is a regular file (fsynced at commits) rather than a stream.
        self._regular = False
        self._durable: PositionJSON | None = None

    def open(self) -> PositionJSON | None:
        try:
            self._out = sys.stdout.buffer if self._path == "-" else open(self._path, "ab")  # noqa: SIM115
            self._regular = self._path != "-" and stat.S_ISREG(os.fstat(self._out.fileno()).st_mode)
        except OSError as exc:
            raise SinkError(f"cannot open JSON lines output {self._path}: {exc}") from exc
        return None

    def write(self, table: str, schema_version: int, batch: pa.RecordBatch) -> None:
        if self._out is None:
            raise SinkError("JsonlSink.write called before open()")
        if batch.num_rows == 0:
            return
        _keys, values, _rows, _parts = self._serializer.serialize(batch)
        data = lines_of(values)
        try:
            self._out.write(data)
        except OSError as exc:
            raise SinkError(f"cannot write to {self._path}: {exc}") from exc

    def commit(self, position: PositionJSON) -> None:
        if self._out is None:
            raise SinkError("JsonlSink.commit called before open()")
        try:
            self._out.flush()
            if self._regular:
                os.fsync(self._out.fileno())
        except OSError as exc:
            raise SinkError(f"cannot flush {self._path}: {exc}") from exc
        self._durable = position

    def durable_position(self) -> PositionJSON | None:
        return self._durable

    def close(self) -> None:
        if self._out is None:
            return
        try:
            self._out.flush()
        finally:
            if self._path != "-":
                self._out.close()
            self._out = None


def lines_of(values: pa.BinaryArray) -> memoryview:
    """The non-null values, each followed by a newline, as one buffer (computed by Arrow kernels;
    no Python object per row)."""
    values = values.filter(pc.is_valid(values))
    if len(values) == 0:
        return memoryview(b"")
    nl = pa.scalar(b"\n", pa.binary())
    lines = pc.binary_join_element_wise(values, nl, pa.scalar(b"", pa.binary()))
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return memoryview(lines.buffers()[2])[start:end]
