"""PostgreSQL -> Iceberg and Delta Lake mirrors under kill -9: a workload of inserts, updates,
deletes, key changes and truncates runs while ``arrowtail run --to iceberg:/delta:`` is SIGKILLed
at random moments (12 times); a last clean run catches up. Then readers that arrowtail did not
write check the result: ``arrowtail verify`` compares the mirror with the source table, DuckDB's
iceberg and delta extensions and Spark (local mode, Iceberg's and Delta's Spark runtimes) read
it, and the commits' high-water marks show that no flush was applied twice (each table commit's
``(_pos, _seq)`` lies above the one before it)."""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from arrowtail.sinks.lake import delta as delta_lake
from arrowtail.sinks.lake import iceberg as iceberg_lake
from tests.support import pg_run
from tests.support.chaos import start_arrowtail, wait_for
from tests.support.lake import load_duckdb_extensions
from tests.support.pg_run import create_database, env_for

DB = "lake_pg"
PUB = "lake_pub"
ROUNDS = 30
KILLS = 12

SCHEMA = """
CREATE TABLE accounts (id int PRIMARY KEY, v bigint NOT NULL, s text, tags text[],
                       ts timestamptz, amount numeric(12,3));
CREATE TABLE pairs (a int, b text, n int, PRIMARY KEY (a, b));
"""


@pytest.fixture(scope="module")
def database(postgres: Any) -> Iterator[Any]:
    create_database(postgres, DB, SCHEMA, publication=PUB)
    with postgres.connect(dbname=DB) as conn:
        yield conn


def workload_round(conn: Any, r: int) -> None:
    base = r * 500
    with conn.transaction():
        conn.execute(
            "INSERT INTO accounts SELECT g, g %% 97, md5(g::text), ARRAY[g::text, 'x'], now(), "
            "g / 7.0 FROM generate_series(%s::int, %s::int) g",
            (base + 1, base + 500),
        )
        conn.execute(
            "UPDATE accounts SET v = v + 1, s = s || 'u', tags = tags || 'u'::text "
            "WHERE id BETWEEN %s AND %s",
            (base - 700, base - 501),
        )
        conn.execute("DELETE FROM accounts WHERE id BETWEEN %s AND %s", (base - 1500, base - 1401))
        conn.execute(
            "INSERT INTO pairs SELECT g %% 50, 'k' || g, g "
            "FROM generate_series(%s::int, %s::int) g "
            "ON CONFLICT (a, b) DO UPDATE SET n = pairs.n + 1",
            (base, base + 20),
        )
    # A key change, and now and then a truncate.
    conn.execute("UPDATE accounts SET id = id + 1000000 WHERE id = %s", (base + 7,))
    if r % 10 == 5:
        conn.execute("TRUNCATE pairs")


def _state(fmt: str, location: Path) -> Any:
    """The position the sink has stored (None before its first flush)."""
    if fmt == "delta":
        sink = delta_lake.DeltaSink(str(location))
        return sink._read_state() if location.is_dir() else None
    if not (location / "catalog.db").exists():
        return None
    iceberg = iceberg_lake.IcebergSink(str(location))
    try:
        return iceberg._read_state()
    finally:
        iceberg.catalog.engine.dispose()  # leave no SQLite connection open beside the writer


def _stored_or_ended(fmt: str, location: Path, before: Any, child: Any) -> bool:
    return _state(fmt, location) != before or child.proc.poll() is not None


def _high_waters(fmt: str, location: Path, table: str) -> list[tuple[int, int]]:
    """Each flush's high-water mark of ``table``, oldest first."""
    if fmt == "iceberg":
        schema, name = table.split(".")
        t = iceberg_lake.load_catalog(str(location)).load_table((schema, name))
        marks = []
        for snap in t.snapshots():  # oldest first
            mark = snap.summary.get("arrowtail.high_water")
            if mark and (not marks or marks[-1] != mark):
                marks.append(mark)
    else:
        import deltalake

        history = deltalake.DeltaTable(str(location / table)).history()
        marks = [
            h["arrowtail.high_water"] for h in reversed(history) if h.get("arrowtail.high_water")
        ]
    return [tuple(int(x) for x in m.split(":")) for m in marks]


