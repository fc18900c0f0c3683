"""The use-case scripts in examples/ run against the session's servers and print what they
promise: evicted cache keys, search results, outbox events in order, DuckDB answers over the
Parquet change files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DB = "examples"


@pytest.fixture(scope="module")
def dsn(postgres: Any) -> str:
    admin = postgres.connect()
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB)))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB)))
    admin.close()
    return str(postgres.dsn_for(postgres.user, None, DB))


def example(name: str, *args: str) -> list[str]:
    """Runs ``examples/NAME`` and returns its stdout lines (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def test_cache_invalidation_evicts_exactly_the_changed_keys(dsn: str, kafka: Any) -> None:
    out = example("cache_invalidation.py", "--dsn", dsn, "--bootstrap", kafka.bootstrap)
    assert out == [
        "cache warmed with 6 products",
        "evicted: [2, 4, 5]",
        "still cached: [1, 3, 6]",
    ]


def test_search_index_follows_inserts_updates_and_deletes(dsn: str) -> None:
    out = example("search_index.py", "--dsn", dsn)
    assert out == [
        "applied 6 changes",
        "columnar: [1]",
        "data: [1, 4]",
        "logs: [2, 4]",
        "files: []",
        "partitioned: [2]",
    ]


def test_outbox_events_arrive_in_order_and_the_outbox_stays_empty(dsn: str, kafka: Any) -> None:
    out = example("outbox.py", "--dsn", dsn, "--bootstrap", kafka.bootstrap)
    assert out == [
        "outbox rows left in the table: 0",
        "order 1: OrderCreated created",
        "order 2: OrderCreated created",
        "order 1: OrderStatusChanged paid",
        "order 1: OrderStatusChanged shipped",
    ]


def test_data_lake_queries_history_and_current_state(dsn: str, tmp_path: Path) -> None:
    out = example("data_lake.py", "--dsn", dsn, "--out", str(tmp_path / "lake"))
    assert out[0].startswith("stored 14 changes under ")
    assert out[1:5] == ["changes per operation:", "  c: 10", "  d: 2", "  u: 2"]
    assert out[5] == "current state:"
    assert out[6:] == [
        f"  {i} customer {i % 3} {i * 2.5 + (100 if i in (3, 6) else 0):.2f}" for i in range(1, 9)
    ]
