"""What the pipeline needs from a source (PostgreSQL, MySQL/MariaDB, files)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pyarrow as pa

from arrowtail.exceptions import RESERVED_COLUMNS, ReservedColumnError, SourceError
from arrowtail.redact import scrub

#: A position as sinks, checkpoint files and Kafka offsets store it: a small JSON object
#: (docs/design.md, "Checkpoint positions"). Sinks keep it opaque; its meaning belongs to the
#: source's :class:`SourcePosition`.
PositionJSON = dict[str, Any]
#: A change batch as decoders return it: (``schema.table``, schema version, record batch).
TableBatch = tuple[str, int, pa.RecordBatch]
#: Field metadata key of the value that rows written before a column was added hold in it
#: (``ADD COLUMN ... DEFAULT``, for which the source logs no row change), as text the database
#: targets read back: a target that adds the column sets it in the rows already there.
MISSING_VALUE = "arrowtail.missing_value"
#: Field metadata key set (to ``"1"``) beside :data:`MISSING_VALUE` when the column was added at
#: a point of the stream after the position the run started from: every row a target holds
#: predates the column then, even if the run's first change of the table brings it.
ADDED_SINCE_START = "arrowtail.added_since_start"


@dataclass
class Chunk:
    """What one poll of a source returned: batches of committed transactions only, and the
    position that covers all of them (``None`` when nothing new was committed)."""

    batches: list[TableBatch] = field(default_factory=list)
    position: PositionJSON | None = None
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

    @property
    def position_type(self) -> type[SourcePosition]:
        """The class of this source's positions; the pipeline orders positions through it."""

    def open(self, start: PositionJSON | None) -> None:
        """Connects and starts streaming after ``start`` (or from the beginning / a snapshot)."""

    def poll(self, timeout: float) -> Chunk:
        """Returns what was committed within ``timeout`` seconds (possibly nothing)."""

    def acknowledge(self, position: PositionJSON) -> None:
        """Tells the source that everything up to ``position`` is stored by the sink."""

    def close(self) -> None:
        """Disconnects; acknowledges nothing beyond what :meth:`acknowledge` was given."""

    def describe(self) -> dict[str, Any]:
        """Position and lag figures for logs, metrics and ``status`` (no secrets)."""

    # Sources may also offer ``caught_up: bool`` — True once everything the log held when the
    # source opened has been read; ``idle_exit`` starts counting only then.
    # And ``schema_versions: arrowtail._core.SchemaVersions`` — the run-wide numbering their
    # decoders share; the pipeline then takes each batch's version as it comes.


P = TypeVar("P", bound="SourcePosition")


class SourcePosition:
    """Base of the typed positions of one source (PostgreSQL LSNs, binlog coordinates).

    Subclasses are frozen dataclasses that give :attr:`order`, the ``_pos`` the position covers,
    and convert from and to the stored JSON form. Positions compare by :attr:`order` only (two
    positions at one commit may differ in snapshot progress and still be equally far); equality
    stays field by field. Positions of different sources do not compare."""

    @property
    def order(self) -> int:
        raise NotImplementedError

    def to_json(self) -> PositionJSON:
        """The stored form, with exactly the keys and key order written so far."""
        raise NotImplementedError

    @classmethod
    def from_json(cls: type[P], data: PositionJSON) -> P:
        """Reads the stored form (checkpoint files, Kafka offsets, target state rows)."""
        raise NotImplementedError

    def _key(self, other: object) -> tuple[int, int] | None:
        if type(other) is not type(self):
            return None
        assert isinstance(other, SourcePosition)
        return self.order, other.order

    def __lt__(self, other: object) -> bool:
        key = self._key(other)
        return NotImplemented if key is None else key[0] < key[1]

    def __le__(self, other: object) -> bool:
        key = self._key(other)
        return NotImplemented if key is None else key[0] <= key[1]

    def __gt__(self, other: object) -> bool:
        key = self._key(other)
        return NotImplemented if key is None else key[0] > key[1]

    def __ge__(self, other: object) -> bool:
        key = self._key(other)
        return NotImplemented if key is None else key[0] >= key[1]


class ReservedNames:
    """Refuses change batches whose user columns include a metadata column's name
    (:class:`~arrowtail.exceptions.ReservedColumnError`), for the stream decoders, which make
    batches of every table they meet and leave the choice of tables to the source (a table it
    does not capture may have such a column); checked once per table and schema version."""

    def __init__(self) -> None:
        self._checked: set[tuple[str, int]] = set()

    def check(self, batches: list[TableBatch], at: str) -> list[TableBatch]:
        """``batches``, unless one has such a column (``at``: where in the input)."""
        for table, version, batch in batches:
            if (table, version) in self._checked:
                continue
            names = batch.schema.names
            if "_before" in names:
                # The metadata columns follow the user columns, and the last `_before` (a
                # struct of the user columns) is the metadata one whatever those are called.
                before = batch.schema.field(len(names) - 1 - names[::-1].index("_before"))
                clashes = [f.name for f in before.type if f.name in RESERVED_COLUMNS]
                if clashes:
                    raise ReservedColumnError.found([(table, n) for n in clashes], at)
            self._checked.add((table, version))
        return batches


def unknown_keys(data: PositionJSON, known: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """Keys a position type does not know, kept so that reading and writing a position loses
    nothing a newer or older version stored."""
    return tuple((k, v) for k, v in data.items() if k not in known)


#: Positions name the captured tables (so that a restart reads those that joined the capture
#: meanwhile) up to this many; past it, a position would weigh tens of kilobytes at every commit,
#: and none are named.
POSITION_TABLES_MAX = 1000


def too_many_to_name(count: int) -> bool:
    """Whether ``count`` captured tables are more than positions name; logs so once per call
    site's run (the caller calls it once, at open)."""
    if count <= POSITION_TABLES_MAX:
        return False
    logging.getLogger("arrowtail").info(
        "%d tables are captured, more than stored positions name (%d): a table that joins the"
        " capture, or changes so that its rows need reading again, while no run streams is not"
        " read again by itself (compare it with arrowtail verify)",
        count,
        POSITION_TABLES_MAX,
    )
    return True


def brief(position: PositionJSON) -> dict[str, Any]:
    """``position`` for a log line or a summary: a list or mapping of more than three entries
    (the tables a position names, say) shown by its length."""
    return {
        k: f"<{len(v)} entries>" if isinstance(v, list | dict) and len(v) > 3 else v
        for k, v in position.items()
    }


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
