"""Debezium-style filtering on a real PostgreSQL 15: ``--tables`` with a column list and a row
filter makes arrowtail create the publication with them, the initial snapshot reads the same
columns and rows, the stream carries what the server publishes (an update that moves a row out
of the filter arrives as its delete), and ``arrowtail verify`` with the same ``--tables`` finds
the PostgreSQL target equal. Publications that would fail the application's own UPDATEs are
refused before anything is created; ``--key-columns`` keys a table without a primary key."""

from __future__ import annotations

import subprocess
from typing import Any

import duckdb
import pytest

from tests.support.cli import cli, cli_popen
from tests.support.pg_run import fresh_db, wait_slot_active

DDL = """
CREATE TABLE public.orders (
  id bigint PRIMARY KEY, status text NOT NULL, total numeric(10,2), secret text, note text
);
-- The row filter reads status, so the replica identity must hold it; the column list must hold
-- the identity (REPLICA IDENTITY FULL would need every column listed).
CREATE UNIQUE INDEX orders_identity ON public.orders (id, status);
ALTER TABLE public.orders REPLICA IDENTITY USING INDEX orders_identity;
CREATE TABLE public.events (device text NOT NULL, seq integer NOT NULL, payload text);
ALTER TABLE public.events REPLICA IDENTITY FULL;
"""
SPEC = "public.orders (id, status, total, note) WHERE (status <> 'draft')"


def _workload(conn: Any, base: int) -> None:
    conn.execute(
        "INSERT INTO public.orders SELECT %s + g, CASE WHEN g %% 3 = 0 THEN 'draft' ELSE 'paid'"
        " END, g * 1.5, 'hidden ' || g, 'n' || g FROM generate_series(1, 60) g",
        (base,),
    )
    # Out of the filter (a delete for the stream), into it (an insert), and within it.
    conn.execute("UPDATE public.orders SET status = 'draft' WHERE id = %s", (base + 1,))
    conn.execute("UPDATE public.orders SET status = 'paid' WHERE id = %s", (base + 3,))
    conn.execute("UPDATE public.orders SET total = 0, note = NULL WHERE id = %s", (base + 2,))
    conn.execute("DELETE FROM public.orders WHERE id = %s", (base + 4,))
    conn.execute(
        "INSERT INTO public.events SELECT 'd' || (g %% 4), %s + g, 'p' || g"
        " FROM generate_series(1, 20) g",
        (base,),
    )
    conn.execute("UPDATE public.events SET payload = 'changed' WHERE seq = %s", (base + 5,))
    conn.execute("DELETE FROM public.events WHERE seq = %s", (base + 6,))


