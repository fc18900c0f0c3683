"""TOAST re-select on a real PostgreSQL: a large incompressible value stored out of line (``SET
STORAGE EXTERNAL``) is left out of updates that change another column; with ``toast_reselect`` the
source reads it back by primary key and the update row carries it, without it the column stays in
``_unchanged``. A row deleted before the run keeps the column in ``_unchanged``, and the value read
is the current one (newer than the change when a later update changed it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from arrowtail.pipeline import Pipeline
from arrowtail.sinks.parquet import ParquetSink
from arrowtail.sources.postgres.source import PostgresSource
from tests.support.pg_run import create_database
from tests.support.replay import parquet_changes

DB = "toast_pg"
PUB = "toast_pub"
# About 6.4 kB of hex digits: well past the 2 kB TOAST threshold, and stored uncompressed anyway.
SCHEMA = """
CREATE TABLE docs (id int PRIMARY KEY, title text, body text);
CREATE TABLE blobs (id uuid PRIMARY KEY, n int, body text);
ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE blobs ALTER COLUMN body SET STORAGE EXTERNAL;
"""
BIG = "(SELECT string_agg(md5(random()::text || g::text), '') FROM generate_series(1, 200) g)"


@pytest.fixture(scope="module")
def database(postgres: Any) -> Iterator[str]:
    create_database(postgres, DB, SCHEMA, publication=PUB)
    yield DB


def stream(postgres: Any, out: Path, slot: str, reselect: bool) -> list[dict[str, Any]]:
    """Runs the source over the slot until idle; the stored update rows of both tables."""
    source = PostgresSource(
        postgres.dsn_for(postgres.app_user, postgres.app_password, DB),
        slot=slot,
        publication=PUB,
        toast_reselect=reselect,
    )
    Pipeline(source, ParquetSink(out), idle_exit=1.0, poll_timeout=0.2).run()
    rows = []
    for table, _v, batch in parquet_changes(out):
        for row in pa.Table.from_batches([batch]).to_pylist():
            if row["_op"] == "u":
                rows.append({"table": table, **row})
    return sorted(rows, key=lambda r: (r["_pos"], r["_seq"]))


def test_toast_reselect_fills_unchanged_values(
    postgres: Any, database: str, tmp_path: Path
) -> None:
    with postgres.connect(dbname=DB) as conn:
        for slot in ("toast_on", "toast_off"):
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        conn.execute(f"INSERT INTO docs SELECT g, 't' || g, {BIG} FROM generate_series(1, 4) g")
        conn.execute(f"INSERT INTO blobs VALUES (gen_random_uuid(), 0, {BIG})")
        stored = conn.execute(
            "SELECT length(body), pg_column_size(body) FROM docs WHERE id = 1"
        ).fetchone()
        assert stored is not None and stored[0] > 6000 and stored[1] > 6000, stored
        # Updates that leave the TOASTed body alone: pgoutput sends it as 'unchanged'.
        with conn.transaction():
            conn.execute("UPDATE docs SET title = 'renamed' WHERE id IN (1, 2, 3)")
            conn.execute("UPDATE blobs SET n = n + 1")
        conn.execute("DELETE FROM docs WHERE id = 2")
        conn.execute(f"UPDATE docs SET body = {BIG} || 'later' WHERE id = 3")
        now = dict(conn.execute("SELECT id, body FROM docs").fetchall())
        blob = conn.execute("SELECT body FROM blobs").fetchone()

    off = stream(postgres, tmp_path / "off", "toast_off", reselect=False)
    # The first transaction's updates (the later one of id 3 sends its new body).
    first = [r for r in off if r["_pos"] == off[0]["_pos"]]
    assert len(first) == 4 and len(off) == 5
    assert all(r["_unchanged"] == ["body"] and r["body"] is None for r in first), first

    on = stream(postgres, tmp_path / "on", "toast_on", reselect=True)
    by_id = {r["id"]: r for r in on if r["table"] == "public.docs" and r["_pos"] == on[0]["_pos"]}
    assert by_id[1]["body"] == now[1] and not by_id[1]["_unchanged"]
    # Gone by the time it was read: left unchanged, as without the option.
    assert by_id[2]["body"] is None and by_id[2]["_unchanged"] == ["body"]
    # The current value, newer than the change it fills (documented).
    assert by_id[3]["body"] == now[3] and now[3].endswith("later")
    blobs = [r for r in on if r["table"] == "public.blobs"]
    assert blob is not None and [b["body"] for b in blobs] == [blob[0]]
    assert not blobs[0]["_unchanged"]
    for slot in ("toast_on", "toast_off"):
        with postgres.connect(dbname=DB) as conn:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
