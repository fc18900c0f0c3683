"""The last error of a run, kept beside its checkpoint so that ``arrowtail status`` can report it:
``<checkpoint>.error.json`` for ``--checkpoint PATH``, ``<DIR>/_arrowtail/last_error.json`` for
a Parquet sink. One small JSON document ``{"time": ISO-8601 UTC, "error": message}``, written
atomically, with secrets masked; removed again by the next run that succeeds."""

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
    finally:
        _remove_temporaries(path)


def clear(path: Path | None) -> None:
    """Forgets the last error (a run succeeded): ``status`` no longer reports it."""
    if path is None:
        return
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
    _remove_temporaries(path)


def _remove_temporaries(path: Path) -> None:
    """Removes temporary files of ``path`` a write left behind (one that failed half way, or
    a process killed while writing): ``.<name>.tmp-<pid>`` beside it."""
    prefix = f".{path.name}.tmp-"
    try:
        leftovers = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for p in leftovers:
        if p.name[len(prefix) :].isdigit():
            try:
                p.unlink(missing_ok=True)
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