def test_row_filter_and_column_list_reach_a_target_that_verify_finds_equal(
    postgres: Any,
) -> None:
    src = fresh_db(postgres, "pubf_src")
    src.execute(DDL)
    _workload(src, 1000)  # before the run: the snapshot reads these through the filter
    target = fresh_db(postgres, "pubf_dst")
    source_url = postgres.dsn_for(postgres.user, None, "pubf_src")
    target_url = postgres.dsn_for(postgres.user, None, "pubf_dst")
    tables = f"{SPEC}, public.events"
    run = ["run", "--source", source_url, "--slot", "pubf", "--publication", "pubf"]
    run += ["--tables", tables, "--key-columns", "public.events:device,seq"]
    run += ["--to", target_url, "--create-tables", "--snapshot", "initial", "--idle-exit", "3"]
    proc = cli_popen(*run)
    wait_slot_active(src, "pubf", proc)
    _workload(src, 2000)  # while streaming
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err

    published = src.execute(
        "SELECT attnames, rowfilter FROM pg_publication_tables"
        " WHERE pubname = 'pubf' AND tablename = 'orders'"
    ).fetchone()
    assert published is not None
    assert list(published[0]) == ["id", "status", "total", "note"]
    assert "draft" in published[1]

    columns = [
        r[0]
        for r in target.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name = 'orders' ORDER BY ordinal_position"
        ).fetchall()
    ]
    assert columns == ["id", "status", "total", "note"]  # no secret
    got = dict(target.execute("SELECT id, status FROM public.orders").fetchall())
    want = dict(
        src.execute("SELECT id, status FROM public.orders WHERE status <> 'draft'").fetchall()
    )
    assert (
        got == want and len(got) == 2 * 40 - 2
    )  # two thirds paid, one moved out, one in, one gone
    assert 1001 not in got and 2001 not in got and 1003 in got and 2003 in got
    keyed = target.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'public.events'::regclass"
        " AND i.indisprimary ORDER BY a.attname"
    ).fetchall()
    assert [r[0] for r in keyed] == ["device", "seq"]  # --create-tables keyed it as asked

    check = ["verify", "--source", source_url, "--against", target_url, "--tables", SPEC]
    equal = cli(*check)
    assert equal.returncode == 0, equal.stdout + equal.stderr
    assert "public.orders: equal" in equal.stdout
    # The filter is what verify compares through: without it the drafts count as missing.
    unfiltered = cli(
        "verify",
        "--source",
        source_url,
        "--against",
        target_url,
        "--tables",
        "public.orders (id, status, total, note)",
    )
    assert unfiltered.returncode == 1 and "missing" in unfiltered.stdout, unfiltered.stdout
    events_src = sorted(src.execute("SELECT device, seq, payload FROM public.events").fetchall())
    events_dst = sorted(target.execute("SELECT device, seq, payload FROM public.events").fetchall())
    assert events_dst == events_src and len(events_src) == 38
    # verify compares the keyless table by the key the run gave it: named, or found as the
    # target's primary key.
    events = ["verify", "--source", source_url, "--against", target_url, "--tables"]
    keyed_check = cli(*events, "public.events", "--key-columns", "public.*:device,seq")
    assert keyed_check.returncode == 0, keyed_check.stdout + keyed_check.stderr
    assert "public.events: equal (38 rows" in keyed_check.stdout
    target.execute("UPDATE public.events SET payload = 'drift' WHERE seq = 2007")
    drift = cli(*events, "public.events", "--key-columns", "public.events:device,seq")
    assert drift.returncode == 1 and "('d3', 2007)" in drift.stdout, drift.stdout
    unkeyed = cli(*events, "public.events")
    assert unkeyed.returncode == 1, unkeyed.stdout
    assert "different 1: ('d3', 2007)" in unkeyed.stdout, unkeyed.stdout
    wrong = cli(*events, "public.events", "--key-columns", "public.events:device,nope")
    assert wrong.returncode == 2 and "nope" in wrong.stderr, wrong.stderr
    src.close()
    target.close()


def test_a_filter_that_would_break_the_applications_updates_is_refused(postgres: Any) -> None:
    src = fresh_db(postgres, "pubf_refused")
    src.execute(
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, status text, secret text);"
        "CREATE TABLE public.other (id bigint PRIMARY KEY, v text)"
    )
    url = postgres.dsn_for(postgres.user, None, "pubf_refused")
    for spec, needle in (
        (
            "public.orders WHERE (status <> 'draft')",
            "row filter of public.orders reads column(s) status",
        ),
        ("public.orders (status, secret)", "leaves out replica identity column(s) id"),
    ):
        out = cli(
            "run",
            "--source",
            url,
            "--slot",
            "pubr",
            "--publication",
            "pubr",
            "--tables",
            spec,
            "--to",
            "jsonl:/dev/null",
            "--idle-exit",
            "1",
        )
        assert out.returncode == 2, out.stderr
        assert needle in out.stderr, out.stderr
        # Nothing was created, and the application's updates still work.
        assert src.execute("SELECT count(*) FROM pg_publication").fetchone()[0] == 0
        assert (
            src.execute(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pubr'"
            ).fetchone()[0]
            == 0
        )
    src.execute("INSERT INTO public.orders VALUES (1, 'draft', 'x')")
    src.execute("UPDATE public.orders SET status = 'paid'")

    # An existing publication is used as it is, never altered: a different request is refused.
    src.execute("CREATE PUBLICATION pubr FOR TABLE public.orders")
    out = cli(
        "run",
        "--source",
        url,
        "--slot",
        "pubr",
        "--publication",
        "pubr",
        "--tables",
        "public.orders (id, status)",
        "--to",
        "jsonl:/dev/null",
        "--idle-exit",
        "1",
    )
    assert out.returncode == 2, out.stderr
    assert "does not alter an existing publication" in out.stderr, out.stderr
    src.close()


