"""Debezium compatibility, proven by Debezium's own consumer: arrowtail streams a source into
Kafka (``schemas=true&decimals=precise``), Debezium's JDBC sink connector (in a real Kafka Connect
worker) applies the topics to a PostgreSQL or a MariaDB target, and ``arrowtail verify`` finds
source and target equal.

Covered: REPLICA IDENTITY DEFAULT, FULL and USING INDEX, a composite key, a table without a
primary key (no Kafka key; the sink inserts), primary-key changes, deletes (with tombstones),
NULLs, NOT NULL columns kept by the tables the sink creates, uuid, timestamptz, numeric, and the
MariaDB side's UUID, TIME, DATETIME and DECIMAL. A TIME below zero or past 24:00 is checked on
the messages only (Debezium's sink reads MicroTime as a time of day, see docs/debezium.md), and
so are the ``source`` facts the sink does not read (binlog file, server id, database).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from psycopg import sql

from tests.support.cli import cli
from tests.support.kafka_topics import consume_until_quiet
from tests.support.mysql_run import PASSWORD_ENV
from tests.support.pg_run import fresh_db

SINK_WAIT = 90.0

PG_SCHEMA = """
CREATE TABLE t_default (id int PRIMARY KEY, name text NOT NULL, note text, at timestamptz,
                        u uuid, amount numeric(10,2));
CREATE TABLE t_full (id int PRIMARY KEY, name text NOT NULL, note text);
ALTER TABLE t_full REPLICA IDENTITY FULL;
CREATE TABLE t_index (id int PRIMARY KEY, code text NOT NULL, note text);
CREATE UNIQUE INDEX t_index_id_code ON t_index (id, code);
ALTER TABLE t_index REPLICA IDENTITY USING INDEX t_index_id_code;
CREATE TABLE t_pair (a int, b text, v int, PRIMARY KEY (a, b));
CREATE TABLE t_nokey (x int NOT NULL, y text);
ALTER TABLE t_nokey REPLICA IDENTITY FULL;
"""

PG_SEED = """
INSERT INTO t_default SELECT g, 'n' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note' END,
    timestamptz '2024-02-29 12:00:00.0001+00' + g * interval '1 minute',
    md5(g::text)::uuid, g * 1.25 FROM generate_series(1, 40) g;
INSERT INTO t_full SELECT g, 'f' || g, NULL FROM generate_series(1, 20) g;
INSERT INTO t_index SELECT g, 'c' || g, 'x' FROM generate_series(1, 20) g;
INSERT INTO t_pair SELECT g % 5, 'b' || g, g FROM generate_series(1, 20) g;
INSERT INTO t_nokey SELECT g, 'y' || g FROM generate_series(1, 5) g;
"""

PG_WORKLOAD = """
UPDATE t_default SET note = 'changed', at = at + interval '1 second' WHERE id % 4 = 0;
UPDATE t_default SET u = NULL, amount = NULL WHERE id = 5;
UPDATE t_default SET id = 1000 WHERE id = 7;
DELETE FROM t_default WHERE id % 9 = 0;
INSERT INTO t_default VALUES (2000, 'late', NULL, '1999-12-31 23:59:59.999999+00',
                              'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', -0.01);
