"""DDL while a PostgreSQL initial snapshot reads. Rewriting forms of ALTER TABLE are not
MVCC-safe: they write every row anew under their own transaction, so a snapshot taken before the
rewrite commits and reading the table after it finds the table empty, and the stream carries none
of those rows either. Once every piece is read, the snapshot compares each table's catalog as it
sees it with the catalog of the moment, and a table rewritten meanwhile is read again by an
incremental snapshot once the run streams. Tables dropped or renamed and columns dropped while it
reads do not stop it, and tables that joined the capture meanwhile are read too. ``verify`` finds
the captured tables equal to the source."""

from __future__ import annotations

import logging
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arrowtail.pipeline import Pipeline
from arrowtail.sinks.parquet import ParquetSink
from arrowtail.sources.postgres import snapshot as pg_snapshot
from arrowtail.sources.postgres.source import PostgresSource
from arrowtail.verify.compare import verify
from tests.support.pg_run import fresh_db
from tests.support.replay import parquet_changes, replay

DB = "rwrace"
DDL = """
CREATE TABLE t (id int PRIMARY KEY, v text, price numeric(6,2));
INSERT INTO t SELECT g, 'v' || g, g + 0.25 FROM generate_series(1, 50) g;
CREATE TABLE u (id int PRIMARY KEY, v text);
INSERT INTO u SELECT g, 'u' || g FROM generate_series(1, 20) g;
CREATE TABLE w (id int PRIMARY KEY, v text);
INSERT INTO w SELECT g, 'w' || g FROM generate_series(1, 10) g;
CREATE TABLE x (id int PRIMARY KEY, v text);
INSERT INTO x SELECT g, 'x' || g FROM generate_series(1, 5) g;
CREATE TABLE y (id int PRIMARY KEY, v text);
INSERT INTO y SELECT g, 'y' || g FROM generate_series(1, 5) g;
CREATE TABLE c (id int PRIMARY KEY, v text, gone text);
INSERT INTO c SELECT g, 'c' || g, 'gone' FROM generate_series(1, 5) g;
CREATE TABLE z (id int PRIMARY KEY, v text);
INSERT INTO z SELECT g, 'z' || g FROM generate_series(1, 5) g;
CREATE PUBLICATION rwracep FOR TABLE t, u, w, x, y, c, z;
"""


