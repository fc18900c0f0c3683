"""What the pipeline needs from a source (PostgreSQL, MySQL/MariaDB, files)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from arrowtail.exceptions import SourceError
from arrowtail.redact import scrub

Position = dict[str, Any]
#: A change batch as decoders return it: (``schema.table``, schema version, record batch).
TableBatch = tuple[str, int, pa.RecordBatch]


@dataclass
class Chunk:
    """What one poll of a source returned: batches of committed transactions only, and the
    position that covers all of them (``None`` when nothing new was committed)."""

    batches: list[TableBatch] = field(default_factory=list)
    position: Position | None = None
    #: True when the source is finished (file input consumed); live sources never set it.
    exhausted: bool = False
    #: True when change data arrived but no transaction completed yet (a large transaction is
    #: being received): the source is not idle, although it returned no batches.
    busy: bool = False

    @property
    def rows(self) -> int:
        return sum(b.num_rows for _, _, b in self.batches)


class Source(Protocol):
    """A stream of committed changes, in commit order."""

    #: ``postgres`` or ``mysql`` (or ``file``), for logs and metrics.
    kind: str

    def open(self, start: Position | None) -> None:
        """Connects and starts streaming after ``start`` (or from the beginning / a snapshot)."""

    def poll(self, timeout: float) -> Chunk:
        """Returns what was committed within ``timeout`` seconds (possibly nothing)."""

    def acknowledge(self, position: Position) -> None:
        """Tells the source that everything up to ``position`` is stored by the sink."""

    def close(self) -> None:
        """Disconnects; acknowledges nothing beyond what :meth:`acknowledge` was given."""

    def describe(self) -> dict[str, Any]:
        """Position and lag figures for logs, metrics and ``status`` (no secrets)."""

    # Sources may also offer ``caught_up: bool`` — True once everything the log held when the
    # source opened has been read; ``idle_exit`` starts counting only then.
    # And ``schema_versions: arrowtail._core.SchemaVersions`` — the run-wide numbering their
    # decoders share; the pipeline then takes each batch's version as it comes.


def position_key(position: Position) -> tuple[int, ...]:
    """An ordering key for positions of one source: PostgreSQL ``lsn``, MySQL ``pos``
    (``(file number << 32) | offset``); anything else has no order."""
    if "lsn" in position:
        return (int(position["lsn"]),)
    if "pos" in position:
        return (int(position["pos"]),)
    raise ValueError(f"position without an order: {sorted(position)}")


def retry_with_backoff(
    attempt: Callable[[], None],
    *,
    what: str,
    timeout: float,
    retry_on: tuple[type[BaseException], ...],
    give_up: Callable[[BaseException], bool] = lambda exc: False,
) -> None:
    """Calls ``attempt`` until it returns, waiting 0.2 s, 0.4 s, ... (at most 5 s) between tries,
    for at most ``timeout`` seconds; then raises :class:`SourceError` saying ``what`` stayed
    unreachable. Errors for which ``give_up`` is true are raised at once (retrying cannot help)."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            attempt()
            return
        except retry_on as exc:
            if give_up(exc):
                raise
            if time.monotonic() + delay > deadline:
                raise SourceError(
                    f"{what} unreachable for {timeout:g}s: {scrub(str(exc)).strip()}"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
