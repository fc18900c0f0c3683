"""A captured PostgreSQL table replaced by another under its name: dropped and created again
(or another table renamed to the name) and added to a publication that lists its tables. Rows
written into the new table before it was published are in no change, and a snapshot taken
before the table was created sees none of them. So wherever arrowtail learns of another table
under a captured name, it reads that table by an incremental snapshot: the initial snapshot's
end check and a restart compare the table's OID; a running stream notices a Relation
message under another OID (counted from the commit of a transaction streamed in progress), and
compares the OIDs in the catalog every ``CATALOG_CHECK_SECONDS``. That snapshot starts with a
truncate, which takes the old table's rows out of the target; so does the read of a table that
left the publication while a run streamed and came back. ``verify`` finds every table equal to
the source."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from arrowtail.pipeline import Pipeline
from arrowtail.sinks import open_sink
from arrowtail.sinks.base import Sink
from arrowtail.sinks.parquet import ParquetSink
from arrowtail.sources.postgres import parallel
from arrowtail.sources.postgres import snapshot as pg_snapshot
from arrowtail.sources.postgres import source as pg_source
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


def _run(dsn: str, slot: str, out: Path | str, caplog: Any, idle_exit: float = 2) -> None:
    """A run into Parquet under ``out``, or into the database ``out`` names."""
    # Pieces of 10 rows: a table of 30 is read in three.
    source = PostgresSource(
        dsn, slot=slot, publication="rp", snapshot="initial", snapshot_chunk_rows=10
    )
    sink: Sink = ParquetSink(out) if isinstance(out, Path) else open_sink(out, create_tables=True)
    with caplog.at_level(logging.INFO, logger="arrowtail"):
        Pipeline(source, sink, idle_exit=idle_exit).run()


def test_a_table_replaced_while_the_initial_snapshot_reads_is_read_again(
    postgres: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """``a`` is replaced just before a reader copies it, ``k`` just before the planner cuts
    it, ``b`` by a table of other columns: the pieces find the new tables (the name is looked
    up anew) but none of their rows, which the snapshot does not see. ``p`` is replaced after
    its first piece was read: the old rows 1..10 reached the target, and 1..4 are not in the
    new table."""
    db = "replaced_snap"
    monkeypatch.setattr(test_pg_snapshot_rewrite, "DB", db)
    # Pieces of 10 rows by key, as a server without TID range scans cuts them: a table of 30
    # short rows is one heap page, which a page range would read at once.
    monkeypatch.setattr(parallel, "TID_RANGES_SINCE", 10**9)
    src = fresh_db(postgres, db)
    src.execute(OLD.format(t="a") + OLD.format(t="b") + OLD.format(t="k") + OLD.format(t="p"))
    src.execute("CREATE PUBLICATION rp FOR TABLE a, b, k, p")
    other = REPLACE.format(t="b").replace("v text", "w bigint").replace("'new' || g", "g * 2")
    first = test_pg_snapshot_rewrite._first
    copy = first(postgres, "a", REPLACE.format(t="a"), pg_snapshot.copy_rows)
    copy = first(postgres, "b", other, copy)
    monkeypatch.setattr(pg_snapshot, "copy_rows", _second(postgres, "p", REPLACE, copy))
    shape = first(postgres, "k", REPLACE.format(t="k"), pg_snapshot.table_shape)
    monkeypatch.setattr(pg_snapshot, "table_shape", shape)
    dsn = postgres.dsn_for(postgres.user, None, db)
    out = tmp_path / "cdc"
    _run(dsn, db, out, caplog)
    src.execute("SELECT pg_drop_replication_slot(%s)", (db,))

    assert "snapshot of public.p: 10 rows" in caplog.text, caplog.text
    for table in ("public.a", "public.b", "public.k", "public.p"):
        assert f"{table} starts with a truncate of the target's rows" in caplog.text
    for table in ("public.a", "public.k", "public.p"):
        assert (
            f"{table} was replaced while the initial snapshot read (dropped and created again,"
            " or another table renamed to its name), and the snapshot finds none of the new"
            " table's rows: reading the table again by an incremental snapshot"
        ) in caplog.text, caplog.text
        assert f"{table} done, 36 rows" in caplog.text, caplog.text
    assert "public.b done, 36 rows" in caplog.text, caplog.text
    report = verify(dsn, f"parquet:{out}", ["public.a", "public.b", "public.k", "public.p"])
    assert report.equal, report.summary()
    assert [t.source_rows for t in report.tables] == [36, 36, 36, 36]
    src.close()


def _published_db(postgres: Any, db: str, tables: str, published: str) -> tuple[Any, str]:
    """The database ``db`` made anew with a table of :data:`OLD` rows per letter of ``tables``
    and the publication ``rp`` of ``published``: a superuser connection to it (autocommit) and
    its DSN."""
    src = fresh_db(postgres, db)
    src.autocommit = True
    src.execute("".join(OLD.format(t=t) for t in tables))
    src.execute(f"CREATE PUBLICATION rp FOR TABLE {published}")
    return src, postgres.dsn_for(postgres.user, None, db)


def _streaming(
    src: Any, dsn: str, slot: str, out: Path | str, caplog: Any, idle_exit: float = 2
) -> threading.Thread:
    """A run (as :func:`_run`) in a thread of its own, returned once its slot is active."""
    thread = threading.Thread(target=_run, args=(dsn, slot, out, caplog, idle_exit))
    thread.start()
    active = "SELECT active FROM pg_replication_slots WHERE slot_name = %s"
    wait_for(lambda: src.execute(active, (slot,)).fetchone()[0], "the run to stream")
    return thread


def _second(postgres: Any, table: str, statement: str, call: Any) -> Any:
    """``copy_rows`` that replaces ``table`` by ``statement`` (``{t}`` its name) once the
    first of its pieces is read, before the next one is."""
    copied = threading.Event()
    done = threading.Event()
    lock = threading.Lock()

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if args[1].table != table:
            return call(*args, **kwargs)
        with lock:
            if copied.is_set() and not done.is_set():
                with postgres.connect(dbname=test_pg_snapshot_rewrite.DB) as other:
                    other.execute("SET lock_timeout = '30s'")
                    other.execute(statement.format(t=table))
                done.set()
            rows = list(call(*args, **kwargs))
            copied.set()
        return iter(rows)

    return wrapped


@pytest.mark.parametrize("target", ["parquet", "postgresql"])
def test_a_table_replaced_while_streaming_or_between_runs_is_read_again(
    postgres: Any, tmp_path: Path, caplog: Any, target: str
) -> None:
    """``a`` is replaced while a run streams, by a table with one more column, and changed
    once more after (the stream's Relation message under the new OID); ``b`` while no run
    streams, and not changed again (the restart's comparison of the stored OID). Into Parquet,
    and into a PostgreSQL database, which creates the tables and applies the truncates."""
    db = f"replaced_{target}"
    src = fresh_db(postgres, db)
    src.autocommit = True
    src.execute(OLD.format(t="a") + OLD.format(t="b") + "CREATE PUBLICATION rp FOR TABLE a, b")
    dsn = postgres.dsn_for(postgres.user, None, db)
    out: Path | str = tmp_path / "cdc"
    if target == "postgresql":
        fresh_db(postgres, f"{db}_target").close()
        out = postgres.dsn_for(postgres.user, None, f"{db}_target")
    _run(dsn, db, out, caplog)  # the initial snapshot: 30 old rows each

    streaming = _streaming(src, dsn, db, out, caplog)
    src.execute("INSERT INTO a VALUES (100, 'x'); INSERT INTO b VALUES (100, 'x')")
    src.execute(REPLACE.format(t="a").replace("v text", "v text, w int"))
    src.execute("INSERT INTO a VALUES (1000, 'after', 3)")
    streaming.join()
    src.execute(REPLACE.format(t="b"))
    _run(dsn, db, out, caplog)
    src.execute("SELECT pg_drop_replication_slot(%s)", (db,))

    for table, when in (("public.a", "the run streamed"), ("public.b", "no run streamed")):
        assert (
            f"{table} was replaced while {when} (dropped and created again, or another table"
            " renamed to its name), and rows of the new table may be in no change: reading the"
            " table again by an incremental snapshot"
        ) in caplog.text, caplog.text
        assert f"{table} starts with a truncate of the target's rows" in caplog.text
        assert f"{table} done, " in caplog.text, caplog.text
    # Rows 5..40 (and a's 1000) as the new tables have them; none of the old tables' 1..4, 100.
    against = f"parquet:{out}" if isinstance(out, Path) else out
    report = verify(dsn, against, ["public.a", "public.b"])
    assert report.equal, report.summary()
    assert [t.source_rows for t in report.tables] == [37, 36]
    src.close()


def test_a_table_replaced_in_a_transaction_streamed_in_progress_is_read_after_its_commit(
    postgres: Any, tmp_path: Path, caplog: Any
) -> None:
    """The transaction that replaces ``a`` is large, so the server streams it while it is still
    open (a small ``logical_decoding_work_mem``), and the Relation message under the new OID
    comes before its commit. A snapshot read then would see neither the new table nor its rows;
    the table is read once the commit has come, and the rows written before the new table was
    published reach the target too."""
    db = "replaced_streamed"
    src = fresh_db(postgres, db)
    src.autocommit = True
    src.execute(OLD.format(t="a") + "CREATE TABLE filler (id int PRIMARY KEY, v text)")
    src.execute("CREATE PUBLICATION rp FOR TABLE a, filler")
    src.execute(f"ALTER DATABASE {db} SET logical_decoding_work_mem = '64kB'")
    dsn = postgres.dsn_for(postgres.user, None, db)
    out = tmp_path / "cdc"
    _run(dsn, db, out, caplog)  # the initial snapshot: 30 old rows

    streaming = _streaming(src, dsn, db, out, caplog, 6)
    with src.transaction():
        src.execute(REPLACE.format(t="a"))
        src.execute("INSERT INTO a VALUES (1000, 'in the replacing transaction')")
        # Past 64kB: the server sends what the transaction holds so far, a's Relation first.
        src.execute("INSERT INTO filler SELECT g, repeat('x', 200) FROM generate_series(1, 3000) g")
        # The run polls while the transaction is open.
        src.execute("SELECT pg_sleep(2)")
    streaming.join()
    src.execute("SELECT pg_drop_replication_slot(%s)", (db,))

    assert "public.a was replaced while the run streamed" in caplog.text, caplog.text
    assert "public.a starts with a truncate of the target's rows" in caplog.text
    # Rows 5..40 of the new table and 1000; none of the old table's 1..4.
    report = verify(dsn, f"parquet:{out}", ["public.a", "public.filler"])
    assert report.equal, report.summary()
    assert [t.source_rows for t in report.tables] == [37, 3000]
    src.close()


def test_tables_replaced_or_joined_and_not_changed_after_are_read_while_the_run_streams(
    postgres: Any, tmp_path: Path, caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``a`` is replaced and ``c`` added to the publication with its rows while a run streams,
    and neither changes after, so no change tells the stream of them. The run finds both in
    the catalog, which it looks at every ``CATALOG_CHECK_SECONDS`` (two seconds here), and
    reads each once two looks in a row have found it. ``d`` is added too, and changed once a
    look has found it: the stream's change tells of it before the next look. ``e`` is replaced
    by a table no publication holds, which is not captured and not read."""
    monkeypatch.setattr(pg_source, "CATALOG_CHECK_SECONDS", 2.0)
    looks: list[set[str]] = []
    published_now = pg_source.PostgresSource._published_now

    def counted(self: Any, conn: Any) -> Any:
        found = published_now(self, conn)
        looks.append(found[0])
        return found

    monkeypatch.setattr(pg_source.PostgresSource, "_published_now", counted)
    db = "replaced_quiet"
    src, dsn = _published_db(postgres, db, "abcde", "a, b, e")
    out = tmp_path / "cdc"
    _run(dsn, db, out, caplog)  # the initial snapshot: 30 old rows each of a, b and e

    streaming = _streaming(src, dsn, db, out, caplog, 8)
    src.execute("INSERT INTO b VALUES (100, 'x')")
    src.execute(REPLACE.format(t="a"))
    src.execute("ALTER PUBLICATION rp ADD TABLE c, d")
    src.execute(REPLACE.format(t="e").split("; ALTER")[0])
    wait_for(lambda: any("public.d" in found for found in looks), "a look to find d", 30)
    src.execute("INSERT INTO d VALUES (100, 'x')")
    streaming.join()
    src.execute("SELECT pg_drop_replication_slot(%s)", (db,))

    assert (
        "public.a was replaced while the run streamed (dropped and created again, or another"
        " table renamed to its name), and rows of the new table may be in no change; no change"
        " of it came: reading the table again by an incremental snapshot"
    ) in caplog.text, caplog.text
    assert "public.a starts with a truncate of the target's rows" in caplog.text
    assert "public.c joined the capture while the run streamed" in caplog.text, caplog.text
    assert "public.d joined the stream while the run streamed" in caplog.text, caplog.text
    assert "public.d joined the capture" not in caplog.text, caplog.text
    assert "public.e was replaced" not in caplog.text, caplog.text
    for table in ("public.a", "public.c", "public.d"):
        assert caplog.text.count(f"{table} done, ") == 1, caplog.text
    report = verify(dsn, f"parquet:{out}", ["public.a", "public.b", "public.c", "public.d"])
    assert report.equal, report.summary()
    assert [t.source_rows for t in report.tables] == [36, 31, 30, 31]
    src.close()


def test_a_table_that_left_the_publication_and_came_back_is_read_whole(
    postgres: Any, tmp_path: Path, caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``f`` and ``g`` leave the publication while a run streams, ``h`` between two runs, and
    each has a row deleted, one changed and one added while it is out, in no change. ``f``
    comes back while the run still streams, ``g`` and ``h`` between runs: each is read whole,
    starting with a truncate, so the deleted row leaves the target too. ``k`` leaves too, and a
    new table under its name comes back, read once."""
    monkeypatch.setattr(pg_source, "CATALOG_CHECK_SECONDS", 1.0)
    db = "left_and_back"
    src, dsn = _published_db(postgres, db, "fghk", "f, g, h, k")
    out = tmp_path / "cdc"
    _run(dsn, db, out, caplog)  # the initial snapshot: 30 rows each

    def change(table: str) -> None:
        src.execute(f"DELETE FROM {table} WHERE id = 1; UPDATE {table} SET v = 'out' WHERE id = 2")
        src.execute(f"INSERT INTO {table} VALUES (100, 'out')")

    streaming = _streaming(src, dsn, db, out, caplog, 10)
    src.execute("ALTER PUBLICATION rp DROP TABLE f, g, k")
    wait_for(lambda: "public.k left the publication" in caplog.text, "the run to see k leave", 30)
    change("f")
    change("g")
    src.execute(REPLACE.format(t="k"))
    src.execute("ALTER PUBLICATION rp ADD TABLE f")
    streaming.join()
    src.execute("ALTER PUBLICATION rp DROP TABLE h")
    change("h")
    src.execute("ALTER PUBLICATION rp ADD TABLE g")
    _run(dsn, db, out, caplog)  # reads g; h is out
    src.execute("ALTER PUBLICATION rp ADD TABLE h")
    _run(dsn, db, out, caplog)  # reads h
    src.execute("SELECT pg_drop_replication_slot(%s)", (db,))

    # Row 1, deleted while out, is gone from the target too; 2 and 100 are as the source has them.
    report = verify(dsn, f"parquet:{out}", ["public.f", "public.g", "public.h", "public.k"])
    assert report.equal, report.summary()
    assert [t.source_rows for t in report.tables] == [30, 30, 30, 36]
    assert (
        "public.f came back to the publication after it had left it, and the changes made while"
        " it was out are in none: reading the table again by an incremental snapshot"
    ) in caplog.text, caplog.text
    for table in ("public.g", "public.h"):
        assert f"{table} came back to the publication while no run streamed" in caplog.text
    assert "public.k came back to the publication after it had left it" in caplog.text
    assert "public.k was replaced" not in caplog.text, caplog.text
    for table in ("public.f", "public.g", "public.h", "public.k"):
        assert f"{table} starts with a truncate of the target's rows" in caplog.text
        assert caplog.text.count(f"{table} done, ") == 1, caplog.text
    src.close()
