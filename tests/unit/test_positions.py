"""Typed source positions: their order, and their JSON form staying exactly what checkpoints,
Kafka offsets and target state rows already hold (docs/design.md, "Checkpoint positions")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arrowtail.checkpoint import CheckpointFile
from arrowtail.pipeline import Pipeline
from arrowtail.sinks.database.target import position_order
from arrowtail.sources.base import Chunk
from arrowtail.sources.mysql.position import BinlogPosition, binlog_pos
from arrowtail.sources.positions import read_position
from arrowtail.sources.postgres.position import PgPosition

# Positions as the sources write them today, key order included.
PG_STREAM = {"lsn": 23_456_789, "end_lsn": 23_456_840, "last_commit_lsn": 23_456_840}
# Idle: the WAL end of a keepalive, after the commit ending at 23_456_840.
PG_IDLE = {"lsn": 23_460_000, "end_lsn": 23_460_000, "last_commit_lsn": 23_456_840}
# As stored before ``last_commit_lsn`` existed.
PG_STREAM_BEFORE = {"lsn": 23_456_789, "end_lsn": 23_456_840}
PG_IDLE_BEFORE = {"lsn": 23_460_000, "end_lsn": 23_460_000}
PG_SNAPSHOT = {"lsn": 5000, "end_lsn": 5000, "snapshot": True}
PG_INCREMENTAL = {
    "lsn": 7000,
    "end_lsn": 7048,
    "incremental": [{"id": "r1", "tables": ["public.t"], "last": [41]}],
}
PG_CAPTURE_FILE = {"lsn": 9000}
# The tables the target holds whole, from which a restart tells the ones that joined meanwhile.
PG_PUBLISHED = {
    **PG_INCREMENTAL,
    "published": {"public.a": "16390:0c4d1a2b", "sales.orders": "0:9f8e7d6c"},
}
MY_STREAM = {
    "pos": (3 << 32) | 1234,
    "file": "mariadb-bin.000003",
    "offset": 1234,
    "gtid": "0-1-17",
    "schemas": [["db", "t", {"columns": ["id", "v"]}]],
    "commit_ts": 1764650000.25,
}
MY_SNAPSHOT = {
    "pos": (2 << 32) | 328,
    "file": "mysql-bin.000002",
    "offset": 328,
    "gtid": "",
    "snapshot": True,
    "schemas": [],
}
MY_BINLOG_FILE = {"pos": (1 << 32) | 4000, "file": "mysql-bin.000001", "offset": 4000}
# The tables the target holds, from which a restart tells the ones that joined meanwhile.
MY_TABLES = {**MY_STREAM, "tables": ["db.t", "db.u"]}


@pytest.mark.parametrize(
    "data",
    [
        PG_STREAM,
        PG_IDLE,
        PG_STREAM_BEFORE,
        PG_IDLE_BEFORE,
        PG_SNAPSHOT,
        PG_INCREMENTAL,
        PG_CAPTURE_FILE,
        PG_PUBLISHED,
    ],
)
def test_postgres_json_round_trip_is_byte_identical(data: dict[str, Any]) -> None:
    out = PgPosition.from_json(data).to_json()
    assert json.dumps(out) == json.dumps(data)


@pytest.mark.parametrize("data", [MY_STREAM, MY_SNAPSHOT, MY_BINLOG_FILE, MY_TABLES])
def test_binlog_json_round_trip_is_byte_identical(data: dict[str, Any]) -> None:
    out = BinlogPosition.from_json(data).to_json()
    assert json.dumps(out) == json.dumps(data)


def test_fields_are_read_from_the_stored_form() -> None:
    pg = PgPosition.from_json(PG_STREAM)
    assert (pg.lsn, pg.end_lsn, pg.resume_lsn, pg.snapshot) == (
        23_456_789,
        23_456_840,
        23_456_840,
        False,
    )
    assert PgPosition.from_json(PG_CAPTURE_FILE).resume_lsn == 9000
    assert PgPosition.from_json(PG_SNAPSHOT).snapshot is True
    my = BinlogPosition.from_json(MY_STREAM)
    assert (my.file, my.offset, my.gtid, my.commit_ts) == (
        "mariadb-bin.000003",
        1234,
        "0-1-17",
        1764650000.25,
    )
    assert BinlogPosition.from_json(MY_BINLOG_FILE).gtid is None


def test_the_commit_before_the_resume_point() -> None:
    # Stored with the key: it, also for an idle position.
    assert PgPosition.from_json(PG_STREAM).commit_before_resume == 23_456_840
    assert PgPosition.from_json(PG_IDLE).commit_before_resume == 23_456_840
    # Stored before it: a commit position's own end, unknown for an idle position.
    assert PgPosition.from_json(PG_STREAM_BEFORE).commit_before_resume == 23_456_840
    assert PgPosition.from_json(PG_IDLE_BEFORE).commit_before_resume is None
    # No commit known after a snapshot or in a capture file's position.
    assert PgPosition.from_json(PG_SNAPSHOT).commit_before_resume is None
    assert PgPosition.from_json(PG_CAPTURE_FILE).commit_before_resume is None


def test_the_last_commit_changes_neither_order_nor_stored_order() -> None:
    idle = PgPosition.from_json(PG_IDLE)
    before = PgPosition.from_json(PG_IDLE_BEFORE)
    assert idle.resume_lsn == before.resume_lsn == 23_460_000
    assert idle <= before and before <= idle and not idle < before
    assert PgPosition.from_json(PG_STREAM) < idle
    assert position_order(PG_IDLE) == position_order(PG_IDLE_BEFORE) == 23_460_000
    assert position_order(PG_STREAM) == position_order(PG_STREAM_BEFORE) == 23_456_789


def test_positions_built_by_the_sources_have_todays_form() -> None:
    assert PgPosition(10, 20).to_json() == {"lsn": 10, "end_lsn": 20}
    assert list(PgPosition(30, 30, 20).to_json()) == ["lsn", "end_lsn", "last_commit_lsn"]
    assert list(PgPosition(10, 10, snapshot=True).to_json()) == ["lsn", "end_lsn", "snapshot"]
    assert BinlogPosition.at("mysql-bin.000042", 120, gtid="").to_json() == {
        "pos": (42 << 32) | 120,
        "file": "mysql-bin.000042",
        "offset": 120,
        "gtid": "",
    }
    assert binlog_pos("binlog", 77) == 77  # no numeric suffix: file number 0


def test_keys_a_type_does_not_know_are_kept() -> None:
    data = {"lsn": 1, "end_lsn": 2, "written_by": "a later version"}
    assert PgPosition.from_json(data).to_json() == data
    data = {"pos": 5, "file": "b.000001", "offset": 5, "note": [1, 2]}
    assert BinlogPosition.from_json(data).to_json() == data


def test_postgres_positions_order_by_commit_lsn() -> None:
    low = PgPosition(100, 180)
    high = PgPosition(150, 160)  # later commit, although its record ends earlier
    assert low < high and high > low and low <= high and not high <= low
    # Same commit, different snapshot progress: equally far, yet not equal.
    a = PgPosition(100, 180)
    b = PgPosition(100, 180, incremental=[{"id": "r"}])
    assert a <= b and b <= a and not a < b and a != b
    assert sorted([high, low]) == [low, high]


def test_binlog_positions_order_across_files() -> None:
    end_of_first = BinlogPosition.at("mysql-bin.000001", 900_000)
    start_of_second = BinlogPosition.at("mysql-bin.000002", 4)
    assert end_of_first < start_of_second
    assert max(start_of_second, end_of_first) is start_of_second


def test_positions_of_different_sources_do_not_compare() -> None:
    with pytest.raises(TypeError):
        _ = PgPosition(1) < BinlogPosition(2)


def test_a_stored_position_names_its_type() -> None:
    assert read_position(PG_STREAM) == PgPosition(23_456_789, 23_456_840, 23_456_840)
    assert read_position(PG_STREAM_BEFORE) == PgPosition(23_456_789, 23_456_840)
    assert isinstance(read_position(MY_STREAM), BinlogPosition)
    with pytest.raises(ValueError):
        read_position({"offset": 4})
    assert position_order(MY_SNAPSHOT) == (2 << 32) | 328
    assert position_order({"pos": 10, "file": "mariadb-bin.000001"}) == 10
    assert position_order({"offset": 4}) is None


def test_a_checkpoint_file_written_before_typed_positions_loads(tmp_path: Path) -> None:
    # Exactly as CheckpointFile.save wrote it (sorted keys) for a MariaDB source.
    path = tmp_path / "old.json"
    path.write_text(
        '{"position": {"commit_ts": 1764650000.25, "file": "mariadb-bin.000003", '
        '"gtid": "0-1-17", "offset": 1234, "pos": 12884903122}}'
    )
    loaded = CheckpointFile(path).load()
    assert loaded is not None
    position = BinlogPosition.from_json(loaded)
    assert (position.pos, position.file, position.offset) == (
        (3 << 32) | 1234,
        "mariadb-bin.000003",
        1234,
    )
    # Saved again, the file is byte for byte what it was.
    before = path.read_bytes()
    CheckpointFile(path).save(position.to_json())
    assert path.read_bytes() == before


class _Source:
    kind = "postgres"
    position_type = PgPosition

    def __init__(self, chunks: list[Chunk]) -> None:
        self.chunks = chunks
        self.acks: list[dict[str, Any]] = []

    def open(self, start: dict[str, Any] | None) -> None:
        pass

    def poll(self, timeout: float) -> Chunk:
        return self.chunks.pop(0) if self.chunks else Chunk(exhausted=True)

    def acknowledge(self, position: dict[str, Any]) -> None:
        self.acks.append(position)

    def close(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {}


class _StaleSink:
    """Reports a durable position older than the one the pipeline acknowledged already."""

    def __init__(self) -> None:
        self.durable: dict[str, Any] | None = None
        self.commits = 0

    def open(self) -> None:
        return None

    def write(self, table: str, version: int, batch: Any) -> None:
        pass

    def commit(self, position: dict[str, Any]) -> None:
        self.commits += 1
        # The second commit is reported durable, then the first again (an older one).
        if self.commits == 2:
            self.durable = position
        elif self.commits == 3:
            self.durable = {"lsn": 10, "end_lsn": 900}

    def durable_position(self) -> dict[str, Any] | None:
        return self.durable

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_pipeline_orders_by_the_sources_typed_position() -> None:
    # The older position ends later (end_lsn 900): ordering by commit LSN, not by its
    # record end or key names, is what keeps the acknowledgement from going back.
    source = _Source(
        [
            Chunk([], {"lsn": 10, "end_lsn": 900}),
            Chunk([], {"lsn": 20, "end_lsn": 30}),
            Chunk([], {"lsn": 25, "end_lsn": 35}),
        ]
    )
    Pipeline(source, _StaleSink()).run()  # type: ignore[arg-type]
    assert source.acks == [{"lsn": 20, "end_lsn": 30}]


def test_logs_show_long_lists_in_a_position_by_their_length() -> None:
    from arrowtail.sources.base import brief

    tables = {f"s.t{i}": "16400:aaaa1111:" for i in range(4)}
    assert brief({**PG_STREAM, "published": tables}) == {**PG_STREAM, "published": "<4 entries>"}
    assert brief({**MY_STREAM, "tables": ["d.a", "d.b", "d.c", "d.e"]})["tables"] == "<4 entries>"
    # Three or fewer are shown as they are.
    assert brief(PG_PUBLISHED) == PG_PUBLISHED


def test_positions_name_the_captured_tables_up_to_a_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Past the bound a position would weigh tens of kilobytes at every commit: the run says
    once that restarts then do not read joined tables by themselves."""
    from arrowtail.sources.base import POSITION_TABLES_MAX, too_many_to_name

    with caplog.at_level("INFO", logger="arrowtail"):
        assert not too_many_to_name(POSITION_TABLES_MAX)
        assert caplog.text == ""
        assert too_many_to_name(POSITION_TABLES_MAX + 1)
    assert f"{POSITION_TABLES_MAX + 1} tables are captured" in caplog.text
