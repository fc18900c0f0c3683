"""Debezium's snapshot markers for the rows of an initial snapshot.

Debezium's ``source.snapshot`` says ``first`` for the first row of the first table a snapshot
reads, ``first_in_data_collection`` for the first row of each other table,
``last_in_data_collection`` for the last row of each table, ``last`` for the very last row of the
snapshot, ``true`` for the others. Where one row is several of these, ``last`` wins over
``first``, ``first`` over ``last_in_data_collection``, and that over ``first_in_data_collection``
(a one-row table in the middle is ``last_in_data_collection``). An empty first table leaves the
snapshot without ``first``; an empty last table puts ``last`` on the row handed on before it.

A reader knows that a batch held a table's last row, or the snapshot's, only after handing it
on. :class:`SnapshotMarks` therefore holds each table's latest batch back until the table's next
batch arrives or the reader says the table ended, and the latest batch of all until the next
batch or the end of the snapshot. It then names the marked rows by ``_seq`` in the batch's
``arrowtail.snapshot_marks`` metadata (``0:first,41:last_in_data_collection``), which the Kafka
serializers read (``rust/arrowtail-core/src/serialize/marks.rs``); naming by ``_seq`` keeps the
marker on its row when a batch is sliced or filtered later. Other items of the reader (a
snapshot position) never pass a batch handed over before them, so a position still covers only
rows handed on.

A snapshot resumed after a crash is given no first table: its first row went out before the
crash, so no row is marked ``first`` again, and a table resumed part way has no
``first_in_data_collection`` (its ``_seq`` 0 row went out then too).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from arrowtail.sources.base import TableBatch

MARKS_KEY = b"arrowtail.snapshot_marks"


@dataclass
class _Held:
    item: Any
    batch: bool
    #: Whether the batch still may hold its table's last row.
    open: bool = False
    table_last: bool = False
    snapshot_last: bool = False


class SnapshotMarks:
    """Marks the rows of one snapshot, in the order its items are given (see the module).
    ``first_table`` is the ``schema.table`` read first, None for a resumed snapshot."""

    def __init__(self, first_table: str | None) -> None:
        self._first_table = first_table
        self._held: list[_Held] = []
        #: Per table: its latest batch, while it may hold the table's last row.
        self._open: dict[str, _Held] = {}

    def batch(self, item: TableBatch) -> Iterator[Any]:
        """Takes a snapshot batch; yields what may be handed on now."""
        previous = self._open.pop(item[0], None)
        if previous is not None:
            previous.open = False
        held = _Held(item, batch=True, open=True)
        self._open[item[0]] = held
        self._held.append(held)
        yield from self._release(final=False)

    def other(self, item: Any) -> Iterator[Any]:
        """Takes an item that is no batch (a snapshot position), kept behind the batches
        before it."""
        self._held.append(_Held(item, batch=False))
        yield from self._release(final=False)

    def table_done(self, table: str) -> Iterator[Any]:
        """The reader handed on every row of ``table``."""
        held = self._open.pop(table, None)
        if held is not None:
            held.open, held.table_last = False, True
        yield from self._release(final=False)

    def finish(self) -> Iterator[Any]:
        """The snapshot ended: yields everything still held, the last row marked ``last``."""
        for held in self._open.values():
            held.open = False
        self._open.clear()
        last = next((h for h in reversed(self._held) if h.batch), None)
        if last is not None:
            last.snapshot_last = True
        yield from self._release(final=True)

    def _release(self, final: bool) -> Iterator[Any]:
        """Hands on, in order, each batch whose markers are known (overtaking batches of other
        tables still held) and each other item with nothing held before it."""
        keep: list[_Held] = []
        batches_after = sum(h.batch for h in self._held)
        for held in self._held:
            if held.batch:
                batches_after -= 1
                # The latest batch of all may hold the snapshot's last row.
                if held.open or (batches_after == 0 and not final):
                    keep.append(held)
                    continue
                yield (held.item[0], held.item[1], self._marked(held))
            elif keep:
                keep.append(held)
            else:
                yield held.item
        self._held = keep

    def _marked(self, held: _Held) -> pa.RecordBatch:
        table, _, batch = held.item
        if batch.num_rows == 0:
            return batch
        seqs = batch.column("_seq")
        first, last = seqs[0].as_py(), seqs[batch.num_rows - 1].as_py()
        marks: dict[int, str] = {}
        if first == 0:
            marks[0] = "first_in_data_collection"
        if held.table_last:
            marks[last] = "last_in_data_collection"
        if first == 0 and table == self._first_table:
            marks[0] = "first"
        if held.snapshot_last:
            marks[last] = "last"
        if not marks:
            return batch
        meta = dict(batch.schema.metadata or {})
        meta[MARKS_KEY] = ",".join(f"{seq}:{name}" for seq, name in sorted(marks.items())).encode()
        return batch.replace_schema_metadata(meta)
