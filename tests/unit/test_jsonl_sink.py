"""The JSON lines sink: one Debezium JSON object per change, no tombstones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arrowtail.exceptions import ConfigError, SinkError
from arrowtail.sinks.base import Sink
from arrowtail.sinks.jsonl import JsonlSink, lines_of
from tests.support.batches import SIMPLE_COLUMNS, change_batch, simple_rows


def test_one_line_per_change_and_commit_makes_it_durable(tmp_path: Path) -> None:
    out = tmp_path / "changes.jsonl"
    sink = JsonlSink(str(out), topic_prefix="demo", database="db")
    assert isinstance(sink, Sink)
    assert sink.open() is None
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 2, pos=5)))
    deletes = [{"id": 1, "name": "n1", "_op": "d", "_pos": 6}]
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, deletes))
    assert sink.durable_position() is None
    sink.commit({"lsn": 6})
    assert sink.durable_position() == {"lsn": 6}
    sink.close()
    lines = out.read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [(e["op"], (e["after"] or e["before"])["id"]) for e in events] == [
        ("c", 1),
        ("c", 2),
        ("d", 1),
    ]
    assert events[0]["source"]["name"] == "demo" and events[0]["source"]["db"] == "db"


def test_stdout(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    sink = JsonlSink("-")
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 1, pos=5)))
    sink.commit({"lsn": 5})
    sink.close()
    out = capfdbinary.readouterr().out
    assert json.loads(out)["after"] == {"id": 1, "name": "n1"}


def test_lines_of_skips_nulls_and_handles_slices() -> None:
    import pyarrow as pa

    values = pa.array([b"a", None, b"bc", b"d"], pa.binary()).slice(1)
    assert bytes(lines_of(values)) == b"bc\nd\n"
    assert bytes(lines_of(pa.array([None], pa.binary()))) == b""


def test_unwritable_path_is_a_sink_error(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="cannot open"):
        JsonlSink(str(tmp_path / "missing" / "x.jsonl")).open()


def test_bad_serializer_options_are_refused_before_the_file_is_opened(tmp_path: Path) -> None:
    out = tmp_path / "never.jsonl"
    with pytest.raises(ConfigError, match="decimals must be"):
        JsonlSink(str(out), decimals="float")
    with pytest.raises(ConfigError, match="unavailable must be"):
        JsonlSink(str(out), unavailable="drop")
    assert not out.exists()
