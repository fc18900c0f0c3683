"""Checkpoints: the last source position whose changes the sink stored, kept in a small JSON file.

Writes are atomic (temporary file, fsync, rename, fsync of the directory), so a crash leaves either
the old checkpoint or the new one, never a torn file. Sinks that keep their own checkpoint (the
Parquet manifest) make this file unnecessary.
"""

from __future__ import annotations

import json
import os
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
