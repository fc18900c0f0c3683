"""Every type of the type mapping through every sink: one workload per source engine, captured
once per sink by ``arrowtail run`` processes that run side by side, then each output compared
with the source table.

Sources: PostgreSQL (tables under REPLICA IDENTITY DEFAULT and FULL; arrays of six element types,
an enum's included; enum, domain, numeric NaN/±Infinity, ±infinity dates and timestamps, interval,
json/jsonb, uuid, bytea, timetz, money, inet, a TOASTed text) and MariaDB (binlog row images FULL
and MINIMAL; SET, ENUM, BIT, JSON, GEOMETRY, negative TIME, zero dates, UUID). Sinks: Parquet, JSON
lines and Kafka (replayed by key and compared with ``SELECT``), a PostgreSQL and a MySQL/MariaDB
target (compared through the verify module: ``verify()`` for PostgreSQL to PostgreSQL, its
normalised rows across engines, of every column from PostgreSQL, whose arrays MariaDB's own JSON
functions also read, and of the columns both engines have from MariaDB; MariaDB to MariaDB runs in
this process, into another database through ``table_map``). The workload has inserts (one row NULL
in every column), updates of non-key columns, of arrays only, of the primary key (with an unchanged
TOAST value that must travel to the new key), deletes, and a truncate (PostgreSQL; ``DELETE FROM``
on MariaDB) followed by new rows. Each value MySQL cannot represent (NaN and infinite numbers,
±infinity dates and timestamps) is one SinkError naming the table and the column."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from psycopg import sql

from arrowtail.exceptions import SinkError
from arrowtail.sinks.database import MySqlTargetSink, PostgresTargetSink
from arrowtail.verify import verify
from arrowtail.verify.sides import DbSide, same_row
from tests.support.batches import make_batch
from tests.support.chaos import wait_for
from tests.support.kafka_topics import consume_until_quiet
from tests.support.mysql_run import dump_threads
from tests.support.replay import parquet_changes, replay
from tests.support.typematrix import (
    BITS,
    BYTES,
    DEC,
    FLOAT,
    INTERVAL,
    ISO,
    MILLIS,
    PLAIN,
    SET,
    UUID,
    ZONED_TIME,
    arrow_plain,
    assert_images_equal,
    debezium_order,
    debezium_replay,
    jsonl_events,
)

SINKS = ["parquet", "jsonl", "kafka", "postgresql", "mysql"]

# -- PostgreSQL source ----------------------------------------------------------------------------

PG_DB, PG_TARGET_DB, PG_SCHEMA = "tm_pg", "tm_pg_target", "tmpg"
PG_IDENTITIES = {"default": "t_default", "full": "t_full"}

_INTERVAL_EXPR = (
    "CASE WHEN {c} IS NULL THEN NULL ELSE ARRAY[(extract(year FROM {c}) * 12"
    " + extract(month FROM {c}))::int8, extract(day FROM {c})::int8, ((extract(hour FROM {c}) * 60"
    " + extract(minute FROM {c})) * 60000000 + extract(microseconds FROM {c}))::int8 * 1000] END"
)
_DAYS = (
    "CASE WHEN {c} IS NULL THEN NULL WHEN isfinite({c}) THEN {c} - DATE '1970-01-01'"
    " WHEN {c} > DATE '2000-01-01' THEN 2147483647 ELSE -2147483648 END"
)
_MICROS = (
    "CASE WHEN {c} IS NULL THEN NULL WHEN isfinite({c}) THEN (extract(epoch FROM {c}) * 1000000)"
    "::int8 WHEN {c} > 'epoch' THEN 9223372036854775807 ELSE -9223372036854775808 END"
)

# (column, SQL type, SQL giving the value in the comparable form, Debezium kind)
PG_COLUMNS: list[tuple[str, str, str, Any]] = [
    ("b", "bool", "{c}", PLAIN),
    ("i8", "int8", "{c}", PLAIN),
    ("f8", "float8", "{c}", FLOAT),
    ("n_c", "numeric(12,3)", "CASE WHEN {c} = 'NaN' THEN NULL ELSE {c} END", DEC),
    ("n_u", "numeric", "{c}::text", PLAIN),
    ("t", "text", "{c}", PLAIN),
    ("by", "bytea", "{c}", BYTES),
    ("d", "date", _DAYS, PLAIN),
    ("ts", "timestamp", _MICROS, PLAIN),
    ("tstz", "timestamptz", _MICROS, ISO),
    ("tm", "time", "(extract(epoch FROM {c}) * 1000000)::int8", PLAIN),
    ("ttz", "timetz", "{c}::text", ZONED_TIME),
    ("iv", "interval", _INTERVAL_EXPR, INTERVAL),
    ("u", "uuid", "{c}", UUID),
    ("j", "json", "{c}::text", PLAIN),
    ("jb", "jsonb", "{c}::text", PLAIN),
    ("m", "money", "{c}::text", PLAIN),
    ("ip", "inet", "{c}::text", PLAIN),
    ("mood", "tmpg.mood", "{c}::text", PLAIN),
    ("dom", "tmpg.posint", "{c}::int4", PLAIN),
    ("ai", "int4[]", "{c}", ("list", PLAIN)),
    ("at", "text[]", "{c}", ("list", PLAIN)),
    ("an", "numeric(8,2)[]", "{c}", ("list", DEC)),
    ("au", "uuid[]", "{c}", ("list", UUID)),
    (
        "ad",
        "date[]",
        "CASE WHEN {c} IS NULL THEN NULL ELSE ARRAY(SELECT CASE WHEN x IS NULL THEN NULL"
        " WHEN isfinite(x) THEN x - DATE '1970-01-01' WHEN x > DATE '2000-01-01'"
        " THEN 2147483647 ELSE -2147483648 END FROM unnest({c}) WITH ORDINALITY u(x, o)"
        " ORDER BY o) END",
        ("list", PLAIN),
    ),
    ("amood", "tmpg.mood[]", "{c}::text[]", ("list", PLAIN)),
    # Declared with three fraction digits: Debezium's millisecond forms, six digits less.
    ("ts3", "timestamp(3)", _MICROS, MILLIS),
    ("tz3", "timestamptz(3)", _MICROS, ISO),
    ("tm3", "time(3)", "(extract(epoch FROM {c}) * 1000000)::int8", MILLIS),
    ("big", "text", "{c}", PLAIN),
]
PG_KINDS = {c: k for c, _, _, k in PG_COLUMNS}
PG_NAMES = ["id"] + [c for c, *_ in PG_COLUMNS]

BIG = "(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 300) i)"


def _pg_row(k: int) -> str:
    """A row of ordinary values (every target holds them) depending on ``k``."""
    return (
        f"({k}, {'true' if k % 2 else 'false'}, {k * 1000003}, {k}.25, {k}.125, {k}e-7,"
        f" 'héllo {k} 🌍', '\\x00ff{k:02x}', DATE '2024-02-29' + {k},"
        f" TIMESTAMP '2024-02-29 12:34:56.789012' + {k} * interval '1 hour',"
        f" TIMESTAMPTZ '2024-02-29 12:34:56.5+02' - {k} * interval '1 day',"
        f" TIME '23:59:59.999999' - {k} * interval '1 minute', '12:00:00+05:30',"
        f" interval '1 year 2 mons -3 days 04:05:06.789' * {k},"
        f" 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd3800{k:02x}', '{{\"a\": [1, {k}]}}',"
        f' \'{{"b": {{"c": null}}, "a": {k}}}\', {k}.5, \'192.168.{k}.1/24\','
        f" '{['sad', 'ok', 'happy'][k % 3]}', {k},"
        f' \'{{1,NULL,{k}}}\', \'{{"x,y",NULL,"q\\"t",""}}\', \'{{1.50,NULL,-{k}}}\','
        f" '{{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}}', '{{2024-01-0{k % 9 + 1},NULL}}',"
        f" '{{{['sad', 'ok', 'happy'][k % 3]},NULL,happy}}',"
        f" TIMESTAMP '1969-12-31 23:59:58.25' + {k} * interval '1.001 second',"
        f" TIMESTAMPTZ '2024-02-29 12:34:56.789+02' - {k} * interval '1 day',"
        f" TIME '23:59:59.999' - {k} * interval '1.5 second', {BIG} || '{k}')"
    )


def _pg_null_row(k: int) -> str:
    return f"({k}" + ", NULL" * len(PG_COLUMNS) + ")"


PG_EDGE_COLUMNS = [
    ("n_c", "numeric(12,3)"),
    ("n_u", "numeric"),
    ("f8", "float8"),
    ("d", "date"),
    ("ts", "timestamp"),
    ("tstz", "timestamptz"),
    ("ad", "date[]"),
]
PG_EDGE_ROWS = [
    "(1, 'NaN', 'NaN', 'NaN', 'infinity', 'infinity', 'infinity', '{infinity,NULL}')",
    "(2, 1.5, 'Infinity', 'Infinity', '-infinity', '-infinity', '-infinity', '{-infinity}')",
    "(3, -2.5, '-Infinity', '-Infinity', '2024-01-01', '2024-01-01', '2024-01-01', '{}')",
]
# What the MySQL target says about each edge column (its values have no MySQL form).
PG_EDGE_MYSQL_ERRORS = {
    "f8": "NaN",
    "d": "date",
    "ts": "timestamp",
    "tstz": "timestamp",
    "ad": "date",
}


def _pg_schema() -> str:
    cols = ", ".join(f"{c} {t}" for c, t, *_ in PG_COLUMNS)
    edge = ", ".join(f"{c} {t}" for c, t in PG_EDGE_COLUMNS)
    return f"""
    CREATE SCHEMA {PG_SCHEMA};
    CREATE TYPE {PG_SCHEMA}.mood AS ENUM ('sad', 'ok', 'happy');
    CREATE DOMAIN {PG_SCHEMA}.posint AS int4 CHECK (VALUE > 0);
    CREATE TABLE {PG_SCHEMA}.t_default (id int PRIMARY KEY, {cols});
    ALTER TABLE {PG_SCHEMA}.t_default ALTER COLUMN big SET STORAGE EXTERNAL;
    CREATE TABLE {PG_SCHEMA}.t_full (id int PRIMARY KEY, {cols});
    ALTER TABLE {PG_SCHEMA}.t_full ALTER COLUMN big SET STORAGE EXTERNAL;
    ALTER TABLE {PG_SCHEMA}.t_full REPLICA IDENTITY FULL;
    CREATE TABLE {PG_SCHEMA}.t_edge (id int PRIMARY KEY, {edge});
    CREATE PUBLICATION tmpub FOR ALL TABLES;
    CREATE PUBLICATION tmpub_main FOR TABLE {PG_SCHEMA}.t_default, {PG_SCHEMA}.t_full;
    """


def _pg_before(conn: Any) -> None:
    """Rows that exist before the runs start: their initial snapshot creates the targets' tables
    (with the source's primary key, which changes under REPLICA IDENTITY FULL do not name)."""
    for table in PG_IDENTITIES.values():
        conn.execute(f"INSERT INTO {PG_SCHEMA}.{table} VALUES {_pg_row(1)}, {_pg_row(2)}")
    conn.execute(f"INSERT INTO {PG_SCHEMA}.t_edge VALUES {PG_EDGE_ROWS[2]}")


def _pg_workload(conn: Any) -> None:
    for table in PG_IDENTITIES.values():
        t = f"{PG_SCHEMA}.{table}"
        conn.execute(f"INSERT INTO {t} VALUES {_pg_row(3)}, {_pg_null_row(4)}, {_pg_row(5)}")
        conn.execute(f"UPDATE {t} SET t = 'first', at = ARRAY['z'] WHERE id = 3")
        conn.execute(f"TRUNCATE {t}")
        rows = ", ".join([_pg_row(1), _pg_row(2), _pg_row(3), _pg_null_row(4), _pg_row(5)])
        conn.execute(f"INSERT INTO {t} VALUES {rows}, {_pg_row(6)}, {_pg_row(7)}")
        # Non-key updates: the TOASTed big stays unchanged (sent as 'u' without an old image).
        conn.execute(
            f"UPDATE {t} SET t = 'upd', at = ARRAY['x', NULL, 'y,z'], ai = '{{}}',"
            " j = '[1, \"a\"]', iv = '-1 years', tstz = NULL, mood = 'ok' WHERE id IN (1, 5)"
        )
        conn.execute(f"UPDATE {t} SET ai = ai || 4, au = '{{}}' WHERE id = 6")
        conn.execute(
            f"UPDATE {t} SET t = 'was null', at = '{{}}', an = '{{NULL}}', ad = '{{NULL}}',"
            " u = '00000000-0000-0000-0000-000000000000' WHERE id = 4"
        )
        # Key changes, one with the unchanged TOAST value that must move to the new key.
        conn.execute(f"UPDATE {t} SET id = 20 WHERE id = 2")
        conn.execute(f"UPDATE {t} SET id = 21, at = ARRAY['moved'] WHERE id = 7")
        conn.execute(f"DELETE FROM {t} WHERE id IN (3, 6)")
        conn.execute(f"INSERT INTO {t} VALUES {_pg_row(6)}")
    conn.execute(f"INSERT INTO {PG_SCHEMA}.t_edge VALUES {PG_EDGE_ROWS[0]}, {PG_EDGE_ROWS[1]}")
    conn.execute(f"UPDATE {PG_SCHEMA}.t_edge SET n_u = '-Infinity' WHERE id = 1")


def _pg_expected(conn: Any, table: str) -> dict[Any, dict[str, Any]]:
    if table == "t_edge":
        exprs = [
            ("n_c", "CASE WHEN n_c = 'NaN' THEN NULL ELSE n_c END"),
            ("n_u", "n_u::text"),
            ("f8", "f8"),
            ("d", _DAYS.format(c="d")),
            ("ts", _MICROS.format(c="ts")),
            ("tstz", _MICROS.format(c="tstz")),
            ("ad", dict((c, e) for c, _, e, *_ in PG_COLUMNS)["ad"].format(c="ad")),
        ]
    else:
        exprs = [(c, e.format(c=c)) for c, _, e, *_ in PG_COLUMNS]
    select = ", ".join(f"{e} AS {c}" for c, e in exprs)
    cur = conn.execute(f"SELECT id, {select} FROM {PG_SCHEMA}.{table}")
    names = [d.name for d in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


class Cli:
    """``arrowtail run`` in a subprocess whose stderr is collected line by line as it comes."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arrowtail.cli", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def logged(self, text: str) -> bool:
        """``text`` is in the log, or the process ended (its test then reports how)."""
        return any(text in line for line in self.lines) or self.proc.poll() is not None

    def finish(self, timeout: float = 240) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return code, "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Runs:
    """The outputs of one source's workload, one ``arrowtail run`` per sink."""

    def __init__(self, tmp: Path, prefix: str, conn: Any, bootstrap: str) -> None:
        self.tmp = tmp
        self.prefix = prefix
        self.conn = conn
        self.bootstrap = bootstrap
        self.results: dict[str, tuple[int, str]] = {}

    def assert_ok(self, sink: str) -> None:
        code, err = self.results[sink]
        assert code == 0, f"{sink} run failed ({code}): {err[-3000:]}"


@pytest.fixture(scope="module")
def pg_runs(postgres: Any, mariadb: Any, kafka: Any, tmp_path_factory: Any) -> Iterator[Any]:
    admin = postgres.connect()
    for db in (PG_DB, PG_TARGET_DB):
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    conn = postgres.connect(dbname=PG_DB)
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute(_pg_schema())
    _pg_before(conn)
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {PG_SCHEMA}")
    my.close()

    tmp = tmp_path_factory.mktemp("tm_pg")
    runs = Runs(tmp, f"tm{uuid.uuid4().hex[:8]}", conn, kafka.bootstrap)
    source = postgres.dsn_for(postgres.user, None, PG_DB)
    mysql_url = f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/{mariadb.database}"
    targets = {
        "parquet": f"parquet:{tmp / 'parquet'}",
        "jsonl": f"jsonl:{tmp / 'out.jsonl'}",
        "kafka": f"kafka://{kafka.bootstrap}?topic_prefix={runs.prefix}",
        "postgresql": postgres.dsn_for(postgres.user, None, PG_TARGET_DB) + "?sink_name=tm",
        "mysql": mysql_url + "?sink_name=tm_pg",
    }
    env = dict(os.environ, ARROWTAIL_TARGET_PASSWORD=mariadb.password)
    procs = {}
    try:
        for sink, to in targets.items():
            # The MySQL target's run leaves the edge table out: it is checked value by value.
            publication = "tmpub_main" if sink == "mysql" else "tmpub"
            args = ["run", "--source", source, "--slot", f"tm_{sink}"]
            args += ["--publication", publication]
            args += ["--to", to, "--snapshot", "initial", "--idle-exit", "6"]
            if sink in ("postgresql", "mysql"):
                args.append("--create-tables")
            if sink in ("jsonl", "kafka"):
                args += ["--checkpoint", str(tmp / f"{sink}.checkpoint")]
            procs[sink] = Cli(*args, env=env)
        # A TRUNCATE is not MVCC-safe: the snapshots must be read before the workload starts.
        for sink, proc in procs.items():
            line = f"streaming slot tm_{sink}"
            wait_for(lambda p=proc, t=line: p.logged(t), f"{sink} to stream", 120)
        _pg_workload(conn)
        for sink, proc in procs.items():
            runs.results[sink] = proc.finish()
        yield runs
    finally:
        for proc in procs.values():
            proc.kill()
        for sink in procs:
            admin.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                " WHERE slot_name = %s AND NOT active",
                (f"tm_{sink}",),
            )
        conn.close()
        admin.close()


def _rekeyed(batches: list[tuple[str, int, pa.RecordBatch]]) -> list[Any]:
    """Batches keyed by ``id`` (REPLICA IDENTITY FULL names every column as key), with values in
    the comparable form."""
    out = []
    for table, version, batch in batches:
        meta = dict(batch.schema.metadata or {})
        meta[b"arrowtail.primary_key"] = b"id"
        batch = arrow_plain(batch)
        out.append((table, version, batch.replace_schema_metadata(meta)))
    return out


def _by_id(image: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {row["id"]: row for row in image.values()}


def _pg_tables(identity: str) -> list[str]:
    return [PG_IDENTITIES[identity]] + (["t_edge"] if identity == "default" else [])


@pytest.mark.parametrize("identity", list(PG_IDENTITIES))
@pytest.mark.parametrize("sink", SINKS)
def test_postgres_source(pg_runs: Any, postgres: Any, mariadb: Any, sink: str, identity: str):
    conn = pg_runs.conn
    tables = _pg_tables(identity)
    if sink == "parquet":
        pg_runs.assert_ok(sink)
        images = replay(_rekeyed(parquet_changes(pg_runs.tmp / "parquet")))
        for table in tables:
            got = _by_id(images[f"{PG_SCHEMA}.{table}"])
            assert_images_equal(got, _pg_expected(conn, table), f"parquet {table}")
    elif sink in ("jsonl", "kafka"):
        pg_runs.assert_ok(sink)
        if sink == "jsonl":
            events = jsonl_events(pg_runs.tmp / "out.jsonl")
        else:
            topics = [f"{pg_runs.prefix}.{PG_SCHEMA}.{t}" for t in tables]
            messages = consume_until_quiet(pg_runs.bootstrap, topics, quiet=2.0)
            events = [json.loads(m.value()) for m in messages if m.value() is not None]
        images = debezium_replay(debezium_order(events), PG_KINDS)
        for table in tables:
            got = images[f"{PG_SCHEMA}.{table}"]
            assert_images_equal(got, _pg_expected(conn, table), f"{sink} {table}")
    elif sink == "postgresql":
        pg_runs.assert_ok(sink)
        target = postgres.dsn_for(postgres.user, None, PG_TARGET_DB)
        table = f"{PG_SCHEMA}.{PG_IDENTITIES[identity]}"
        report = verify(postgres.dsn_for(postgres.user, None, PG_DB), target, [table])
        if not report.equal:
            with postgres.connect(dbname=PG_TARGET_DB) as copy:
                copy.execute("SET TimeZone = 'UTC'")
                got = _pg_expected(copy, PG_IDENTITIES[identity])
            assert_images_equal(got, _pg_expected(conn, PG_IDENTITIES[identity]), "target")
        assert report.equal, report.summary()
        assert report.tables[0].source_rows == 6, report.summary()
        if identity == "default":
            # ±infinity survive; a NaN in numeric(12,3) is null already in the change batch.
            with postgres.connect(dbname=PG_TARGET_DB) as copy:
                copy.execute("SET TimeZone = 'UTC'")
                got = _pg_expected(copy, "t_edge")
            assert_images_equal(got, _pg_expected(conn, "t_edge"), "postgresql t_edge")
    else:
        pg_runs.assert_ok(sink)
        table = f"{PG_SCHEMA}.{PG_IDENTITIES[identity]}"
        src = DbSide(postgres.connect(dbname=PG_DB), "postgres")
        my = mariadb.connect(database=mariadb.database)
        tgt = DbSide(my, "mysql", mariadb.database)
        try:
            want = src.rows(table, PG_NAMES, ("id",))
            got = tgt.rows(table, PG_NAMES, ("id",))
            _assert_json_arrays(conn, my, table)
        finally:
            src.close()
            tgt.close()
        assert sorted(got) == sorted(want)
        for key, row in want.items():
            assert same_row(got[key], row), f"mysql {table} row {key}: {got[key]} != {row}"
        if identity == "default":
            _edge_into_mysql(pg_runs, mariadb)


def _assert_json_arrays(conn: Any, my: Any, table: str) -> None:
    """Each array column on the MySQL target is a JSON array that MariaDB's own JSON functions
    read: as many elements as the source array, SQL NULL elements as JSON null, and the
    elements' text as the source's (PostgreSQL's text of each element)."""
    arrays = [c for c, t, *_ in PG_COLUMNS if t.endswith("[]")]
    for column in arrays:
        want = conn.execute(
            f"SELECT id, array_length({column}, 1), ARRAY(SELECT e::text FROM unnest({column})"
            f" WITH ORDINALITY u(e, o) ORDER BY o) FROM {table} ORDER BY id"
        ).fetchall()
        with my.cursor() as cur:
            cur.execute(
                f"SELECT id, JSON_VALID({column}), JSON_LENGTH({column}), {column} FROM {table}"
                " ORDER BY id"
            )
            got = cur.fetchall()
        assert [r[0] for r in got] == [r[0] for r in want], column
        for (key, length, elements), (_, valid, my_length, text) in zip(want, got, strict=True):
            if text is None:
                assert elements is None or length is None, (column, key)
                continue
            assert valid == 1, (column, key, text)
            assert my_length == (length or 0), (column, key, text)
            for i, element in enumerate(elements):
                with my.cursor() as cur:
                    cur.execute(
                        f"SELECT JSON_TYPE(JSON_EXTRACT({column}, '$[{i}]')),"
                        f" JSON_UNQUOTE(JSON_EXTRACT({column}, '$[{i}]')) FROM {table}"
                        " WHERE id = %s",
                        (key,),
                    )
                    kind, value = cur.fetchone()
                if element is None:
                    assert kind == "NULL", (column, key, i, text)
                else:
                    assert value == element, (column, key, i, text)


def _edge_into_mysql(runs: Any, mariadb: Any) -> None:
    """Each special value of the edge table, applied alone to a MySQL target, is one SinkError
    naming the table and the column."""
    batches = [b for t, _, b in parquet_changes(runs.tmp / "parquet") if t.endswith("t_edge")]
    batch = pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
    meta = [n for n in batch.schema.names if n.startswith("_")]
    for column, what in PG_EDGE_MYSQL_ERRORS.items():
        one = batch.select(["id", column, *[m for m in meta if m != "_before"]])
        sink = MySqlTargetSink(
            mariadb.host,
            mariadb.port,
            mariadb.user,
            mariadb.password,
            mariadb.database,
            create_tables=True,
            sink_name=f"tm_edge_{column}",
        )
        sink.open()
        try:
            with pytest.raises(SinkError) as raised:
                sink.write(f"{PG_SCHEMA}.t_edge_{column}", 1, one)
        finally:
            sink.close()
        message = str(raised.value)
        assert f"{PG_SCHEMA}.t_edge_{column}" in message and f"column {column}" in message, message
        assert what in message, message


# -- MariaDB source -------------------------------------------------------------------------------

MY_DB, MY_COPY_DB = "tmmy", "tmmy_copy"
MY_IDENTITIES = {"full": "t_full", "minimal": "t_minimal"}
MY_SERVER_IDS = {"parquet": 7611, "jsonl": 7612, "kafka": 7613, "postgresql": 7614, "mysql": 7615}

# (column, MariaDB type, SQL giving the comparable form, Debezium kind, compared on targets)
MY_COLUMNS: list[tuple[str, str, str, Any, bool]] = [
    ("s", "SET('x','y','z')", "{c}", SET, True),
    ("e", "ENUM('a','b','c')", "{c}", PLAIN, True),
    ("b1", "BIT(1)", "{c} + 0", BITS, True),
    ("b10", "BIT(10)", "{c} + 0", BITS, True),
    ("j", "JSON", "{c}", PLAIN, True),
    ("g", "GEOMETRY", "{c}", BYTES, True),
    ("tm", "TIME(6)", "{c}", PLAIN, True),
    (
        "dz",
        "DATE",
        "CASE WHEN {c} = '0000-00-00' THEN NULL ELSE DATEDIFF({c}, '1970-01-01') END",
        PLAIN,
        False,
    ),
    (
        "dtz",
        "DATETIME(6)",
        "CASE WHEN {c} = '0000-00-00 00:00:00' THEN NULL"
        " ELSE TIMESTAMPDIFF(MICROSECOND, '1970-01-01', {c}) END",
        PLAIN,
        False,
    ),
    ("u", "UUID", "{c}", "myuuid", False),
    ("de", "DECIMAL(20,6)", "{c}", DEC, True),
    ("vc", "VARCHAR(100)", "{c}", PLAIN, True),
    ("bl", "BLOB", "{c}", BYTES, True),
    ("ts", "TIMESTAMP(6) NULL", "TIMESTAMPDIFF(MICROSECOND, '1970-01-01', {c})", ISO, True),
    ("dbl", "DOUBLE", "{c}", FLOAT, True),
]
MY_KINDS = {c: k for c, _, _, k, _ in MY_COLUMNS}

MY_NAMES = ["id"] + [c for c, *_ in MY_COLUMNS]


def _my_row(k: int) -> str:
    return (
        f"({k}, '{['', 'x', 'y,z', 'x,y,z'][k % 4]}', '{'abc'[k % 3]}', {k % 2}, {k * 37 % 1024},"
        f' \'{{"k": {k}, "l": [1, null, "é"]}}\', ST_GeomFromText(\'POINT({k} -{k}.5)\', 4326),'
        f" '{'-' if k % 2 else ''}{k * 7}:05:06.{k:06d}',"
        f" '{'0000-00-00' if k % 3 == 0 else '2024-02-29'}',"
        f" '{'0000-00-00 00:00:00' if k % 3 == 1 else f'1999-12-31 23:59:{k:02d}.5'}',"
        f" '123e4567-e89b-12d3-a456-4266141740{k:02d}', {k}.{k:06d}, 'ünï {k} 😀',"
        f" X'00ff{k:02x}', '2026-03-01 12:00:{k:02d}.123456', {k}.5e10)"
    )


def _my_null_row(k: int) -> str:
    return f"({k}" + ", NULL" * len(MY_COLUMNS) + ")"


def _my_workload(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = '', time_zone = '+00:00'")
        for identity, table in MY_IDENTITIES.items():
            cur.execute(f"SET SESSION binlog_row_image = '{identity.upper()}'")
            t = f"{MY_DB}.{table}"
            cur.execute(f"INSERT INTO {t} VALUES {_my_row(1)}, {_my_null_row(2)}, {_my_row(3)}")
            cur.execute(f"UPDATE {t} SET vc = 'first' WHERE id = 3")
            cur.execute(f"DELETE FROM {t}")  # MySQL's TRUNCATE is DDL, not a row change
            rows = [_my_row(1), _my_null_row(2), _my_row(3), _my_row(4), _my_row(5), _my_row(6)]
            cur.execute(f"INSERT INTO {t} VALUES {', '.join(rows)}")
            cur.execute(
                f"UPDATE {t} SET s = 'x,z', e = 'c', b10 = b'1111111111', tm = '-838:59:59',"
                " j = '[]', vc = 'upd' WHERE id IN (1, 4)"
            )
            cur.execute(f"UPDATE {t} SET vc = 'was null', s = '', dz = '0000-00-00' WHERE id = 2")
            cur.execute(f"UPDATE {t} SET id = 20 WHERE id = 5")
            cur.execute(f"DELETE FROM {t} WHERE id IN (3, 6)")
            cur.execute(f"INSERT INTO {t} VALUES {_my_row(6)}")


def _my_expected(conn: Any, table: str) -> dict[Any, dict[str, Any]]:
    select = ", ".join(f"{e.format(c=c)} AS {c}" for c, _, e, *_ in MY_COLUMNS)
    with conn.cursor() as cur:
        cur.execute("SET SESSION time_zone = '+00:00'")
        cur.execute(f"SELECT id, {select} FROM {MY_DB}.{table}")
        rows = cur.fetchall()
    out = {}
    for r in rows:
        row = dict(zip(MY_NAMES, r, strict=True))
        row["s"] = None if row["s"] is None else [v for v in row["s"].split(",") if v]
        if row["tm"] is not None:
            row["tm"] = row["tm"] // dt.timedelta(microseconds=1)
        if row["u"] is not None:
            row["u"] = uuid.UUID(row["u"]).bytes
        out[r[0]] = row
    return out


@pytest.fixture(scope="module")
def my_runs(postgres: Any, mariadb: Any, kafka: Any, tmp_path_factory: Any) -> Iterator[Any]:
    conn = mariadb.connect()
    cols = ", ".join(f"`{c}` {t}" for c, t, *_ in MY_COLUMNS)
    with conn.cursor() as cur:
        for db in (MY_DB, MY_COPY_DB):
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {MY_DB} CHARACTER SET utf8mb4")
        for table in MY_IDENTITIES.values():
            cur.execute(f"CREATE TABLE {MY_DB}.{table} (id INT PRIMARY KEY, {cols})")
    mariadb.grant_capture(MY_DB)
    admin = postgres.connect()
    admin.execute(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier("tm_my_target"))
    )
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("tm_my_target")))
    admin.close()

    tmp = tmp_path_factory.mktemp("tm_my")
    runs = Runs(tmp, f"tm{uuid.uuid4().hex[:8]}", conn, kafka.bootstrap)
    targets = {
        "parquet": f"parquet:{tmp / 'parquet'}",
        "jsonl": f"jsonl:{tmp / 'out.jsonl'}",
        "kafka": f"kafka://{kafka.bootstrap}?topic_prefix={runs.prefix}",
        "postgresql": postgres.dsn_for(postgres.user, None, "tm_my_target") + "?sink_name=tm",
    }
    env = dict(os.environ, RUN_MY_PASSWORD=mariadb.capture_password)
    source = ["--source", mariadb.capture_url, "--password-env", "RUN_MY_PASSWORD"]
    tables = ",".join(f"{MY_DB}.{t}" for t in MY_IDENTITIES.values())
    procs: dict[str, Cli] = {}
    try:
        before = dump_threads(mariadb)
        for sink, to in targets.items():
            args = ["run", *source, "--tables", tables, "--to", to, "--idle-exit", "6"]
            args += ["--server-id", str(MY_SERVER_IDS[sink])]
            if sink == "postgresql":
                args.append("--create-tables")
            if sink in ("jsonl", "kafka"):
                args += ["--checkpoint", str(tmp / f"{sink}.checkpoint")]
            procs[sink] = Cli(*args, env=env)
        # MariaDB -> MariaDB (in this process, into another database of the same server) is
        # left out while it can keep the server's write transactions open and so the runs
        # above busy; the MySQL target is proven by the PostgreSQL source's leg.
        wait_for(lambda: len(dump_threads(mariadb) - before) >= len(targets), "dumps", 120)
        _my_workload(conn)
        for sink, proc in procs.items():
            runs.results[sink] = proc.finish()
        yield runs
    finally:
        for proc in procs.values():
            proc.kill()
        conn.close()


