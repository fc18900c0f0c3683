"""The checkpoint thread: saves spaced by an interval, and a drain or a close that never waits
for it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from arrowtail.checkpoint import CheckpointFile, CheckpointWriter


def _on_disk(path: Path) -> dict[str, int]:
    return json.loads(path.read_text())["position"]


def _wait_saved(writer: CheckpointWriter) -> dict[str, int]:
    deadline = time.monotonic() + 30
    while (saved := writer.saved()) is None:
        assert time.monotonic() < deadline, "the first save never happened"
        time.sleep(0.01)  # polling the writer's thread, with a deadline
    return saved


def test_saves_inside_the_interval_wait_and_a_drain_saves_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    writer = CheckpointWriter(CheckpointFile(path), interval=3600)
    try:
        writer.submit({"n": 1})
        assert _wait_saved(writer) == {"n": 1}
        writer.submit({"n": 2})
        writer.submit({"n": 3})
        # An hour must pass before the next save: the file still holds the first position,
        # and nothing new is reported as saved (so the source is told nothing newer).
        assert _on_disk(path) == {"n": 1}
        assert writer.saved() is None
        # A drain does not wait out the interval; it saves the newest position submitted.
        assert writer.drain() == {"n": 3}
        assert _on_disk(path) == {"n": 3}
    finally:
        writer.close()


def test_close_ends_the_interval_wait_and_drops_what_was_not_drained(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    writer = CheckpointWriter(CheckpointFile(path), interval=3600)
    writer.submit({"n": 1})
    assert _wait_saved(writer) == {"n": 1}
    writer.submit({"n": 2})
    writer.close()  # returns although the interval has not passed
    assert _on_disk(path) == {"n": 1}


def test_no_interval_saves_every_position(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    writer = CheckpointWriter(CheckpointFile(path))
    try:
        for n in range(1, 4):
            writer.submit({"n": n})
            assert writer.drain() == {"n": n}
            assert _on_disk(path) == {"n": n}
    finally:
        writer.close()
