"""The last error of a run, kept beside its checkpoint so that ``arrowtail status`` can report it:
``<checkpoint>.error.json`` for ``--checkpoint PATH``, ``<DIR>/_arrowtail/last_error.json`` for
a Parquet sink. One small JSON document ``{"time": ISO-8601 UTC, "error": message}``, written
atomically, with secrets masked."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from arrowtail.checkpoint import atomic_write_bytes
from arrowtail.redact import scrub


def error_file(sink_url: str | None, checkpoint: str | None) -> Path | None:
    """Where a run with this sink and checkpoint keeps its last error (None: nowhere)."""
    if checkpoint:
        path = Path(checkpoint)
        return path.with_name(path.name + ".error.json")
    if sink_url and sink_url.startswith("parquet:"):
        directory = sink_url[len("parquet:") :].partition("?")[0]
        if directory:
            return Path(directory) / "_arrowtail" / "last_error.json"
    return None


def record(path: Path | None, message: str) -> None:
    """Stores ``message`` as the last error; failing to store it never hides the error itself."""
    if path is None:
        return
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    try:
        atomic_write_bytes(path, json.dumps({"time": now, "error": scrub(message)}).encode())
    except OSError:
        pass


def load(path: Path | None) -> dict[str, Any] | None:
    """The stored last error, or None."""
    if path is None:
        return None
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
