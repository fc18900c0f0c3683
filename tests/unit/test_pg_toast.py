"""How TOAST re-select merges values read back into update rows (no server: the query is replaced
by the rows it would return)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from arrowtail.sources.postgres.snapshot import TableShape
from arrowtail.sources.postgres.toast import ToastReselect

SHAPE = TableShape(
    "public",
    "t",
    [("id", 23, -1, False), ("a", 25, -1, False), ("b", 25, -1, False)],
    ["id"],
    ["integer"],
)


def updates() -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "id": pa.array([1, 2, 3, 4], pa.int32()),
            "a": ["new a", None, None, None],
            "b": [None, "new b", None, None],
            "_op": ["u", "u", "u", "c"],
            "_unchanged": pa.array([["b"], ["a"], ["a", "b"], None], pa.list_(pa.string())),
        }
    )


def test_values_read_back_fill_only_unchanged_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Any] = []
    current = pa.RecordBatch.from_pydict(
        {
            "id": pa.array([1, 2], pa.int32()),
            "a": ["current a1", "current a2"],
            "b": ["current b1", "current b2"],
        }
    )

    def select(shape: TableShape, columns: list[str], keys: set[Any]) -> pa.RecordBatch:
        asked.append((columns, keys))
        return current  # row 3 is gone

    toast = ToastReselect("postgresql://unused/db")
    monkeypatch.setattr(toast, "_shape", lambda table, columns: SHAPE)
    monkeypatch.setattr(toast, "_select", select)
    [(table, _v, out)] = toast.fill([("public.t", 1, updates())])
    assert table == "public.t"
    # One query for the whole batch, for the update rows with unchanged columns only.
    assert asked == [(["a", "b"], {(1,), (2,), (3,)})]
    assert out.column("a").to_pylist() == ["new a", "current a2", None, None]
    assert out.column("b").to_pylist() == ["current b1", "new b", None, None]
    assert out.column("_unchanged").to_pylist() == [[], [], ["a", "b"], None]
    assert toast.filled == 2


def test_batches_without_unchanged_values_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    toast = ToastReselect("postgresql://unused/db")
    monkeypatch.setattr(toast, "_shape", lambda table, columns: pytest.fail("no query expected"))
    batch = updates().slice(3)  # only the insert
    assert toast.fill([("public.t", 1, batch), ("_messages", 1, batch)])[0][2] is batch
