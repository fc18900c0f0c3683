"""A captured PostgreSQL table replaced by another under its name: dropped and created again
(or another table renamed to the name) and added to a publication that lists its tables. Rows
written into the new table before it was published are in no change, and a snapshot taken
before the table was created sees none of them. So wherever arrowtail learns of another table
under a captured name, it reads that table by an incremental snapshot: the initial snapshot's
end check and a restart compare the table's OID, and a running stream notices a Relation
message under another OID. ``verify`` finds no row missing or different; the old table's rows
that the new one does not have stay in the target, as a DROP is no change."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from arrowtail.pipeline import Pipeline
from arrowtail.sinks.parquet import ParquetSink
from arrowtail.sources.postgres import snapshot as pg_snapshot
from arrowtail.sources.postgres.source import PostgresSource
from arrowtail.verify.compare import verify
from tests.integration import test_pg_snapshot_rewrite
from tests.support.chaos import wait_for
from tests.support.pg_run import fresh_db

#: Drops ``{t}``, creates it again with rows 5..40, then adds it to the publication ``rp``,
#: which publishes none of those rows.
REPLACE = (
    "DROP TABLE {t}; CREATE TABLE {t} (id int PRIMARY KEY, v text);"
    " INSERT INTO {t} SELECT g, 'new' || g FROM generate_series(5, 40) g;"
    " ALTER PUBLICATION rp ADD TABLE {t}"
)
OLD = "CREATE TABLE {t} (id int PRIMARY KEY, v text);" + (
    " INSERT INTO {t} SELECT g, 'old' || g FROM generate_series(1, 30) g;"
)


def _run(dsn: str, slot: str, out: Path, caplog: Any) -> None:
    source = PostgresSource(dsn, slot=slot, publication="rp", snapshot="initial")
    with caplog.at_level(logging.INFO, logger="arrowtail"):
        Pipeline(source, ParquetSink(out), idle_exit=2).run()


def test_a_table_replaced_while_the_initial_snapshot_reads_is_read_again(
    postgres: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """``a`` is replaced just before a reader copies it, ``k`` just before the planner cuts
    it, ``b`` by a table of other columns: the pieces find the new tables (the name is looked
    up anew) but none of their rows, which the snapshot does not see."""
    db = "replaced_snap"
    monkeypatch.setattr(test_pg_snapshot_rewrite, "DB", db)
    src = fresh_db(postgres, db)
    src.execute(OLD.format(t="a") + OLD.format(t="b") + OLD.format(t="k"))
    src.execute("CREATE PUBLICATION rp FOR TABLE a, b, k")
    other = REPLACE.format(t="b").replace("v text", "w bigint").replace("'new' || g", "g * 2")
    first = test_pg_snapshot_rewrite._first
    copy = first(postgres, "a", REPLACE.format(t="a"), pg_snapshot.copy_rows)
    monkeypatch.setattr(pg_snapshot, "copy_rows", first(postgres, "b", other, copy))
    shape = first(postgres, "k", REPLACE.format(t="k"), pg_snapshot.table_shape)
    monkeypatch.setattr(pg_snapshot, "table_shape", shape)
    dsn = postgres.dsn_for(postgres.user, None, db)
    out = tmp_path / "cdc"
    _run(dsn, db, out, caplog)
    src.execute("SELECT pg_drop_replication_slot(%s)", (db,))

    for table in ("public.a", "public.k"):
        assert (
            f"{table} was replaced while the initial snapshot read (dropped and created again,"
            " or another table renamed to its name), and the snapshot finds none of the new"
            " table's rows: reading the table again by an incremental snapshot"
        ) in caplog.text, caplog.text
        assert f"{table} done, 36 rows" in caplog.text, caplog.text
    assert "public.b done, 36 rows" in caplog.text, caplog.text
    report = verify(dsn, f"parquet:{out}", ["public.a", "public.b", "public.k"])
    assert report.equal, report.summary()
    assert [t.source_rows for t in report.tables] == [36, 36, 36]
    src.close()


def test_a_table_replaced_while_streaming_or_between_runs_is_read_again(
    postgres: Any, tmp_path: Path, caplog: Any
) -> None:
    """``a`` is replaced while a run streams and changed once more after (the stream's
    Relation message under the new OID); ``b`` while no run streams, and not changed again
    (the restart's comparison of the stored OID)."""
    db = "replaced_stream"
    src = fresh_db(postgres, db)
    src.autocommit = True
    src.execute(OLD.format(t="a") + OLD.format(t="b") + "CREATE PUBLICATION rp FOR TABLE a, b")
    dsn = postgres.dsn_for(postgres.user, None, db)
    out = tmp_path / "cdc"
    _run(dsn, db, out, caplog)  # the initial snapshot: 30 old rows each

    streaming = threading.Thread(target=_run, args=(dsn, db, out, caplog))
    streaming.start()
    active = "SELECT active FROM pg_replication_slots WHERE slot_name = %s"
    wait_for(lambda: src.execute(active, (db,)).fetchone()[0], "the run to stream")
    src.execute("INSERT INTO a VALUES (100, 'x'); INSERT INTO b VALUES (100, 'x')")
    src.execute(REPLACE.format(t="a"))
    src.execute("INSERT INTO a VALUES (1000, 'after')")
    streaming.join()
    src.execute(REPLACE.format(t="b"))
    _run(dsn, db, out, caplog)
    src.execute("SELECT pg_drop_replication_slot(%s)", (db,))

    for table, when in (("public.a", "the run streamed"), ("public.b", "no run streamed")):
        assert (
            f"{table} was replaced while {when} (dropped and created again, or another table"
            " renamed to its name): the rows of the table it replaced stay in the target"
        ) in caplog.text, caplog.text
        assert f"{table} done, " in caplog.text, caplog.text
    report = verify(dsn, f"parquet:{out}", ["public.a", "public.b"])
    # Rows 5..40 (and a's 1000) as the new tables have them; 1..4 and 100 are the old tables'.
    for table in report.tables:
        assert not table.missing and not table.different, report.summary()
        assert sorted(table.extra) == [(1,), (2,), (3,), (4,), (100,)], report.summary()
    assert [t.source_rows for t in report.tables] == [37, 36]
    src.close()
