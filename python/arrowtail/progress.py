"""Progress of snapshots and long decodes: rows, rows/s and ETA per table.

On a terminal each table gets a tqdm bar on stderr (with an ETA when the row count is estimated up
front, e.g. from ``pg_class.reltuples``). Off a terminal, or with :func:`configure` ``(False)``,
nothing is drawn: the caller logs one line per finished table from :attr:`TableProgress.rows` and
:attr:`TableProgress.seconds`, so logs stay one line per notable event.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

_enabled: bool | None = None


def configure(enabled: bool | None) -> None:
    """Forces bars on (``True``) or off (``False``); ``None`` draws them when stderr is a TTY."""
    global _enabled
    _enabled = enabled


def enabled() -> bool:
    """Whether bars are drawn now."""
    if _enabled is not None:
        return _enabled
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class TableProgress:
    """Counts the rows of one table (or file) and draws a bar when bars are enabled."""

    def __init__(self, label: str, total: int | None = None, unit: str = "rows") -> None:
        self.label = label
        self.total = total if total is not None and total > 0 else None
        self.rows = 0
        self._started = time.monotonic()
        self._ended: float | None = None
        self._bar: Any = None
        if enabled():
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total,
                desc=label,
                unit=unit,
                unit_scale=True,
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.2,
                leave=True,
            )

    def advance(self, rows: int) -> None:
        """Adds ``rows`` done."""
        self.rows += rows
        if self._bar is not None:
            if self.total is not None and self.rows > self.total:
                # Estimates (reltuples, TABLE_ROWS) can be low: grow the bar instead of overflowing.
                self._bar.total = self.rows
            self._bar.update(rows)

    @property
    def seconds(self) -> float:
        """Time since the start, or from start to :meth:`close`."""
        end = self._ended if self._ended is not None else time.monotonic()
        return end - self._started

    @property
    def rate(self) -> float:
        """Rows per second so far."""
        seconds = self.seconds
        return self.rows / seconds if seconds > 0 else 0.0

    def close(self) -> None:
        """Ends the bar (the total becomes the rows counted)."""
        if self._ended is None:
            self._ended = time.monotonic()
        if self._bar is not None:
            self._bar.total = self.rows
            self._bar.refresh()
            self._bar.close()
            self._bar = None

    def __enter__(self) -> TableProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
