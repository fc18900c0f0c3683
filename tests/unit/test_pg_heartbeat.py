"""Heartbeat messages never reach a sink: ``drop_heartbeats`` filters the ``_messages``
pseudo-table and leaves every other batch alone."""

from __future__ import annotations

import pyarrow as pa
import pytest

from arrowtail.exceptions import SourceError
from arrowtail.sources.postgres import heartbeat as pg_heartbeat
from arrowtail.sources.postgres.heartbeat import PREFIX, Heartbeat, drop_heartbeats


def messages(prefixes: list[str | None]) -> pa.RecordBatch:
    n = len(prefixes)
    return pa.record_batch(
        {
            "_op": pa.array(["m"] * n),
            "prefix": pa.array(prefixes, pa.string()),
            "content": pa.array([b"{}"] * n, pa.binary()),
            "lsn": pa.array(range(100, 100 + n), pa.uint64()),
        }
    )


def test_heartbeats_are_removed_and_other_messages_kept() -> None:
    table = pa.record_batch({"_op": ["c"], "id": [1]})
    out, dropped = drop_heartbeats(
        [
            ("public.t", 1, table),
            ("_messages", 1, messages([PREFIX, "app.event", PREFIX, None])),
        ]
    )
    assert dropped == 2
    assert [(name, b.num_rows) for name, _, b in out] == [("public.t", 1), ("_messages", 2)]
    kept = out[1][2]
    assert kept.column("prefix").to_pylist() == ["app.event", None]
    assert kept.column("lsn").to_pylist() == [101, 103]
    assert out[0][2] is table


def test_a_batch_of_only_heartbeats_disappears() -> None:
    assert drop_heartbeats([("_messages", 1, messages([PREFIX, PREFIX]))]) == ([], 2)


def test_a_table_named_like_the_prefix_column_is_untouched() -> None:
    batch = pa.record_batch({"_op": ["c"], "prefix": [PREFIX]})
    assert drop_heartbeats([("public.notes", 1, batch)]) == ([("public.notes", 1, batch)], 0)


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Heartbeat("postgresql://x@127.0.0.1/db", 0)


def test_not_due_before_the_interval_and_failures_do_not_raise(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[str] = []

    def refuse(dsn: str, **kw: object) -> None:
        attempts.append(dsn)
        raise SourceError("cannot connect to PostgreSQL: connection refused")

    monkeypatch.setattr(pg_heartbeat.pg_admin, "connect", refuse)
    hb = Heartbeat("postgresql://x@127.0.0.1:1/db", 30.0, slot="s")
    assert hb.beat_if_due(now=100.0) is False
    assert hb.beat_if_due(now=110.0) is False  # not due: no attempt
    assert len(attempts) == 1
    assert hb.beat_if_due(now=131.0) is False
    assert len(attempts) == 2
    # One warning per outage, not one per attempt.
    warnings = [r.getMessage() for r in caplog.records if "heartbeat" in r.getMessage()]
    assert len(warnings) == 1 and "slot s failed" in warnings[0], warnings
    assert hb.sent == 0