def test_ddl_while_the_initial_snapshot_reads_leaves_no_row_behind(
    postgres: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """As the first piece is about to be read, in the snapshot already, three statements
    commit: a type change that rounds and a column with a volatile default on ``t`` (a
    rewrite), ``VACUUM FULL`` on ``u`` (a rewrite that keeps every row visible to the snapshot)
    and an insert into ``w`` (a change the stream carries). The snapshot holds no lock they
    wait for beyond the statement that reads: each piece, and each table's planning, is a
    transaction of its own. ``t``'s 50 rows reach the target with the rewrite's values, by an
    incremental snapshot; ``u`` and ``w`` are read once, by the initial snapshot. A table
    dropped before a reader copies it, one dropped before the planner cuts it and one renamed
    before a reader copies it are named in a warning, and the snapshot goes on. The renamed
    table, a table a column of which was dropped before a reader copied it and a table added
    to the publication meanwhile are read by incremental snapshots."""
    src = fresh_db(postgres, DB)
    src.execute(DDL)
    real = pg_snapshot.copy_rows
    done = threading.Event()
    lock = threading.Lock()

    def rewriting(*args: Any, **kwargs: Any) -> Any:
        with lock:
            if not done.is_set():
                with postgres.connect(dbname=DB) as other:
                    # Fails, rather than waits for ever, where the snapshot holds the lock.
                    other.execute("SET lock_timeout = '30s'")
                    other.execute(
                        "ALTER TABLE t ALTER COLUMN price TYPE numeric(6,1),"
                        " ADD COLUMN r float8 DEFAULT random()"
                    )
                    other.execute("VACUUM FULL u")
                    other.execute("INSERT INTO w VALUES (11, 'w11')")
                    other.execute(
                        "CREATE TABLE n (id int PRIMARY KEY, v text);"
                        " INSERT INTO n SELECT g, 'n' || g FROM generate_series(1, 7) g;"
                        " ALTER PUBLICATION rwracep ADD TABLE n"
                    )
                done.set()
        return real(*args, **kwargs)

    # Tables dropped just before a reader copies one (x) and before the planner cuts one (y);
    # a column dropped and a table renamed just before a reader copies them.
    copy = _first(postgres, "x", "DROP TABLE x", rewriting)
    copy = _first(postgres, "c", "ALTER TABLE c DROP COLUMN gone", copy)
    copy = _first(postgres, "z", "ALTER TABLE z RENAME TO z2", copy)
    monkeypatch.setattr(pg_snapshot, "copy_rows", copy)
    monkeypatch.setattr(
        pg_snapshot, "table_shape", _first(postgres, "y", "DROP TABLE y", pg_snapshot.table_shape)
    )
    dsn = postgres.dsn_for(postgres.user, None, DB)
    out = tmp_path / "cdc"
    source = PostgresSource(dsn, slot="rwrace", publication="rwracep", snapshot="initial")
    with caplog.at_level(logging.INFO, logger="arrowtail"):
        Pipeline(source, ParquetSink(out), idle_exit=2).run()
    src.execute("SELECT pg_drop_replication_slot('rwrace')")
    assert done.is_set()

    logged = caplog.text
    assert (
        "public.t: PostgreSQL rewrote the table with other columns (ALTER TABLE ... ADD COLUMN"
        " with a volatile default, ALTER COLUMN ... TYPE) while the initial snapshot read, which"
        " finds none of its rows in what it reads after: reading the table again by an"
        " incremental snapshot"
    ) in logged, logged
    assert "snapshot of public.t: 0 rows" in logged, logged
    assert "public.t done, 50 rows" in logged, logged
    assert "snapshot of public.u: 20 rows" in logged, logged
    assert "snapshot of public.w: 10 rows" in logged, logged
    for table in ("public.x", "public.y", "public.z"):
        assert (
            f"{table} was dropped or renamed while the initial snapshot read it: the rows read"
            " before stay in the target under this name, as a DROP or a rename is no change"
        ) in logged, logged
    assert (
        "public.c: a column was dropped or renamed while the initial snapshot read the table,"
        " and the rows it had not read yet could not be: reading the table again by an"
        " incremental snapshot"
    ) in logged, logged
    for table, rows in (("public.c", 5), ("public.z2", 5), ("public.n", 7)):
        assert f"{table} done, {rows} rows" in logged, logged
    for table in ("public.u", "public.w"):
        assert f"{table}: PostgreSQL" not in logged and f"{table} done" not in logged, logged
    expected = [
        ("public.t", 50),
        ("public.u", 20),
        ("public.w", 11),
        ("public.c", 5),
        ("public.z2", 5),
        ("public.n", 7),
    ]
    report = verify(dsn, f"parquet:{out}", [table for table, _rows in expected])
    assert report.equal, report.summary()
    assert [(t.table, t.source_rows) for t in report.tables] == expected
    rows = replay(parquet_changes(out))["public.t"]
    assert len(rows) == 50, rows
    assert rows[(2,)]["price"] == Decimal("2.3") and rows[(2,)]["r"] is not None
    src.close()


def _first(postgres: Any, table: str, statement: str, call: Any) -> Any:
    """``call`` (``copy_rows`` or ``table_shape``), which runs ``statement`` before it is first
    called for ``table``."""
    done = threading.Event()

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        shape = args[1]
        name = args[2] if isinstance(shape, str) else shape.table
        if name == table and not done.is_set():
            with postgres.connect(dbname=DB) as other:
                other.execute("SET lock_timeout = '30s'")
                other.execute(statement)
            done.set()
        return call(*args, **kwargs)

    return wrapped