def _streaming(
    postgres: Any, db: str, schema: str, out: Any, name: str, *args: str
) -> tuple[Any, subprocess.Popen[str]]:
    """A fresh database ``db`` holding ``schema``, and ``arrowtail run`` into ``parquet:out``
    with slot and publication ``name`` (and ``args``) streaming from it."""
    src = fresh_db(postgres, db)
    src.execute(schema)
    url = postgres.dsn_for(postgres.user, None, db)
    run = ["run", "--source", url, "--slot", name, "--publication", name, *args]
    proc = cli_popen(*run, "--to", f"parquet:{out}", "--idle-exit", "3")
    wait_slot_active(src, name, proc)
    return src, proc


def test_tables_capture_only_the_listed_tables_of_a_broader_publication(
    postgres: Any, tmp_path: Any
) -> None:
    # A DBA's publication FOR ALL TABLES: the server sends every table, the run keeps the
    # listed ones, in the snapshot and in the stream. A table left out may even have a column
    # named like a metadata column.
    out = tmp_path / "out"
    src, proc = _streaming(
        postgres,
        "pubf_subset",
        "CREATE TABLE public.a (id int PRIMARY KEY, v text);"
        "CREATE TABLE public.b (id int PRIMARY KEY, v text);"
        "CREATE TABLE public.c (id int PRIMARY KEY, _seq int);"
        "INSERT INTO public.a VALUES (1, 'a1'); INSERT INTO public.b VALUES (1, 'b1');"
        "INSERT INTO public.c VALUES (1, 1);"
        "CREATE PUBLICATION everything FOR ALL TABLES",
        out,
        "everything",
        "--tables", "public.a,public.b", "--snapshot", "initial",
    )  # fmt: skip
    src.execute("INSERT INTO public.c VALUES (2, 2)")
    src.execute("INSERT INTO public.a VALUES (2, 'a2')")
    src.execute("UPDATE public.c SET _seq = 3")
    src.execute("INSERT INTO public.b VALUES (2, 'b2')")
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    tables = sorted(p.name for p in out.iterdir() if not p.name.startswith("_"))
    assert tables == ["public.a", "public.b"]
    assert "public.c is published but not in --tables: its changes are left out" in err
    for table in ("a", "b"):
        rows = duckdb.sql(
            f"SELECT id, v, _op FROM read_parquet('{out}/public.{table}/*.parquet') ORDER BY _pos"
        ).fetchall()
        assert rows == [(1, f"{table}1", "r"), (2, f"{table}2", "c")]
    src.close()


def test_a_listed_table_renamed_while_streaming_stays_captured(
    postgres: Any, tmp_path: Any
) -> None:
    # The publication arrowtail makes from --tables holds the table itself, whatever its name:
    # after a rename the server goes on sending its changes (under the name its Relation
    # message gives), and the run keeps them.
    out = tmp_path / "out"
    src, proc = _streaming(
        postgres,
        "pubf_rename",
        "CREATE TABLE public.r (id int PRIMARY KEY, v text)",
        out,
        "ren",
        "--tables",
        "public.r",
    )
    src.execute("INSERT INTO public.r VALUES (1, 'before')")
    src.execute("ALTER TABLE public.r RENAME TO r2")
    src.execute("INSERT INTO public.r2 VALUES (2, 'after')")
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    got = duckdb.sql(f"SELECT id, v FROM read_parquet('{out}/public.r*/*.parquet') ORDER BY id")
    assert got.fetchall() == [(1, "before"), (2, "after")]
    assert "left out" not in err
    src.close()