@pytest.fixture(scope="module")
def spark(tmp_path_factory: Any) -> Iterator[Any]:
    """A local Spark session with Iceberg's and Delta's Spark runtimes (jars fetched from Maven
    Central by scripts/fetch-spark-jars.sh), its own warehouse directory in a temporary one
    (Spark makes ``spark-warehouse`` in the working directory otherwise)."""
    from pyspark.sql import SparkSession

    cache = Path(os.environ.get("ARROWTAIL_CACHE", Path.home() / ".cache" / "arrowtail"))
    jars = sorted(str(p) for p in (cache / "spark-jars").glob("*.jar"))
    assert len(jars) == 4, f"Spark jars missing under {cache}/spark-jars: run ./run setup"
    session = (
        SparkSession.builder.master("local[1]")
        .appName("arrowtail-tests")
        .config("spark.jars", ",".join(jars))
        .config("spark.driver.memory", "512m")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .config(
            "spark.sql.extensions",
            "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions,"
            "io.delta.sql.DeltaSparkSessionExtension",
        )
        .config(
            "spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"
        )
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _spark_rows(spark: Any, fmt: str, location: Path) -> list[tuple]:
    """``accounts`` as Spark reads it: Iceberg through pyiceberg's own SQLite catalog (a JDBC
    catalog of the same name), Delta by path."""
    if fmt == "iceberg":
        prefix = "spark.sql.catalog.arrowtail"
        spark.conf.set(prefix, "org.apache.iceberg.spark.SparkCatalog")
        spark.conf.set(f"{prefix}.type", "jdbc")
        spark.conf.set(f"{prefix}.uri", f"jdbc:sqlite:{location / 'catalog.db'}")
        spark.conf.set(f"{prefix}.jdbc.schema-version", "V1")
        spark.conf.set(f"{prefix}.warehouse", (location / "warehouse").as_uri())
        stored = spark.sql(
            "SELECT summary['arrowtail.position'] FROM arrowtail.public.accounts.snapshots"
        ).collect()
        assert stored and stored[-1][0], stored
        table = "arrowtail.public.accounts"
    else:
        table = f"delta.`{location / 'public.accounts'}`"
    rows = spark.sql(f"SELECT id, v, s, tags FROM {table} ORDER BY id").collect()
    return [tuple(r) for r in rows]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_kill_loop_mirror_equals_the_source(
    postgres: Any, database: Any, spark: Any, tmp_path: Path, fmt
):
    slot = f"lake_{fmt}"
    database.execute("TRUNCATE accounts, pairs")
    database.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
    location = tmp_path / fmt
    spec = f"{fmt}:{location}?commit_interval=1"
    env = env_for(postgres)

    def args(*extra: str) -> list[str]:
        source = ["--source", postgres.capture_dsn(DB), "--password-env", pg_run.PASSWORD_ENV]
        return ["run", *source, "--to", spec, "--slot", slot, "--publication", PUB, *extra]

    work = postgres.connect(dbname=DB)
    rng = random.Random(20261202)
    rounds = iter(range(1, ROUNDS + 1))
    try:
        for i in range(KILLS):
            # Two rounds of changes arrive while each run streams; the run is killed at a random
            # moment after it has stored something, so kills land between flushes, inside them
            # and between a table commit and the state record.
            before = _state(fmt, location)
            child = start_arrowtail(args("--idle-exit", "600"), env, tmp_path, f"k{i}")
            for r in itertools.islice(rounds, 2):
                workload_round(work, r)
            wait_for(
                partial(_stored_or_ended, fmt, location, before, child),
                f"run {i} to store a flush",
                timeout=180,
            )
            time.sleep(rng.uniform(0.0, 1.5))  # the kill moment, not a synchronisation
            assert child.proc.poll() is None, child.output()
            child.kill()
        for r in rounds:
            workload_round(work, r)
    finally:
        work.close()
    final = start_arrowtail(args("--idle-exit", "3"), env, tmp_path, "final")
    assert final.wait(timeout=300) == 0, final.output()
    pg_run.drop_slot(postgres, DB, slot)

    # arrowtail verify: the mirror against the source, value by value.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "arrowtail.cli",
            "verify",
            "--source",
            postgres.capture_dsn(DB),
            "--password-env",
            pg_run.PASSWORD_ENV,
            "--against",
            f"{fmt}:{location}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "public.accounts: equal" in done.stdout and "public.pairs: equal" in done.stdout

    # DuckDB, reading the table format itself.
    import duckdb

    con = duckdb.connect()
    load_duckdb_extensions(con)
    if fmt == "iceberg":
        meta = iceberg_lake.load_catalog(str(location)).load_table(("public", "accounts"))
        scan = f"iceberg_scan('{meta.metadata_location}')"
    else:
        scan = f"delta_scan('{location / 'public.accounts'}')"
    got = con.execute(f"SELECT id, v, s, tags FROM {scan} ORDER BY id").fetchall()
    want = database.execute("SELECT id, v, s, tags FROM accounts ORDER BY id").fetchall()
    assert [tuple(r) for r in got] == [tuple(r) for r in want]
    assert len(want) > 5000

    # Spark, with the formats' own Spark runtimes.
    assert _spark_rows(spark, fmt, location) == [tuple(r) for r in want]

    # No flush applied twice: every commit of a table goes past the one before it.
    for table in ("public.accounts", "public.pairs"):
        marks = _high_waters(fmt, location, table)
        assert len(marks) >= 3, (table, marks)
        assert marks == sorted(set(marks)), (table, marks)


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_demo_into_lake_tables_prints_a_query_duckdb_runs(tmp_path: Path, fmt: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "arrowtail.cli",
            "demo",
            "--rows",
            "2000",
            "--to",
            f"{fmt}:{tmp_path / fmt}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for table in ("public.customers", "public.orders", "public.products"):
        assert f"{table}: equal" in done.stdout, done.stdout
    query = next(line for line in done.stdout.splitlines() if "duckdb -c" in line)
    sql = query.split('"', 1)[1].rsplit('"', 1)[0].split(";", 1)[1]
    import duckdb

    con = duckdb.connect()
    load_duckdb_extensions(con)
    counts = dict(con.execute(sql).fetchall())
    assert sum(counts.values()) == 1800 and set(counts) == {"new", "shipped"}, counts
