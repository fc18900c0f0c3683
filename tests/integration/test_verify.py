"""``arrowtail verify`` against real servers: equal tables are reported equal; a deleted row, a
changed value and an extra row are found and named by key, in a database target (chunked digests
and bisection) and in a Parquet directory of change batches (replayed by key)."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from arrowtail.sinks.database.url import MySqlTargetSink, PostgresTargetSink
from arrowtail.verify.compare import main_verify, verify
from arrowtail.verify.sides import DbSide
from tests.support.dbsink_cases import batches, last_pos
from tests.support.pg_run import fresh_db

ROWS = 3000


def _pg_databases(postgres) -> tuple[str, str]:
    with postgres.connect() as conn:
        for db in ("vsrc", "vdst"):
            conn.execute(f"DROP DATABASE IF EXISTS {db}")
            conn.execute(f"CREATE DATABASE {db}")
    base = postgres.dsn.rsplit("/", 1)[0]
    for db in ("vsrc", "vdst"):
        with _pg(base + "/" + db) as conn:
            conn.execute("CREATE SCHEMA shop")
            conn.execute(
                "CREATE TABLE shop.items (id int PRIMARY KEY, region text, name text,"
                " price numeric(10,2), seen timestamptz)"
            )
            conn.execute(
                "INSERT INTO shop.items SELECT g, 'r' || (g %% 7), 'item ' || g, g * 1.5,"
                " timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute'"
                " FROM generate_series(1, %s) g",
                (ROWS,),
            )
            conn.execute("CREATE TABLE shop.pairs (a text, b int, v text, PRIMARY KEY (a, b))")
            conn.execute(
                "INSERT INTO shop.pairs SELECT 'k' || (g % 10), g, 'v' || g"
                " FROM generate_series(1, 500) g"
            )
    return base + "/vsrc", base + "/vdst"


def _pg(dsn: str):
    import psycopg

    return psycopg.connect(dsn, autocommit=True)


def _plant(execute) -> None:
    execute("DELETE FROM shop.items WHERE id = 77")
    execute("UPDATE shop.items SET name = 'changed' WHERE id = 2345")
    execute("INSERT INTO shop.items VALUES (9001, 'r0', 'extra', 1.00, NULL)")
    execute("UPDATE shop.pairs SET v = 'x' WHERE a = 'k3' AND b = 13")


def _assert_planted(report) -> None:
    items = {t.table: t for t in report.tables}["shop.items"]
    assert items.missing == [(77,)]
    assert items.different == [(2345,)]
    assert items.extra == [(9001,)]
    pairs = {t.table: t for t in report.tables}["shop.pairs"]
    assert (pairs.missing, pairs.extra, pairs.different) == ([], [], [("k3", 13)])
    assert not report.equal


def test_postgres_target_equal_then_planted_differences_found(postgres, capsys):
    src, dst = _pg_databases(postgres)
    report = verify(src, dst, chunk_rows=400, leaf_rows=16)
    assert report.equal, report.summary()
    items = {t.table: t for t in report.tables}["shop.items"]
    assert items.source_rows == ROWS and items.chunks == 8 and items.chunks_fetched == 0
    assert main_verify(["--source", src, "--against", dst]) == 0
    with _pg(dst) as conn:
        _plant(conn.execute)
    report = verify(src, dst, chunk_rows=400, leaf_rows=16)
    _assert_planted(report)
    items = {t.table: t for t in report.tables}["shop.items"]
    assert 0 < items.chunks_fetched <= 4  # bisection fetched only small ranges
    capsys.readouterr()
    assert main_verify(["--source", src, "--against", dst, "--tables", "shop.items"]) == 1
    out = capsys.readouterr().out
    assert "missing 1: 77" in out and "extra 1: 9001" in out and "different 1: 2345" in out


def _maria_databases(mariadb) -> None:
    conn = mariadb.connect()
    try:
        with conn.cursor() as cur:
            for db in ("vsrc", "vdst"):
                cur.execute(f"DROP DATABASE IF EXISTS {db}")
                cur.execute(f"CREATE DATABASE {db}")
                cur.execute(
                    f"CREATE TABLE {db}.items (id INT PRIMARY KEY, region VARCHAR(10),"
                    " name VARCHAR(100), price DECIMAL(10,2), seen DATETIME(6))"
                )
                cur.execute(
                    f"INSERT INTO {db}.items SELECT seq, CONCAT('r', seq % 7),"
                    " CONCAT('item ', seq), seq * 1.5,"
                    " TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq MINUTE"
                    f" FROM {db}.seq_1_to_{ROWS}"
                )
                cur.execute(
                    f"CREATE TABLE {db}.pairs (a VARCHAR(10), b INT, v VARCHAR(10),"
                    " PRIMARY KEY (a, b))"
                )
                cur.execute(
                    f"INSERT INTO {db}.pairs SELECT CONCAT('k', seq % 10), seq,"
                    f" CONCAT('v', seq) FROM {db}.seq_1_to_500"
                )
    finally:
        conn.close()


def test_mariadb_target_equal_then_planted_differences_found(mariadb):
    _maria_databases(mariadb)
    src, dst = mariadb.url + "vsrc", mariadb.url + "vdst"
    mapping = {"vsrc.items": "vdst.items", "vsrc.pairs": "vdst.pairs"}
    report = verify(src, dst, chunk_rows=400, leaf_rows=16, table_map=mapping)
    assert [t.table for t in report.tables] == ["vsrc.items", "vsrc.pairs"]
    assert report.equal, report.summary()
    conn = mariadb.connect(database="vdst")
    try:
        with conn.cursor() as cur:
            _plant(lambda sql: cur.execute(sql.replace("shop.", "")))
    finally:
        conn.close()
    report = verify(src, dst, chunk_rows=400, leaf_rows=16, table_map=mapping)
    for t in report.tables:
        t.table = t.table.replace("vsrc.", "shop.")
    _assert_planted(report)
    args = ["--source", src, "--against", dst, "--map", "vsrc.items=vdst.items"]
    assert main_verify([*args, "--tables", "vsrc.items"]) == 1


def test_parquet_directory_replayed_and_compared(postgres, tmp_path):
    with postgres.connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS vparq")
        conn.execute("CREATE DATABASE vparq")
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/vparq"
    bs = batches("shop.items", "postgres")
    sink = PostgresTargetSink(dsn, create_tables=True)
    sink.open()
    for b in bs:
        sink.write("shop.items", 1, b)
        sink.commit({"lsn": last_pos(b)})
    sink.close()
    root = tmp_path / "cdc"
    (root / "shop.items").mkdir(parents=True)
    for i, b in enumerate(bs):
        pq.write_table(pa.Table.from_batches([b]), root / "shop.items" / f"{i:04}.parquet")

    report = verify(dsn, f"parquet:{root}", ["shop.items"])
    assert report.equal, report.summary()
    assert report.tables[0].source_rows == 3
    with _pg(dsn) as conn:
        conn.execute("DELETE FROM shop.items WHERE id = 22")  # the files still hold it: extra
        conn.execute("UPDATE shop.items SET name = 'edited' WHERE id = 21")
        conn.execute("INSERT INTO shop.items (id, name) VALUES (99, 'only in source')")
    report = verify(dsn, root, ["shop.items"])
    t = report.tables[0]
    assert (t.missing, t.extra, t.different) == ([(99,)], [(22,)], [(21,)])
    assert (
        main_verify(["--source", dsn, "--against", f"parquet:{root}", "--tables", "shop.items"])
        == 1
    )


def test_missing_target_table_is_a_difference(postgres):
    src, dst = _pg_databases(postgres)
    with _pg(dst) as conn:
        conn.execute("DROP TABLE shop.pairs")
    report = verify(src, dst, ["shop.pairs"])
    assert not report.equal
    assert report.tables[0].problems == ["the target table does not exist"]


@pytest.mark.parametrize("bad", [["--source", "ftp://x", "--against", "/nonexistent"]])
def test_bad_urls_exit_with_the_error_code(bad, capsys):
    assert main_verify(bad) == 2
    assert "arrowtail verify:" in capsys.readouterr().err


def test_postgres_source_against_mariadb_target_across_engines(postgres, mariadb):
    """The same change batches applied to both engines: equal after normalisation; a changed
    value on one side is found by key."""
    with postgres.connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS vcross")
        conn.execute("CREATE DATABASE vcross")
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/vcross"
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS sinktest")
    conn.close()
    pg = PostgresTargetSink(dsn, create_tables=True)
    my = MySqlTargetSink(
        mariadb.host,
        mariadb.port,
        mariadb.user,
        mariadb.password,
        mariadb.database,
        create_tables=True,
        sink_name="cross",
    )
    for sink, kind, key in ((pg, "postgres", "lsn"), (my, "mysql", "pos")):
        sink.open()
        for b in batches("sinktest.items", kind):
            sink.write("sinktest.items", 1, b)
            sink.commit({key: last_pos(b)})
        sink.close()
    report = verify(dsn, mariadb.url + "sinktest", ["sinktest.items"])
    assert report.equal, report.summary()
    assert report.tables[0].source_rows == 3
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute("UPDATE sinktest.items SET price = price + 1 WHERE id = 21")
    conn.close()
    assert verify(dsn, mariadb.url + "sinktest", ["sinktest.items"]).tables[0].different == [(21,)]


def test_keyless_tables_stream_and_spill_past_the_memory_limit(postgres, mariadb, monkeypatch):
    """A table without a key is read as it streams from both engines (a server-side stream,
    MySQL's unbuffered cursor), and past the memory limit both sides go through partition
    files, with the same findings as in memory."""
    import arrowtail.verify.compare as compare

    dsn = postgres.dsn_for(postgres.user, None, "vkeyless")
    with fresh_db(postgres, "vkeyless") as conn:
        conn.execute("CREATE SCHEMA vkeyless")
        conn.execute("CREATE TABLE vkeyless.log (at int, msg text, amount numeric(8,2))")
        conn.execute(
            "INSERT INTO vkeyless.log SELECT g % 50, 'm' || (g % 13), (g % 5) * 0.25"
            " FROM generate_series(1, 3000) g"
        )
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS vkeyless")
        cur.execute("CREATE DATABASE vkeyless")
        cur.execute("USE vkeyless")
        cur.execute("CREATE TABLE vkeyless.log (at int, msg text, amount decimal(8,2))")
        cur.execute(
            "INSERT INTO vkeyless.log SELECT seq % 50, CONCAT('m', seq % 13), (seq % 5) * 0.25"
            " FROM seq_1_to_3000"
        )
        # One of the five copies of a row short, one row the source lacks.
        cur.execute("DELETE FROM vkeyless.log WHERE at = 7 AND msg = 'm7' LIMIT 1")
        cur.execute("INSERT INTO vkeyless.log VALUES (99, 'new', 1)")
    my.close()
    spills = []
    spilled = compare._spilled
    monkeypatch.setattr(compare, "_spilled", lambda *a: spills.append(1) or spilled(*a))

    def found():
        report = verify(dsn, mariadb.url + "vkeyless", ["vkeyless.log"], recheck_times=0)
        t = report.tables[0]
        return t.source_rows, t.missing, t.extra

    wanted = (3000, [(7, "m7", Decimal("0.50"))], [(99, "new", Decimal("1.00"))])
    assert found() == wanted and not spills
    monkeypatch.setattr(compare, "KEYLESS_MEMORY_ROWS", 100)
    assert found() == wanted and spills


def test_across_engines_in_chunks_and_with_differently_ordered_text_keys(postgres, mariadb):
    """Integer keys are compared in chunks; text keys, which PostgreSQL (collation C here) and
    MariaDB (case-insensitive) order differently, in one range, so ranges cut on one side never
    split the other side wrongly."""
    keys = [f"{chr((65 if i % 2 else 97) + i % 26)}-{i}" for i in range(600)]
    with postgres.connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS vkeys")
        conn.execute("CREATE DATABASE vkeys")
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/vkeys"
    rows = [(k, i) for i, k in enumerate(keys)]
    with _pg(dsn) as conn:
        conn.execute("CREATE SCHEMA vkv")
        conn.execute('CREATE TABLE vkv.t (k text COLLATE "C" PRIMARY KEY, v int)')
        conn.execute("CREATE TABLE vkv.n (n int PRIMARY KEY, k text)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO vkv.t VALUES (%s, %s)", rows)
            cur.executemany("INSERT INTO vkv.n VALUES (%s, %s)", [(i, k) for k, i in rows])
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS vkv")
        cur.execute("CREATE DATABASE vkv")
        cur.execute(
            "CREATE TABLE vkv.t (k VARCHAR(20) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT)"
        )
        cur.execute("CREATE TABLE vkv.n (n INT PRIMARY KEY, k VARCHAR(20))")
        cur.executemany("INSERT INTO vkv.t VALUES (%s, %s)", rows)
        cur.executemany("INSERT INTO vkv.n VALUES (%s, %s)", [(i, k) for k, i in rows])
    report = verify(dsn, mariadb.url + "vkv", ["vkv.t", "vkv.n"], chunk_rows=50)
    assert report.equal, report.summary()
    by_name = {t.table: t for t in report.tables}
    assert by_name["vkv.t"].chunks == 1 and by_name["vkv.t"].source_rows == 600
    assert by_name["vkv.n"].chunks == 12 and by_name["vkv.n"].source_rows == 600
    with conn.cursor() as cur:
        cur.execute("UPDATE vkv.t SET v = -1 WHERE k = %s", (keys[123],))
        cur.execute("DELETE FROM vkv.t WHERE k = %s", (keys[7],))
        cur.execute("UPDATE vkv.n SET k = 'x' WHERE n = 321")
        cur.execute("DELETE FROM vkv.n WHERE n = 49")
        cur.execute("INSERT INTO vkv.n VALUES (1000, 'new')")
    conn.close()
    by_name = {t.table: t for t in verify(dsn, mariadb.url + "vkv", chunk_rows=50).tables}
    t, n = by_name["vkv.t"], by_name["vkv.n"]
    assert (t.missing, t.extra, t.different) == ([(keys[7],)], [], [(keys[123],)])
    assert (n.missing, n.extra, n.different) == ([(49,)], [(1000,)], [(321,)])


def test_source_password_from_the_environment(mariadb, monkeypatch, capsys):
    _maria_databases(mariadb)
    no_password = f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/vsrc"
    args = [
        "--source", no_password, "--against", mariadb.url + "vdst",
        "--map", "vsrc.items=vdst.items", "--map", "vsrc.pairs=vdst.pairs",
        "--password-env", "VERIFY_TEST_PW",
    ]  # fmt: skip
    monkeypatch.delenv("VERIFY_TEST_PW", raising=False)
    assert main_verify(args) == 2
    assert "VERIFY_TEST_PW" in capsys.readouterr().err
    monkeypatch.setenv("VERIFY_TEST_PW", mariadb.password)
    assert main_verify(args) == 0
    monkeypatch.setenv("VERIFY_TEST_PW", "wrong-pw-0000")
    assert main_verify(args) == 3
    err = capsys.readouterr().err
    assert "cannot connect" in err and "wrong-pw-0000" not in err


def test_row_hashes_and_the_text_digest_for_types_without_a_hash(postgres, caplog):
    """Ranges are compared by row hashes where every column type has a hash function and by the
    digest of the rows' text where one has not (json): both find the same planted change."""
    src, dst = _pg_databases(postgres)
    for dsn in (src, dst):
        with _pg(dsn) as conn:
            conn.execute("CREATE TABLE shop.docs (id int PRIMARY KEY, doc json, at point)")
            conn.execute(
                "INSERT INTO shop.docs SELECT g, json_build_object('g', g), point(g, -g)"
                " FROM generate_series(1, 600) g"
            )
    caplog.set_level("INFO", logger="arrowtail.verify.compare")
    report = verify(src, dst, ["shop.items", "shop.docs"], chunk_rows=100, leaf_rows=16)
    assert report.equal, report.summary()
    fallbacks = [
        r.getMessage() for r in caplog.records if "row hashes unavailable" in r.getMessage()
    ]
    assert len(fallbacks) == 1 and fallbacks[0].startswith("shop.docs:"), fallbacks
    with _pg(dst) as conn:
        conn.execute("UPDATE shop.docs SET doc = '{\"g\": 0}' WHERE id = 321")
        conn.execute("UPDATE shop.items SET price = price + 0.01 WHERE id = 1234")
    report = verify(src, dst, ["shop.items", "shop.docs"], chunk_rows=100, leaf_rows=16)
    by_name = {t.table: t for t in report.tables}
    assert by_name["shop.docs"].different == [(321,)] and by_name["shop.items"].different == [
        (1234,)
    ]
    assert by_name["shop.items"].chunks_fetched == 1  # bisected down to one small range


def _maria_capture(mariadb, tmp_path, db: str, setup: list[str], changes: list[str]):
    """A fresh MariaDB database ``db`` made by ``setup``, its tables captured into Parquet (an
    initial snapshot, then ``changes`` streamed); the open connection and the output."""
    from tests.support import mysql_run

    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
        for statement in setup:
            cur.execute(statement)
    mariadb.grant_capture(db)
    out = tmp_path / "out"
    proc = mysql_run.start_streaming(
        mariadb, mariadb.capture_url, out, "--tables", f"{db}.*", "--snapshot", "initial",
        "--idle-exit", "2",
    )  # fmt: skip
    with conn.cursor() as cur:
        for statement in changes:
            cur.execute(statement)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return conn, out


def test_mariadb_zero_dates_and_inet4_against_parquet(mariadb, tmp_path):
    """MariaDB's zero dates are stored as null and INET4 as its 4 bytes; verify reads the
    source the same way (PyMySQL gives '0000-00-00' and the dotted text), and still finds a
    zero date changed behind the capture's back."""
    setup = [
        "SET SESSION sql_mode = ''",
        "CREATE TABLE vzero.t (id INT PRIMARY KEY, d DATE, dtm DATETIME(3),"
        " ts TIMESTAMP NULL, ip INET4)",
        "INSERT INTO vzero.t VALUES (1, '0000-00-00', '0000-00-00 00:00:00', 0,"
        " '192.168.0.1'), (2, '2024-02-29', '2024-02-29 12:00:00.5', NOW(), '0.0.0.0'),"
        " (3, NULL, NULL, NULL, NULL)",
    ]
    changes = [
        "SET SESSION sql_mode = ''",
        "INSERT INTO vzero.t SELECT id + 10, d, dtm, ts, ip FROM vzero.t",
        "UPDATE vzero.t SET ip = '10.0.0.1' WHERE id = 11",
    ]
    conn, out = _maria_capture(mariadb, tmp_path, "vzero", setup, changes)

    source = mariadb.url + "vzero"
    report = verify(source, f"parquet:{out}", tables=["vzero.t"])
    assert report.equal, report.summary()
    with conn.cursor() as cur:
        cur.execute("UPDATE vzero.t SET d = '2024-01-01' WHERE id = 11")
    conn.close()
    report = verify(source, f"parquet:{out}", tables=["vzero.t"])
    (table,) = report.tables
    assert table.different == [(11,)] and not table.missing and not table.extra


def test_a_schema_whose_name_holds_a_dot(postgres, tmp_path):
    """``"my.sch".t`` is captured as ``my.sch.t``; verify used to split that at the first dot
    and find no such table."""
    from tests.support.cli import cli

    with postgres.connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS vdot")
        conn.execute("CREATE DATABASE vdot")
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/vdot"
    with _pg(dsn) as conn:
        conn.execute('CREATE SCHEMA "my.sch"; CREATE TABLE "my.sch".t (id int PRIMARY KEY, v text)')
        conn.execute("""INSERT INTO "my.sch".t VALUES (1, 'a'), (2, 'b')""")
        conn.execute('CREATE PUBLICATION vdot FOR TABLE "my.sch".t')
    out = tmp_path / "out"
    run = cli(
        "run", "--source", dsn, "--slot", "vdot", "--publication", "vdot",
        "--snapshot", "initial", "--to", f"parquet:{out}", "--idle-exit", "1",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (out / "my.sch.t").is_dir()
    report = verify(dsn, f"parquet:{out}")
    assert [t.table for t in report.tables] == ["my.sch.t"]
    assert report.equal, report.summary()
    with _pg(dsn) as conn:
        conn.execute("""UPDATE "my.sch".t SET v = 'edited' WHERE id = 2""")
        conn.execute("SELECT pg_drop_replication_slot('vdot')")
    report = verify(dsn, f"parquet:{out}")
    assert report.tables[0].different == [(2,)]


def test_a_keyless_table_by_the_key_columns_named_to_verify(mariadb, tmp_path):
    """A table without a primary key, captured into Parquet as it is (updates and deletes carry
    the whole old row), is compared by the unique columns named with ``key_columns``, and
    without them as a multiset of whole rows: identical rows count one by one."""
    setup = [
        "CREATE TABLE vkeyless.t (code VARCHAR(8) NOT NULL, n INT, note TEXT)",
        "INSERT INTO vkeyless.t VALUES ('c1', 1, 'a'), ('c2', 2, 'b'), ('c3', 3, NULL)",
        "CREATE TABLE vkeyless.log (at INT, msg TEXT)",
        "INSERT INTO vkeyless.log VALUES (1, 'x'), (1, 'x'), (1, 'x'), (2, NULL)",
    ]
    changes = [
        "UPDATE vkeyless.t SET n = 20, note = 'moved' WHERE code = 'c2'",
        "UPDATE vkeyless.t SET code = 'c9' WHERE code = 'c1'",
        "DELETE FROM vkeyless.t WHERE code = 'c3'",
        "INSERT INTO vkeyless.t VALUES ('c4', 4, 'd')",
        # One of three identical rows goes, one changes; a fourth copy arrives.
        "DELETE FROM vkeyless.log WHERE at = 1 LIMIT 1",
        "UPDATE vkeyless.log SET msg = 'y' WHERE at = 1 LIMIT 1",
        "INSERT INTO vkeyless.log VALUES (2, NULL)",
    ]
    conn, out = _maria_capture(mariadb, tmp_path, "vkeyless", setup, changes)

    source = mariadb.url + "vkeyless"
    tables = ["vkeyless.t", "vkeyless.log"]
    report = verify(source, f"parquet:{out}", tables=tables)
    assert report.equal, report.summary()
    assert [(t.primary_key, t.source_rows) for t in report.tables] == [((), 3), ((), 4)]
    keyed = verify(source, f"parquet:{out}", tables=tables[:1], key_columns=["vkeyless.*:code"])
    assert keyed.equal and keyed.tables[0].primary_key == ("code",), keyed.summary()
    with conn.cursor() as cur:
        cur.execute("UPDATE vkeyless.t SET note = 'behind its back' WHERE code = 'c9'")
        cur.execute("DELETE FROM vkeyless.log WHERE msg IS NULL LIMIT 1")
    conn.close()
    keyed = verify(source, f"parquet:{out}", tables=tables[:1], key_columns=["vkeyless.t:code"])
    (table,) = keyed.tables
    assert table.different == [("c9",)] and not table.missing and not table.extra
    report = verify(source, f"parquet:{out}", tables=tables)
    t, log = report.tables
    assert t.missing == [("c9", 1, "behind its back")] and t.extra == [("c9", 1, "a")]
    assert not log.missing and log.extra == [(2, None)]


def test_names_with_spaces_quotes_and_a_slash(postgres, tmp_path):
    """A table named ``"My Schema"."Odd ""Table"" /x"`` reaches a PostgreSQL target (whose
    catalog look-up took the name unquoted: 'invalid name syntax') and a Parquet directory (its
    folder name escapes the slash, which verify did not undo: every row 'missing'); verify finds
    both equal."""
    from tests.support.cli import cli

    with postgres.connect() as conn:
        for db in ("vodd", "vodd_dst"):
            conn.execute(f"DROP DATABASE IF EXISTS {db}")
            conn.execute(f"CREATE DATABASE {db}")
    base = postgres.dsn.rsplit("/", 1)[0]
    dsn, target = base + "/vodd", base + "/vodd_dst"
    table = '"My Schema"."Odd ""Table"" /x"'
    with _pg(dsn) as conn:
        conn.execute('CREATE SCHEMA "My Schema"')
        conn.execute(f'CREATE TABLE {table} ("Id" int PRIMARY KEY, "Select" text, "a b" int)')
        conn.execute(f"INSERT INTO {table} VALUES (1, 'x', 2), (2, 'y', 3)")
        conn.execute("CREATE PUBLICATION vodd FOR ALL TABLES")
    out = tmp_path / "out"
    for slot, to in (("vodd_db", [target, "--create-tables"]), ("vodd_pq", [f"parquet:{out}"])):
        run = cli(
            "run", "--source", dsn, "--slot", slot, "--publication", "vodd", "--snapshot",
            "initial", "--to", *to, "--idle-exit", "1",
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
    assert (out / 'My Schema.Odd "Table" %2Fx').is_dir()
    with _pg(target) as conn:
        assert conn.execute(f'SELECT "Id", "Select", "a b" FROM {table} ORDER BY 1').fetchall() == [
            (1, "x", 2),
            (2, "y", 3),
        ]
    for against in (target, f"parquet:{out}"):
        report = verify(dsn, against)
        assert [t.table for t in report.tables] == ['My Schema.Odd "Table" /x']
        assert report.equal and report.tables[0].source_rows == 2, report.summary()
    with _pg(dsn) as conn:
        conn.execute(f'UPDATE {table} SET "Select" = \'edited\' WHERE "Id" = 2')
        for slot in ("vodd_db", "vodd_pq"):
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    for against in (target, f"parquet:{out}"):
        assert verify(dsn, against).tables[0].different == [(2,)]


#: A real (single precision) one unit in the last place above 1.5 / 9 (0.16666667).
NEXT_FLOAT = "0.16666669"


def test_single_precision_columns_compare_by_every_digit(postgres, mariadb, tmp_path):
    """MariaDB's text protocol gives a FLOAT six digits. A PostgreSQL ``real`` streamed into a
    MariaDB FLOAT (and a MariaDB FLOAT captured into Parquet) holds the same single-precision
    value, which verify must find equal, not different in the seventh digit; and a value moved
    by one unit in the last place, on a MariaDB target, a MariaDB source or between two
    MariaDB databases (whose digests compare first), must be found."""
    from tests.support.two_targets import stream_into_both

    src = fresh_db(postgres, "vfloat_src")
    src.execute(
        "CREATE TABLE vf (id int PRIMARY KEY, f4 real, f8 float8);"
        " INSERT INTO vf SELECT g, 1.5::real / g, 1.5::float8 / g FROM generate_series(1, 30) g;"
        " CREATE PUBLICATION vfp FOR TABLE vf"
    )
    fresh_db(postgres, "vfloat_dst").close()
    two = stream_into_both(postgres, mariadb, src, "vfloat", "vfp")
    src.execute("INSERT INTO vf SELECT g, 1.5::real / g, 1.5 / g FROM generate_series(31, 40) g")
    src.execute("UPDATE vf SET f4 = f4 * 3 WHERE id % 4 = 0")
    two.finish()
    for out in two.verify("public.vf"):
        assert "public.vf: equal (40 rows" in out
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"UPDATE public.vf SET f4 = {NEXT_FLOAT} WHERE id = 9")
        cur.execute("SELECT f4, CAST(f4 AS DOUBLE) FROM public.vf WHERE id = 9")
        # One unit up (0.16666667 is 0.1666666716337204); the text protocol shows neither.
        assert cur.fetchone() == (0.166667, 0.1666666865348816)
    report = verify(two.source_url, mariadb.url + "public", ["public.vf"])
    assert report.tables[0].different == [(9,)], report.summary()

    # A MariaDB FLOAT at the source, captured into Parquet (k by the snapshot alone, f by the
    # binlog too), and a copy in another database.
    setup = [
        "CREATE TABLE vfm.t (id INT PRIMARY KEY, f FLOAT, g FLOAT(7,4), d DOUBLE, k FLOAT)",
        "INSERT INTO vfm.t SELECT seq, 1.5 / seq, seq / 7, 1.5 / seq, 16777216 + 2 * seq"
        " FROM vfm.seq_1_to_30",
        "CREATE DATABASE vfm_copy",
        "CREATE TABLE vfm_copy.t LIKE vfm.t",
        "INSERT INTO vfm_copy.t SELECT * FROM vfm.t",
    ]
    conn, out = _maria_capture(mariadb, tmp_path, "vfm", setup, ["UPDATE vfm.t SET f = f * 3"])
    with conn.cursor() as cur:
        cur.execute("UPDATE vfm_copy.t SET f = f * 3")
    stored = pa.concat_tables(pq.read_table(p) for p in sorted((out / "vfm.t").glob("*.parquet")))
    snapshot = stored.filter(pc.equal(stored["_op"], "r"))
    # Exact single-precision integers, which a FLOAT's six-digit text makes 16777200.
    assert sorted(snapshot["k"].to_pylist()) == [16777216.0 + 2 * i for i in range(1, 31)]
    report = verify(mariadb.url + "vfm", f"parquet:{out}", tables=["vfm.t"])
    assert report.equal, report.summary()
    # Two MariaDB databases compare by the server's digest of each chunk first.
    side = DbSide.from_url(mariadb.url + "vfm")
    cols = ["id", "f", "g", "d", "k"]

    def digests() -> tuple[tuple[int, str], tuple[int, str]]:
        return tuple(side.digest(t, cols, ("id",), None, None) for t in ("vfm.t", "vfm_copy.t"))

    same = digests()
    assert same[0] == same[1]
    with conn.cursor() as cur:
        cur.execute("UPDATE vfm.t SET f = 0.5 WHERE id = 3")  # was 1.5 (1.5 / 3 * 3)
        cur.execute(f"UPDATE vfm_copy.t SET f = {NEXT_FLOAT} * 3 WHERE id = 9")
        cur.execute("SELECT f FROM vfm_copy.t WHERE id = 9")
        assert cur.fetchone() == (0.5,)  # the six digits the text protocol gives
    report = verify(mariadb.url + "vfm", f"parquet:{out}", tables=["vfm.t"])
    assert report.tables[0].different == [(3,)], report.summary()
    with conn.cursor() as cur:
        cur.execute("UPDATE vfm.t SET f = 1.5 WHERE id = 3")  # back: only id 9 differs now
    moved = digests()
    assert moved[0] != moved[1] and moved[0] == same[0]
    side.close()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE vfm_copy")
    conn.close()
    my.close()
    src.close()


def test_parquet_compared_range_by_range_where_keys_sort_alike(postgres, tmp_path, monkeypatch):
    """A replayed Parquet table whose key columns sort as the source's (an integer, a
    timestamp with a date) is cut into the source's key ranges: each range's rows are made
    Python values alone, not the whole table's. Differences in any range are still found, a
    key deleted at the source included; a text key is compared whole, as before."""
    from arrowtail.pipeline import Pipeline
    from arrowtail.sinks.parquet import ParquetSink
    from arrowtail.sources.postgres.source import PostgresSource
    from arrowtail.verify.sides import ParquetSide

    src = fresh_db(postgres, "vrange")
    src.autocommit = True
    src.execute(
        "CREATE TABLE n (id bigint PRIMARY KEY, v text);"
        " INSERT INTO n SELECT g, 'v' || g FROM generate_series(1, 25000) g;"
        " CREATE TABLE w (at timestamptz, day date, v int, PRIMARY KEY (at, day));"
        " INSERT INTO w SELECT timestamptz '2026-01-01 00:00:00+00' + (g % 5000) * interval '1 s',"
        "  date '2026-01-01' + g / 5000, g FROM generate_series(0, 14999) g;"
        " CREATE TABLE s (k text PRIMARY KEY, v int);"
        " INSERT INTO s SELECT 'k' || g, g FROM generate_series(1, 300) g;"
        " CREATE PUBLICATION vrangep FOR ALL TABLES"
    )
    dsn = postgres.dsn_for(postgres.user, None, "vrange")
    out = tmp_path / "cdc"
    source = PostgresSource(dsn, slot="vrange", publication="vrangep", snapshot="initial")
    Pipeline(source, ParquetSink(out), idle_exit=1).run()
    src.execute("SELECT pg_drop_replication_slot('vrange')")

    ranged: list[int] = []
    whole = ParquetSide.rows

    def counting(self, table, cols, pk, lo=None, hi=None):
        found = whole(self, table, cols, pk, lo, hi)
        if lo is not None or hi is not None:
            ranged.append(len(found))
        return found

    monkeypatch.setattr(ParquetSide, "rows", counting)
    tables = ["public.n", "public.w", "public.s"]
    report = verify(dsn, f"parquet:{out}", tables)
    assert report.equal, report.summary()
    chunks = {t.table: (t.chunks, t.source_rows) for t in report.tables}
    assert chunks == {"public.n": (3, 25000), "public.w": (2, 15000), "public.s": (1, 300)}
    # Three ranges of n and two of w, each no larger than a chunk of the source's keys.
    assert sorted(ranged) == [5000, 5000, 10000, 10000, 10000]

    src.execute(
        "DELETE FROM n WHERE id = 12345; UPDATE n SET v = 'x' WHERE id = 24999;"
        " INSERT INTO n VALUES (30000, 'new');"
        " UPDATE w SET v = -1 WHERE at = timestamptz '2026-01-01 00:00:07+00'"
        "  AND day = date '2026-01-03'"
    )
    report = verify(dsn, f"parquet:{out}", tables)
    n, w, s = report.tables
    assert (n.missing, n.extra, n.different) == ([(30000,)], [(12345,)], [(24999,)])
    assert (w.missing, w.extra, len(w.different)) == ([], [], 1), report.summary()
    assert s.equal, report.summary()
    src.close()