def test_a_publication_that_leaves_out_updates_and_deletes_is_named_in_a_warning(
    postgres: Any, tmp_path: Any
) -> None:
    # An insert-only publication made by someone else: the server sends no update or delete,
    # so a copy drifts from the source; the run says so at start.
    out = tmp_path / "out"
    src, proc = _streaming(
        postgres,
        "pubf_inserts",
        "CREATE TABLE public.a (id int PRIMARY KEY, v text);"
        "INSERT INTO public.a VALUES (1, 'a1');"
        "CREATE PUBLICATION inserts FOR TABLE public.a WITH (publish = 'insert')",
        out,
        "inserts",
        "--snapshot",
        "initial",
    )
    src.execute("INSERT INTO public.a VALUES (2, 'a2')")
    src.execute("UPDATE public.a SET v = 'changed' WHERE id = 1")
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert "publication inserts does not publish update, delete, truncate" in err
    rows = duckdb.sql(
        f"SELECT id, v, _op FROM read_parquet('{out}/public.a/*.parquet') ORDER BY _pos"
    ).fetchall()
    assert rows == [(1, "a1", "r"), (2, "a2", "c")]  # the update never arrives
    src.close()


@pytest.mark.parametrize("publication", ["made by the run", "FOR ALL TABLES"])
def test_a_listed_partitioned_table_is_captured_through_its_partitions(
    postgres: Any, tmp_path: Any, publication: str
) -> None:
    # Not published through its root, a partitioned table's changes come under its
    # partitions' names, which --tables did not list: the snapshot read nothing and the
    # stream left every change out. A partition attached while streaming counts too.
    schema = (
        "CREATE TABLE public.m (id int, d date, v int, PRIMARY KEY (id, d)) PARTITION BY RANGE (d);"
        "CREATE TABLE public.m_2024 PARTITION OF public.m"
        " FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"
        "CREATE TABLE public.other (id int PRIMARY KEY);"
        "INSERT INTO public.m VALUES (1, '2024-05-01', 1); INSERT INTO public.other VALUES (1);"
    )
    if publication == "FOR ALL TABLES":
        schema += "CREATE PUBLICATION parts FOR ALL TABLES"
    out = tmp_path / "out"
    src, proc = _streaming(
        postgres,
        "pubf_parts",
        schema,
        out,
        "parts",
        "--tables",
        "public.m",
        "--snapshot",
        "initial",
    )
    src.execute(
        "CREATE TABLE public.m_2025 PARTITION OF public.m"
        " FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"
    )
    src.execute("INSERT INTO public.m VALUES (2, '2024-06-01', 2), (3, '2025-02-02', 3)")
    src.execute("UPDATE public.m SET v = 10 WHERE id = 1")
    src.execute("INSERT INTO public.other VALUES (2)")
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    tables = sorted(p.name for p in out.iterdir() if not p.name.startswith("_"))
    assert tables == ["public.m_2024", "public.m_2025"]
    rows = {
        t: duckdb.sql(
            f"SELECT id, v, _op FROM read_parquet('{out}/{t}/*.parquet') ORDER BY _pos, _seq"
        ).fetchall()
        for t in tables
    }
    # The partition made while streaming joined the stream then, so it is read once by an
    # incremental snapshot too (the source cannot tell whether it held rows before).
    assert rows == {
        "public.m_2024": [(1, 1, "r"), (2, 2, "c"), (1, 10, "u")],
        "public.m_2025": [(3, 3, "c"), (3, 3, "r")],
    }
    src.close()