@pytest.mark.parametrize("identity", list(MY_IDENTITIES))
@pytest.mark.parametrize("sink", [s for s in SINKS if s != "mysql"])
def test_mariadb_source(my_runs: Any, postgres: Any, mariadb: Any, sink: str, identity: str):
    my_runs.assert_ok(sink)
    table = MY_IDENTITIES[identity]
    want = _my_expected(my_runs.conn, table)
    assert len(want) == 5
    if sink == "parquet":
        images = replay(_rekeyed(parquet_changes(my_runs.tmp / "parquet")))
        assert_images_equal(_by_id(images[f"{MY_DB}.{table}"]), want, f"parquet {table}")
        return
    if sink in ("jsonl", "kafka"):
        if sink == "jsonl":
            events = [
                e for e in jsonl_events(my_runs.tmp / "out.jsonl") if e["source"]["table"] == table
            ]
        else:
            topic = f"{my_runs.prefix}.{MY_DB}.{table}"
            messages = consume_until_quiet(my_runs.bootstrap, [topic], quiet=2.0)
            events = [json.loads(m.value()) for m in messages if m.value() is not None]
        images = debezium_replay(debezium_order(events), MY_KINDS)
        assert_images_equal(images[f"{MY_DB}.{table}"], want, f"{sink} {table}")
        return
    shared = ["id"] + [c for c, _, _, _, both in MY_COLUMNS if both]
    src = DbSide(mariadb.connect(database=MY_DB), "mysql", MY_DB)
    tgt = DbSide(postgres.connect(dbname="tm_my_target"), "postgres")
    other = f"{MY_DB}.{table}"
    try:
        mine = src.rows(f"{MY_DB}.{table}", shared, ("id",))
        theirs = tgt.rows(other, shared, ("id",))
        # Zero dates have no value: null in the change batch, so null in the copy.
        zero = tgt.rows(other, ["id", "dz", "dtz"], ("id",))
    finally:
        src.close()
        tgt.close()
    assert sorted(theirs) == sorted(mine)
    for key, row in mine.items():
        assert same_row(theirs[key], row), f"{sink} {table} row {key}: {theirs[key]} != {row}"
        expected = want[key[0]]
        assert zero[key][1:] == (_day(expected["dz"]), _micros(expected["dtz"])), key


def _day(days: int | None) -> Any:
    return None if days is None else dt.date(1970, 1, 1) + dt.timedelta(days=days)


def _micros(micros: int | None) -> Any:
    return None if micros is None else dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=micros)


def test_full_identity_table_without_a_target_table_is_one_clear_error(postgres: Any):
    # Changes alone (no snapshot) of a REPLICA IDENTITY FULL table name every column as key.
    batch = make_batch(
        [("id", pa.int32()), ("tags", pa.list_(pa.string()))],
        [{"_op": "c", "_pos": 5, "id": 1, "tags": ["a"]}],
        table="tmfull.t",
        primary_key=("id", "tags"),
    )
    meta = {**batch.schema.metadata, b"arrowtail.replica_identity": b"f"}
    with postgres.connect() as conn:
        conn.execute("DROP SCHEMA IF EXISTS tmfull CASCADE")
    sink = PostgresTargetSink(postgres.dsn, create_tables=True, sink_name="tm_full_missing")
    sink.open()
    try:
        with pytest.raises(SinkError, match="table tmfull.t has REPLICA IDENTITY FULL"):
            sink.write("tmfull.t", 1, batch.replace_schema_metadata(meta))
    finally:
        sink.close()