UPDATE t_full SET note = 'full ' || id WHERE id % 2 = 0;
UPDATE t_full SET id = id + 100 WHERE id = 3;
DELETE FROM t_full WHERE id IN (5, 6);
UPDATE t_index SET note = NULL WHERE id < 5;
DELETE FROM t_index WHERE id = 10;
UPDATE t_pair SET v = -v WHERE a = 1;
UPDATE t_pair SET b = b || '!' WHERE a = 2;
DELETE FROM t_pair WHERE a = 3;
INSERT INTO t_nokey VALUES (6, NULL);
"""

KEYED = ["t_default", "t_full", "t_index", "t_pair"]

MY_SCHEMA = [
    "CREATE TABLE m_items (id int PRIMARY KEY, name varchar(40) NOT NULL, u uuid, d time(6), "
    "at datetime(6), price decimal(10,2), note text)",
    "CREATE TABLE m_pair (a int, b varchar(10), v int NOT NULL, PRIMARY KEY (a, b))",
    # Not given to the sink: its MicroTime handling takes a time of day (docs/debezium.md).
    "CREATE TABLE m_times (id int PRIMARY KEY, d time(6))",
]
MY_SEED = [
    "INSERT INTO m_items SELECT seq, CONCAT('n', seq), UUID(), SEC_TO_TIME(seq * 61.5), "
    "TIMESTAMP '2024-02-29 12:00:00.000100' + INTERVAL seq MINUTE, seq * 1.25, "
    "IF(seq % 3 = 0, NULL, 'note') FROM seq_1_to_30",
    "INSERT INTO m_pair SELECT seq % 4, CONCAT('b', seq), seq FROM seq_1_to_12",
    "INSERT INTO m_times VALUES (1, '-01:30:00.5')",
]
MY_WORKLOAD = [
    "UPDATE m_items SET note = 'changed', d = '23:59:59.5' WHERE id % 4 = 0",
    "UPDATE m_items SET u = NULL, price = NULL WHERE id = 5",
    "UPDATE m_items SET id = 1000 WHERE id = 7",
    "DELETE FROM m_items WHERE id % 9 = 0",
    "INSERT INTO m_items VALUES (2000, 'late', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
    "'00:00:00.000001', '1999-12-31 23:59:59.999999', -0.01, NULL)",
    "UPDATE m_pair SET b = CONCAT(b, '!') WHERE a = 1",
    "DELETE FROM m_pair WHERE a = 2",
    "INSERT INTO m_times VALUES (2, '-838:59:59'), (3, '838:59:59.000001')",
]


def jdbc_sink(
    target: Any, target_db: str, topics: list[str], *, keyed: bool, engine: str = "postgresql"
) -> dict[str, str]:
    """Debezium JDBC sink settings writing ``topics`` into ``target_db`` of the ``target``
    server (``postgresql`` or ``mariadb``; tables it creates)."""
    config = {
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
        "tasks.max": "1",
        "topics": ",".join(topics),
        "connection.url": f"jdbc:{engine}://{target.host}:{target.port}/{target_db}",
        "connection.username": target.user,
        "connection.password": getattr(target, "password", "") if engine == "mariadb" else "",
        "schema.evolution": "basic",
        "collection.name.format": "${source.table}",
        "use.time.zone": "UTC",
        "errors.tolerance": "none",
    }
    if keyed:
        config |= {
            "insert.mode": "upsert",
            "primary.key.mode": "record_key",
            "delete.enabled": "true",
        }
    else:
        config |= {"insert.mode": "insert", "primary.key.mode": "none"}
    return config


def wait_for(what: str, done: Callable[[], bool], connect: Any, names: list[str]) -> None:
    """Waits until ``done()``, failing at once when a connector fails, or at the deadline."""
    deadline = time.monotonic() + SINK_WAIT
    while not done():
        for name in names:
            connect.raise_if_failed(name)
        assert time.monotonic() < deadline, f"{what} not reached in {SINK_WAIT:.0f}s\n" + (
            connect.recent_log(40)
        )
        time.sleep(0.5)


def pg_rows(conn: Any, table: str) -> list[tuple[Any, ...]]:
    cols = [
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND table_schema = 'public' ORDER BY ordinal_position",
            (table,),
        )
    ]
    if not cols:
        return []
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(map(sql.Identifier, sorted(cols))), sql.Identifier(table)
    )
    return sorted(conn.execute(query).fetchall(), key=repr)


def _postgres_to_kafka(
    postgres: Any, kafka: Any, db: str, name: str, tmp_path: Path
) -> tuple[Any, str, str]:
    """Creates ``db`` with the PostgreSQL tables and seed, streams them (initial snapshot), then
    the workload, into Kafka with Debezium's schemas and precise decimals. Returns a connection
    to ``db``, its URL and the topic prefix."""
    src = fresh_db(postgres, db)
    src.execute(PG_SCHEMA)
    src.execute(f"CREATE PUBLICATION {name}p FOR ALL TABLES")
    src.execute(PG_SEED)
    prefix = f"{name}{uuid.uuid4().hex[:8]}"
    source_url = postgres.dsn_for(postgres.user, None, db)
    args = ["run", "--source", source_url, "--slot", f"{name}slot", "--publication", f"{name}p"]
    args += ["--to", f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&schemas=true"]
    args[-1] += "&decimals=precise"
    args += ["--checkpoint", str(tmp_path / "cp.json")]
    first = cli(*args, "--snapshot", "initial", "--idle-exit", "3")
    assert first.returncode == 0, first.stderr
    src.execute(PG_WORKLOAD)
    second = cli(*args, "--idle-exit", "3")
    assert second.returncode == 0, second.stderr
    return src, source_url, prefix


def test_postgres_through_debezium_jdbc_sink(
    postgres: Any, kafka: Any, connect: Any, tmp_path: Path
) -> None:
    tgt = fresh_db(postgres, "dbz_tgt")
    src, source_url, prefix = _postgres_to_kafka(postgres, kafka, "dbz_src", "dbz", tmp_path)

    # The messages themselves: keyed by the primary key whatever the replica identity.
    full = consume_until_quiet(kafka.bootstrap, f"{prefix}.public.t_full", quiet=2)
    keys = {json.dumps(json.loads(m.key())["payload"]) for m in full if m.key() is not None}
    assert keys == {json.dumps({"id": i}) for i in [*range(1, 21), 103]}
    nokey = consume_until_quiet(kafka.bootstrap, f"{prefix}.public.t_nokey", quiet=2)
    assert nokey and all(m.key() is None for m in nokey)
    event = json.loads(next(m.value() for m in full if m.value() is not None))
    assert event["payload"]["source"]["db"] == "dbz_src"
    after = next(f for f in event["schema"]["fields"] if f["field"] == "after")
    assert {f["field"]: f["optional"] for f in after["fields"]} == {
        "id": False,
        "name": False,
        "note": True,
    }

    topics = [f"{prefix}.public.{t}" for t in KEYED]
    names = [f"{prefix}-keyed", f"{prefix}-nokey"]
    connect.add_connector(names[0], jdbc_sink(postgres, "dbz_tgt", topics, keyed=True))
    connect.add_connector(
        names[1], jdbc_sink(postgres, "dbz_tgt", [f"{prefix}.public.t_nokey"], keyed=False)
    )
    try:
        wait_for(
            "target equal to the source",
            lambda: all(pg_rows(tgt, t) == pg_rows(src, t) for t in [*KEYED, "t_nokey"]),
            connect,
            names,
        )
    finally:
        for name in names:
            connect.remove_connector(name)
    target_url = postgres.dsn_for(postgres.user, None, "dbz_tgt")
    tables = ",".join(f"public.{t}" for t in KEYED)
    verify = cli("verify", "--source", source_url, "--against", target_url, "--tables", tables)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for t in KEYED:
        assert f"public.{t}: equal" in verify.stdout, verify.stdout
    # The tables the sink created keep the source's NOT NULL columns and primary keys.
    not_null = tgt.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND is_nullable = 'NO' ORDER BY 1, 2"
    ).fetchall()
    assert ("t_full", "name") in not_null and ("t_index", "code") in not_null
    assert ("t_full", "note") not in not_null
    src.close()
    tgt.close()


def test_mariadb_through_debezium_jdbc_sink(
    mariadb: Any, postgres: Any, kafka: Any, connect: Any, tmp_path: Path
) -> None:
    db = "dbz_my"
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"USE {db}")
        for stmt in MY_SCHEMA + MY_SEED:
            cur.execute(stmt)
    mariadb.grant_capture(db)
    tgt = fresh_db(postgres, "dbz_mtgt")
    prefix = f"my{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, **{PASSWORD_ENV: mariadb.capture_password})
    source_url = mariadb.capture_url + db
    args = ["run", "--source", source_url, "--password-env", PASSWORD_ENV]
    args += ["--to", f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&schemas=true"]
    args[-1] += "&decimals=precise"
    args += ["--checkpoint", str(tmp_path / "cp.json")]
    first = cli(*args, "--snapshot", "initial", "--idle-exit", "3", env=env)
    assert first.returncode == 0, first.stderr
    with conn.cursor() as cur:
        cur.execute(f"USE {db}")
        for stmt in MY_WORKLOAD:
            cur.execute(stmt)
    second = cli(*args, "--idle-exit", "3", env=env)
    assert second.returncode == 0, second.stderr

    items = consume_until_quiet(kafka.bootstrap, f"{prefix}.{db}.m_items", quiet=2)
    streamed = [
        json.loads(m.value())
        for m in items
        if m.value() is not None and json.loads(m.value())["payload"]["op"] != "r"
    ]
    assert streamed
    source = streamed[0]["payload"]["source"]
    assert source["file"].startswith("mysql-bin.") and source["server_id"] == mariadb.server_id
    late = next(
        e["payload"]["after"] for e in streamed if (e["payload"]["after"] or {}).get("id") == 2000
    )
    assert late["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"

    # TIME beyond a day's clock, as Debezium's MySQL connector writes it: signed MicroTime, the
    # same from the snapshot and from the binlog.
    times = consume_until_quiet(kafka.bootstrap, f"{prefix}.{db}.m_times", quiet=2)
    micros = {}
    for m in times:
        payload = json.loads(m.value())["payload"]
        micros[payload["after"]["id"]] = (payload["op"], payload["after"]["d"])
    hour = 3_600_000_000
    assert micros == {
        1: ("r", -(hour + hour // 2 + 500_000)),
        2: ("c", -(838 * hour + 59 * 60_000_000 + 59_000_000)),
        3: ("c", 838 * hour + 59 * 60_000_000 + 59_000_001),
    }
    schema = json.loads(times[0].value())["schema"]
    after = next(f for f in schema["fields"] if f["field"] == "after")
    assert after["fields"][1] == {
        "type": "int64",
        "name": "io.debezium.time.MicroTime",
        "version": 1,
        "optional": True,
        "field": "d",
    }

    topics = [f"{prefix}.{db}.m_items", f"{prefix}.{db}.m_pair"]
    name = f"{prefix}-keyed"
    connect.add_connector(name, jdbc_sink(postgres, "dbz_mtgt", topics, keyed=True))
    want = {"m_items": _my_count(conn, db, "m_items"), "m_pair": _my_count(conn, db, "m_pair")}
    try:
        wait_for(
            "every row in the target",
            lambda: all(_pg_count(tgt, t) == n for t, n in want.items()),
            connect,
            [name],
        )
    finally:
        connect.remove_connector(name)
    # The target's tables are in schema public: the source's database is not a schema there.
    from arrowtail.verify.compare import verify

    report = verify(
        mariadb.capture_url + db,
        postgres.dsn_for(postgres.user, None, "dbz_mtgt"),
        [f"{db}.m_items", f"{db}.m_pair"],
        table_map={f"{db}.m_items": "public.m_items", f"{db}.m_pair": "public.m_pair"},
        source_password=mariadb.capture_password,
        recheck_times=0,
    )
    if not report.equal:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {db}.m_items WHERE id = 1")
            mine = cur.fetchall()
        theirs = tgt.execute("SELECT * FROM m_items WHERE id = 1").fetchall()
        raise AssertionError(f"{report.summary()}\nsource: {mine}\ntarget: {theirs}")
    assert [t.source_rows for t in report.tables] == [want["m_items"], want["m_pair"]]
    conn.close()
    tgt.close()


def _my_count(conn: Any, db: str, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
            " AND TABLE_NAME = %s",
            (db, table),
        )
        if not cur.fetchone()[0]:
            return -1
        cur.execute(f"SELECT COUNT(*) FROM {db}.{table}")
        return int(cur.fetchone()[0])


def _pg_count(conn: Any, table: str) -> int:
    exists = conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()[0]
    if exists is None:
        return -1
    return int(
        conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
    )


def test_postgres_through_debezium_jdbc_sink_into_mariadb(
    postgres: Any, mariadb: Any, kafka: Any, connect: Any, tmp_path: Path
) -> None:
    """The same PostgreSQL changes, applied by Debezium's JDBC sink to a MariaDB target: the
    events carry what the sink's MariaDB dialect needs to create and key the tables."""
    target_db = "dbz_pg_to_my"
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {target_db}")
        cur.execute(f"CREATE DATABASE {target_db}")
    src, source_url, prefix = _postgres_to_kafka(postgres, kafka, "dbz_src_my", "dbzm", tmp_path)

    topics = [f"{prefix}.public.{t}" for t in KEYED]
    name = f"{prefix}-keyed"
    connect.add_connector(name, jdbc_sink(mariadb, target_db, topics, keyed=True, engine="mariadb"))
    want = {t: _pg_count(src, t) for t in KEYED}
    try:
        wait_for(
            "every row in the MariaDB target",
            lambda: all(_my_count(my, target_db, t) == n for t, n in want.items()),
            connect,
            [name],
        )
    finally:
        connect.remove_connector(name)
    from arrowtail.verify.compare import verify

    report = verify(
        source_url,
        f"mysql://{mariadb.user}:{mariadb.password}@{mariadb.host}:{mariadb.port}/{target_db}",
        [f"public.{t}" for t in KEYED],
        table_map={f"public.{t}": f"{target_db}.{t}" for t in KEYED},
        recheck_times=0,
    )
    assert report.equal, report.summary()
    assert [t.source_rows for t in report.tables] == [want[t] for t in KEYED]
    with my.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND IS_NULLABLE = 'NO' ORDER BY 1, 2",
            (target_db,),
        )
        not_null = set(cur.fetchall())
    assert ("t_full", "name") in not_null and ("t_full", "note") not in not_null
    my.close()
    src.close()
