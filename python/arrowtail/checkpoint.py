"""Checkpoints: the last source position whose changes the sink stored, kept in a small JSON file.

Writes are atomic (temporary file, fsync, rename, fsync of the directory), so a crash leaves either
the old checkpoint or the new one, never a torn file. Sinks that keep their own checkpoint (the
Parquet manifest) make this file unnecessary.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from arrowtail.exceptions import ConfigError
from arrowtail.sources.base import PositionJSON


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replaces ``path`` with ``data``; readers see the old or the new content, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed write leaves no temporary behind
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Makes a rename inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CheckpointFile:
    """A checkpoint kept in one JSON file: ``{"position": {...}, "source": "..."}``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> PositionJSON | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw)
            position = doc["position"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"checkpoint file {self.path} is not a valid arrowtail checkpoint ({exc}); "
                "move it away to start from scratch"
            ) from exc
        if position is not None and not isinstance(position, dict):
            raise ConfigError(f"checkpoint file {self.path} holds no position object")
        return position

    def save(self, position: PositionJSON, **extra: Any) -> None:
        doc = {"position": position, **extra}
        atomic_write_bytes(self.path, json.dumps(doc, sort_keys=True).encode())


class CheckpointWriter:
    """Saves positions to a :class:`CheckpointFile` on a thread of its own, so that the pipeline
    goes on reading while a save waits for the disk (an fsync takes milliseconds, tens of them on
    a busy disk, and a loop that waits for each one adds that to the latency of every change
    behind it).

    Newest wins: a position handed in while a save runs replaces any other still waiting, so the
    file never falls behind by more than one save. :meth:`saved` returns each position once after
    it is on disk, and only then may the source be told (the order the pipeline keeps: sink,
    checkpoint, source). A save that fails is raised by the next call on the pipeline's thread.

    ``interval``: at least this many seconds from the start of one save to the start of the next.
    A checkpoint saved after every delivered transaction (two fsyncs each) competes for the disk
    with the database's own commits on a shared machine; spacing the saves costs only the changes
    a crash would send again, at most ``interval`` seconds of them. :meth:`drain` and
    :meth:`close` do not wait for it.
    """

    def __init__(self, checkpoint: CheckpointFile, interval: float = 0.0) -> None:
        self.checkpoint = checkpoint
        self.interval = interval
        self._hurry = False
        self._cond = threading.Condition()
        self._wanted: PositionJSON | None = None
        self._saved: PositionJSON | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._busy = False
        self._thread = threading.Thread(target=self._loop, name="arrowtail-checkpoint", daemon=True)
        self._thread.start()

    def submit(self, position: PositionJSON) -> None:
        """Asks for ``position`` to be saved (replacing any position not yet being saved)."""
        with self._cond:
            self._raise()
            self._wanted = position
            self._cond.notify_all()

    def saved(self) -> PositionJSON | None:
        """The newest position saved since the last call, or None."""
        with self._cond:
            self._raise()
            saved, self._saved = self._saved, None
            return saved

    def drain(self) -> PositionJSON | None:
        """Waits until every submitted position is saved; returns the newest not yet returned."""
        with self._cond:
            self._hurry = True
            self._cond.notify_all()
            while (self._wanted is not None or self._busy) and self._error is None:
                self._cond.wait()
            self._hurry = False
        return self.saved()

    def close(self) -> None:
        """Stops the thread after the save in progress (positions still waiting are dropped:
        call :meth:`drain` first to keep them)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        started = -math.inf
        while True:
            with self._cond:
                while self._wanted is None and not self._closed:
                    self._cond.wait()
                # Spaces the saves; a drain or a close ends the wait.
                while not (self._closed or self._hurry):
                    left = started + self.interval - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if self._closed or self._wanted is None:
                    return
                position, self._wanted = self._wanted, None
                self._busy = True
            started = time.monotonic()
            try:
                self.checkpoint.save(position)
            except BaseException as exc:  # handed to the pipeline's thread
                with self._cond:
                    self._error = exc
                    self._busy = False
                    self._cond.notify_all()
                return
            with self._cond:
                self._saved = position
                self._busy = False
                self._cond.notify_all()
