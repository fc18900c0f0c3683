"""Prepared XA transactions of the MySQL/MariaDB source.

The server writes an XA transaction's rows to the binlog at ``XA PREPARE`` and its ``XA COMMIT``
or ``XA ROLLBACK`` later, as a transaction of its own. The binlog decoder parks prepared rows
until then; this module keeps what the source needs meanwhile:

- the *floor* of each parked transaction: a position from before its prepare. Every position the
  source emits while transactions are parked carries the lowest floor under ``"xa"``; a restart
  dumps from there and drops again what the checkpoint covers (``set_skip_through``), so parked
  rows are never lost to a checkpoint past their prepare;
- the rows of a parked transaction that had gone to disk (:class:`~arrowtail.spill.Spill`) before
  its prepare, handed on at its commit in commit order among the rows around them.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from arrowtail.sources.base import PositionJSON, TableBatch
from arrowtail.spill import Spill

log = logging.getLogger("arrowtail.mysql")

#: What a floor keeps of a position: where to dump from, and the schema history there.
_FLOOR_KEYS = ("pos", "file", "offset", "gtid", "schemas")


def floor_of(position: PositionJSON) -> PositionJSON:
    """The part of ``position`` a restart dumps from."""
    return {k: position[k] for k in _FLOOR_KEYS if k in position}


class ParkedXa:
    """Floors and spilled rows of the XA transactions the current decoder holds prepared."""

    def __init__(self) -> None:
        #: Parked transaction id -> floor.
        self.floors: dict[int, PositionJSON] = {}
        #: Parked transaction id -> its rows on disk.
        self.spills: dict[int, Spill] = {}

    def floor(self) -> PositionJSON | None:
        """The lowest floor of the transactions parked now."""
        if not self.floors:
            return None
        return min(self.floors.values(), key=lambda f: int(f["pos"]))

    def follow(
        self,
        events: list[tuple],
        here: PositionJSON,
        started: PositionJSON,
        open_spill: Callable[[], Spill],
        parked_rows: Callable[[int], list[TableBatch]],
        annotate: Callable[[Iterator[TableBatch]], Iterator[TableBatch]],
    ) -> list[tuple[int, Iterator[TableBatch]]]:
        """Applies the decoder's XA events of one poll. ``here``: the last position emitted
        before the poll (the floor of a transaction prepared in it); ``started``: where the dump
        started (the floor of a transaction prepared before the position skipped through);
        ``open_spill``: takes the source's spill of the open transaction (rows taken before a
        prepare) and gives it a new one; ``parked_rows``: the decoder's remaining rows of a
        parked transaction. Returns the spilled transactions that committed, as
        ``(pos, rows)``."""
        drains: list[tuple[int, Iterator[TableBatch]]] = []
        for event in events:
            kind, ident, taken = event[0], int(event[1]), bool(event[2])
            if kind == "prepared":
                replayed, xid = bool(event[3]), str(event[4])
                self.floors[ident] = floor_of(started if replayed else here)
                if not taken:
                    log.debug("XA transaction %s prepared: its rows wait for its outcome", xid)
                else:
                    log.info(
                        "XA transaction %s prepared: its rows wait on disk for its outcome", xid
                    )
                    spill = open_spill()
                    spill.add(parked_rows(ident))
                    self.spills[ident] = spill
                continue
            self.floors.pop(ident, None)
            spill_or_none = self.spills.pop(ident, None)
            if spill_or_none is None:
                continue
            if kind == "committed":
                pos, commit_ts_us = int(event[3]), int(event[4])
                drains.append((pos, annotate(spill_or_none.drain(pos, commit_ts_us, None))))
            else:
                spill_or_none.discard()
        return drains

    def discard(self) -> None:
        """Forgets every parked transaction (a new decoder reads them again)."""
        for spill in self.spills.values():
            spill.discard()
        self.spills.clear()
        self.floors.clear()


def interleave(
    drains: list[tuple[int, Iterator[TableBatch]]], batches: list[TableBatch]
) -> tuple[Iterator[TableBatch], list[TableBatch]]:
    """Rows from disk that committed at their ``pos`` placed among ``batches`` by ``_pos``:
    the rows to hand on first (the batches' rows before each, then its rows), and the batches'
    rows from the last of them on."""
    parts: list[Iterator[TableBatch]] = []
    rest = batches
    for pos, rows in sorted(drains, key=lambda d: d[0]):
        before, rest = split_at(rest, pos)
        parts += [iter(before), rows]
    return itertools.chain(*parts), rest


def split_at(batches: list[TableBatch], pos: int) -> tuple[list[TableBatch], list[TableBatch]]:
    """The rows of ``batches`` with ``_pos`` below ``pos``, and the rest (each in order)."""
    before: list[TableBatch] = []
    after: list[TableBatch] = []
    bound = pa.scalar(pos, pa.uint64())
    for table, version, batch in batches:
        if "_pos" not in batch.schema.names or batch.num_rows == 0:
            after.append((table, version, batch))
            continue
        mask = pc.less(batch.column("_pos"), bound)
        below = int(pc.sum(mask).as_py() or 0)
        if below == batch.num_rows:
            before.append((table, version, batch))
        elif below == 0:
            after.append((table, version, batch))
        else:
            before.append((table, version, batch.filter(mask)))
            after.append((table, version, batch.filter(pc.invert(mask))))
    return before, after
