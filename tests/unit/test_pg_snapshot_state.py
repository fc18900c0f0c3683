"""The stored state of an initial snapshot read in pieces: finished key ranges join where they
meet, page ranges merge and their gaps are what a resumed run reads, and the state survives its
JSON form unchanged."""

from __future__ import annotations

import json

import pytest

from arrowtail import cli, config
from arrowtail.exceptions import ConfigError
from arrowtail.runner import _brief_position
from arrowtail.sources.postgres.parallel import (
    DEFAULT_WORKERS,
    Piece,
    SnapshotState,
    _merge_keys,
    _merge_pages,
    page_gaps,
)
from arrowtail.sources.postgres.position import PgPosition
from arrowtail.sources.postgres.snapshot import TableShape

KEYED = TableShape("public", "t", [("id", 23, -1, False)], ["id"], ["integer"])
HEAP = TableShape("public", "h", [("n", 23, -1, False)], [], [])


def test_key_ranges_join_where_they_meet_in_any_order() -> None:
    ranges = _merge_keys([], ["10"], ["20"])
    ranges = _merge_keys([(a, b) for a, b in ranges], None, ["10"])
    assert ranges == [[None, ["20"]]]
    ranges = _merge_keys([(a, b) for a, b in ranges], ["30"], None)
    assert ranges == [[None, ["20"]], [["30"], None]]
    # The piece between them closes the gap: one range covering every key.
    ranges = _merge_keys([(a, b) for a, b in ranges], ["20"], ["30"])
    assert ranges == [[None, None]]


def test_page_ranges_merge_and_gaps_are_the_rest() -> None:
    ranges = _merge_pages([], 10, 20)
    ranges = _merge_pages([(a, b) for a, b in ranges], 0, 5)
    ranges = _merge_pages([(a, b) for a, b in ranges], 5, 10)
    assert ranges == [[0, 20]]
    ranges = _merge_pages([(a, b) for a, b in ranges], 40, None)
    assert ranges == [[0, 20], [40, None]]
    assert page_gaps([(0, 20), (40, None)]) == [(20, 40)]
    assert page_gaps([(5, 8)]) == [(0, 5), (8, None)]
    assert page_gaps([]) == [(0, None)]
    assert page_gaps([(0, None)]) == []


def test_state_records_pieces_then_the_table_and_round_trips() -> None:
    state = SnapshotState()
    state.finish_piece(Piece(KEYED, after=None, upto=["100"]), 100)
    state.finish_piece(Piece(HEAP, pages=(0, 8)), 700)
    data = json.loads(json.dumps(state.to_json()))
    again = SnapshotState(data)
    assert again.key_ranges("public.t") == [(None, ["100"])]
    assert again.page_ranges("public.h") == [(0, 8)]
    assert again.seq("public.t") == 100 and again.seq("public.h") == 700
    assert not again.done("public.t") and not again.done("public.x")
    again.finish_table("public.t")
    assert again.done("public.t") and again.seq("public.t") == 0
    # The state the pieces were recorded in is not changed by a copy's later changes.
    assert not state.done("public.t")


def test_position_carries_the_snapshot_state() -> None:
    state = {"tables": {"public.t": {"keys": [[None, ["5"]]], "seq": 5}}}
    position = PgPosition(100, 100, snapshot_progress=state)
    stored = json.loads(json.dumps(position.to_json()))
    assert stored == {"lsn": 100, "end_lsn": 100, "snapshot_progress": state}
    assert PgPosition.from_json(stored) == position
    assert PgPosition.from_json({"lsn": 1}).snapshot_progress is None


def test_snapshot_workers_come_from_configuration_and_must_be_positive() -> None:
    base = {"source": {"url": "postgresql://u@h/db"}, "sink": {"url": "jsonl:-"}}
    assert config.load(overrides=base, environ={}).source.snapshot_workers == DEFAULT_WORKERS
    cfg = config.load(overrides=base, environ={"ARROWTAIL_SOURCE_SNAPSHOT_WORKERS": "4"})
    assert cfg.source.snapshot_workers == 4
    with pytest.raises(ConfigError, match="snapshot_workers"):
        config.load(overrides=base, environ={"ARROWTAIL_SOURCE_SNAPSHOT_WORKERS": "0"})
    args = cli.build_parser().parse_args(
        ["run", "--source", "postgresql://u@h/db", "--to", "jsonl:-", "--snapshot-workers", "3"]
    )
    assert cli._overrides(args)["source"]["snapshot_workers"] == 3


def test_status_sums_up_the_snapshot_progress() -> None:
    position = {
        "lsn": 7,
        "end_lsn": 7,
        "snapshot_progress": {
            "tables": {
                "public.a": {"done": True},
                "public.b": {"keys": [[None, ["9"]]], "seq": 9},
                "public.c": {"done": True},
            }
        },
    }
    assert _brief_position(position) == {
        "lsn": 7,
        "end_lsn": 7,
        "snapshot_tables_done": 2,
        "snapshot_tables_started": 1,
    }
