"""Debezium compatibility, proven by Debezium's own consumer: arrowtail streams a PostgreSQL and a
MariaDB database into Kafka (``schemas=true&decimals=precise``, one run per source shared by the
tests of this module), Debezium's JDBC sink connector (in a real Kafka Connect worker) applies the
topics to a PostgreSQL and to a MariaDB target, and ``arrowtail verify`` finds source and target
equal, for all four pairs.

Covered: REPLICA IDENTITY DEFAULT, FULL and USING INDEX (of an index with and one without the
primary key), a composite key, a table without a primary key (no Kafka key; the sink inserts),
primary-key changes, deletes (with tombstones), NULLs in every column, every type of the type
mapping (PostgreSQL with the type matrix's values, MariaDB every integer width, temporal type,
string, binary, ENUM, SET, BIT, JSON, UUID, INET6, and into a MariaDB target its spatial types),
PostgreSQL's extension types and named strings (``hstore``, ``ltree``, ``citext``, ``xml``,
``tsvector``, ``macaddr[8]``, ranges, ``jsonb[]``, one-bit strings), a PostgreSQL TRUNCATE and a
MariaDB TRUNCATE TABLE followed by new rows (the sink's ``truncate.enabled``), unchanged TOAST
values (re-read with ``--toast-reselect``; under REPLICA IDENTITY FULL from the old row), columns
added and dropped while streaming (the sink's ``schema.evolution=basic``), and columns added with a
default, which the rows already there take from the field's Connect default while explicit NULLs
stay NULL. What the sink cannot write (arrays of decimals and dates, timetz and arrays into
MariaDB, a TIME below zero or past 24:00, a text column's default on a MariaDB target;
docs/debezium.md) is checked on the messages only, and so are the ``source`` facts the sink does
not read (binlog file, server id, database). Bit strings of more than one bit, which the sink
reads in the wrong byte order, are left out here; the golden test compares them with Debezium's
connector.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from tests.integration.test_type_matrix import PG_COLUMNS, _pg_null_row, _pg_row
from tests.integration.test_type_matrix import PG_SCHEMA as TM_SCHEMA
from tests.support.cli import cli
from tests.support.kafka_topics import consume_until_quiet
from tests.support.mysql_run import PASSWORD_ENV
from tests.support.pg_run import EXTENSIONS, drop_slot, fresh_db
from tests.support.typematrix import UNAVAILABLE

SINK_WAIT = 90.0

PG_SCHEMA = f"""
CREATE TABLE t_default (id int PRIMARY KEY, name text NOT NULL, note text, at timestamptz,
                        u uuid, amount numeric(10,2));
CREATE TABLE t_full (id int PRIMARY KEY, name text NOT NULL, note text);
ALTER TABLE t_full REPLICA IDENTITY FULL;
CREATE TABLE t_index (id int PRIMARY KEY, code text NOT NULL, note text);
CREATE UNIQUE INDEX t_index_id_code ON t_index (id, code);
ALTER TABLE t_index REPLICA IDENTITY USING INDEX t_index_id_code;
CREATE TABLE t_ukey (id int PRIMARY KEY, code int NOT NULL, note text);
CREATE UNIQUE INDEX t_ukey_code ON t_ukey (code);
ALTER TABLE t_ukey REPLICA IDENTITY USING INDEX t_ukey_code;
CREATE TABLE t_pair (a int, b text, v int, PRIMARY KEY (a, b));
CREATE TABLE t_nokey (x int NOT NULL, y text);
ALTER TABLE t_nokey REPLICA IDENTITY FULL;
CREATE TABLE t_trunc (id int PRIMARY KEY, v text);
CREATE TABLE t_evolve (id int PRIMARY KEY, a text, gone int);
CREATE TABLE t_toast_full (id int PRIMARY KEY, big text, note text);
CREATE TABLE t_added (id int PRIMARY KEY, a text);
ALTER TABLE t_toast_full ALTER big SET STORAGE EXTERNAL;
ALTER TABLE t_toast_full REPLICA IDENTITY FULL;
{EXTENSIONS}
CREATE TABLE t_ext (id int PRIMARY KEY, b1 bit(1), v1 bit varying(1), x xml, lt ltree,
  hs hstore, tv tsvector, mac macaddr, m8 macaddr8, ci citext, nr numrange, dr daterange,
  js json, jb jsonb, jba jsonb[]);
CREATE TABLE t_ext_my (LIKE t_ext INCLUDING ALL);
ALTER TABLE t_ext_my DROP COLUMN jba;
"""

PG_SEED = """
INSERT INTO t_default SELECT g, 'n' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note' END,
    timestamptz '2024-02-29 12:00:00.0001+00' + g * interval '1 minute',
    md5(g::text)::uuid, g * 1.25 FROM generate_series(1, 40) g;
INSERT INTO t_full SELECT g, 'f' || g, NULL FROM generate_series(1, 20) g;
INSERT INTO t_index SELECT g, 'c' || g, 'x' FROM generate_series(1, 20) g;
INSERT INTO t_ukey SELECT g, 1000 + g, 'u' FROM generate_series(1, 10) g;
INSERT INTO t_pair SELECT g % 5, 'b' || g, g FROM generate_series(1, 20) g;
INSERT INTO t_nokey SELECT g, 'y' || g FROM generate_series(1, 5) g;
INSERT INTO t_trunc SELECT g, 'v' || g FROM generate_series(1, 5) g;
INSERT INTO t_evolve SELECT g, 'a' || g, g FROM generate_series(1, 5) g;
INSERT INTO t_toast_full SELECT g, repeat(md5(g::text), 300), 'n' FROM generate_series(1, 3) g;
INSERT INTO t_added SELECT g, 'a' || g FROM generate_series(1, 6) g;
INSERT INTO t_ext VALUES (1, B'1', B'1', '<a>x</a>', 'top.mid',
  'a=>1, b=>NULL', 'fat cat', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', 'MiXed',
  '[1.5,2.5)', '[2024-01-01,2024-02-01)', '{"k": [1, "x"]}', '{"a": {"b": null}}',
  ARRAY['{"a": 1}'::jsonb, NULL]);
INSERT INTO t_ext (id) VALUES (2);
INSERT INTO t_ext_my SELECT id, b1, v1, x, lt, hs, tv, mac, m8, ci, nr, dr, js, jb FROM t_ext;
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
UPDATE t_ukey SET note = 'changed' WHERE id < 4;
UPDATE t_ukey SET code = code + 100 WHERE id = 5;
UPDATE t_ukey SET id = 500 WHERE id = 6;
DELETE FROM t_ukey WHERE id = 8;
UPDATE t_pair SET v = -v WHERE a = 1;
UPDATE t_pair SET b = b || '!' WHERE a = 2;
DELETE FROM t_pair WHERE a = 3;
INSERT INTO t_nokey VALUES (6, NULL);
UPDATE t_trunc SET v = 'before truncate' WHERE id = 1;
TRUNCATE t_trunc;
INSERT INTO t_trunc VALUES (1, 'after'), (7, 'new');
UPDATE t_toast_full SET note = 'changed' WHERE id IN (1, 2);
UPDATE t_toast_full SET id = 30 WHERE id = 3;
ALTER TABLE t_evolve ADD COLUMN added text, ADD COLUMN n numeric(8,2);
INSERT INTO t_evolve VALUES (6, 'a6', 6, 'new', 1.5);
UPDATE t_evolve SET added = 'set', n = -2 WHERE id = 1;
UPDATE t_evolve SET a = 'kept' WHERE id = 2;
ALTER TABLE t_evolve DROP COLUMN gone;
INSERT INTO t_evolve VALUES (7, 'a7', 'after drop', NULL);
UPDATE t_evolve SET a = 'after drop' WHERE id = 3;
DELETE FROM t_evolve WHERE id = 4;
ALTER TABLE t_added ADD COLUMN n int DEFAULT 7, ADD COLUMN s text NOT NULL DEFAULT 'dflt',
    ADD COLUMN day date DEFAULT '2024-01-02', ADD COLUMN ok boolean DEFAULT true,
    ADD COLUMN amt numeric(8,2) DEFAULT 1.50,
    ADD COLUMN at timestamptz DEFAULT '2024-01-02 03:04:05+00';
INSERT INTO t_added (id, a, n, amt, at) VALUES (7, 'explicit nulls', NULL, NULL, NULL);
UPDATE t_added SET a = 'touched' WHERE id = 1;
UPDATE t_ext SET b1 = B'0', v1 = B'0', hs = hs || 'c=>3', x = '<b/>', lt = 'a', js = 'null',
  jb = '[]', jba = '{}', tv = 'a:1 b:2', nr = 'empty' WHERE id = 1;
INSERT INTO t_ext (id, b1, hs) VALUES (3, B'1', 'bb=>1, a=>2, "k q"=>NULL');
UPDATE t_ext_my SET b1 = B'0', v1 = B'0', hs = hs || 'c=>3', x = '<b/>', lt = 'a', js = 'null',
  jb = '[]', tv = 'a:1 b:2', nr = 'empty' WHERE id = 1;
INSERT INTO t_ext_my (id, b1, hs) VALUES (3, B'1', 'bb=>1, a=>2, "k q"=>NULL');
"""

#: t_ukey's replica identity index leaves out its primary key: every event of it, the
#: snapshot's too, is keyed by the index (docs/debezium.md), so the sink keys its table by it.
KEYED = ["t_default", "t_full", "t_index", "t_ukey", "t_pair"]
#: Keyed tables whose changes need the sink's truncates, schema evolution or unchanged TOAST.
PG_MORE = ["t_trunc", "t_evolve", "t_toast_full", "t_types", "t_added", "t_ext"]
PG_MORE_MY = ["t_trunc", "t_evolve", "t_toast_full", "t_types_my", "t_added", "t_ext_my"]

# Every type of the type mapping, with the type matrix's values (tests/integration/
# test_type_matrix.py) in t_stage; t_types holds the columns Debezium's JDBC sink writes to a
# PostgreSQL target, t_types_my those it writes to a MariaDB target (docs/debezium.md).
#: Columns the sink cannot write to a PostgreSQL target (Debezium's own connector sends them
#: the same way): arrays of decimals, whose element type the sink names ``decimal(p,s)``, which
#: the PostgreSQL driver does not know, and arrays of dates, whose epoch days it binds as date
#: text.
PG_SINK_SKIP = {"an", "ad"}
#: Columns the sink cannot write to a MariaDB target: it declares a ZonedTime column
#: ``time with time zone``, which MariaDB does not have, and its MySQL dialect has no type for
#: an array (a NullPointerException in ``getSchemaType`` when it creates the table).
PG_MY_SINK_SKIP = {"ttz"} | {c for c, t, *_ in PG_COLUMNS if t.endswith("[]")}
PG_TYPE_COLUMNS = [(c, t) for c, t, *_ in PG_COLUMNS if c not in PG_SINK_SKIP]
PG_MY_TYPE_COLUMNS = [(c, t) for c, t, *_ in PG_COLUMNS if c not in PG_MY_SINK_SKIP]


#: Into a MySQL/MariaDB target the sink declares no DEFAULT for a text column (its MySQL dialect
#: leaves defaults off TEXT and BLOB types), so the rows there before such a column was added
#: take the empty string (NOT NULL) instead of the source's value; verify compares the added
#: tables without it, and the tests check that value.
PG_ADDED_BUT_TEXT = {"public.t_added": ["id", "a", "n", "day", "ok", "amt", "at"]}
MY_ADDED_BUT_TEXT = {"dbz_my.m_added": ["id", "a", "n", "day", "amt", "e"]}


def assert_text_column_left_empty(my: Any, table: str) -> None:
    """The rows of a MySQL/MariaDB target's ``table`` from before ``s`` was added hold ``''``
    there (the sink's limit above), the rows written after it their own values."""
    with my.cursor() as cur:
        cur.execute(f"SELECT id, s FROM {table} ORDER BY id")
        held = dict(cur.fetchall())
    assert held == {1: "dflt", **{k: "" for k in range(2, 7)}, 7: "dflt"}, held


#: verify compares t_types without its timetz, which the target holds in UTC, and its
#: unconstrained numeric, which the sink stores as a double (docs/debezium.md).
TYPES_BUT_TIMETZ = {
    "public.t_types": ["id", *(c for c, _ in PG_TYPE_COLUMNS if c not in ("ttz", "n_u"))]
}


def _pg_type_schema() -> str:
    stage = ", ".join(f"{c} {t}" for c, t, *_ in PG_COLUMNS)
    cols = ", ".join(f"{c} {t}" for c, t in PG_TYPE_COLUMNS)
    my_cols = ", ".join(f"{c} {t}" for c, t in PG_MY_TYPE_COLUMNS)
    return f"""
    CREATE SCHEMA {TM_SCHEMA};
    CREATE TYPE {TM_SCHEMA}.mood AS ENUM ('sad', 'ok', 'happy');
    CREATE DOMAIN {TM_SCHEMA}.posint AS int4 CHECK (VALUE > 0);
    CREATE TABLE t_stage (id int PRIMARY KEY, {stage});
    CREATE TABLE t_types (id int PRIMARY KEY, {cols});
    ALTER TABLE t_types ALTER COLUMN big SET STORAGE EXTERNAL;
    CREATE TABLE t_types_my (id int PRIMARY KEY, {my_cols});
    ALTER TABLE t_types_my ALTER COLUMN big SET STORAGE EXTERNAL;
    """


def _pg_types_copy(where: str) -> str:
    return "".join(
        f"INSERT INTO {table} SELECT id, {', '.join(c for c, _ in cols)} FROM t_stage"
        f" WHERE {where};"
        for table, cols in (("t_types", PG_TYPE_COLUMNS), ("t_types_my", PG_MY_TYPE_COLUMNS))
    )


PG_TYPES_SEED = (
    f"INSERT INTO t_stage VALUES {_pg_row(1)}, {_pg_row(2)}, {_pg_null_row(3)};"
    + _pg_types_copy("true")
)
PG_TYPES_WORKLOAD = (
    f"INSERT INTO t_stage VALUES {_pg_row(4)}, {_pg_null_row(5)}, {_pg_row(6)};"
    + _pg_types_copy("id >= 4")
    + "".join(
        # Non-key updates leave the TOASTed big unchanged (re-read by --toast-reselect).
        f"UPDATE {t} SET t = 'upd', tstz = NULL, mood = 'ok', m = -1.5, ip = '::1'"
        " WHERE id IN (1, 4);"
        f"UPDATE {t} SET b = false, u = NULL WHERE id = 3;"
        f"UPDATE {t} SET id = 20 WHERE id = 2;"
        f"DELETE FROM {t} WHERE id = 6;"
        for t in ("t_types", "t_types_my")
    )
    + "UPDATE t_types SET ttz = '00:00:00-01' WHERE id = 3;"
    "UPDATE t_types SET at = ARRAY['x', NULL, 'y,z'], ai = '{}', iv = '-1 years',"
    " j = '[1, \"a\"]' WHERE id = 1;"
)

MY_SCHEMA = [
    "CREATE TABLE m_items (id int PRIMARY KEY, name varchar(40) NOT NULL, u uuid, d time(6), "
    "at datetime(6), price decimal(10,2), note text)",
    "CREATE TABLE m_pair (a int, b varchar(10), v int NOT NULL, PRIMARY KEY (a, b))",
    # Not given to the sink: its MicroTime handling takes a time of day (docs/debezium.md).
    "CREATE TABLE m_times (id int PRIMARY KEY, d time(6))",
    "CREATE TABLE m_trunc (id int PRIMARY KEY, v varchar(20))",
]
MY_SEED = [
    "INSERT INTO m_items SELECT seq, CONCAT('n', seq), UUID(), SEC_TO_TIME(seq * 61.5), "
    "TIMESTAMP '2024-02-29 12:00:00.000100' + INTERVAL seq MINUTE, seq * 1.25, "
    "IF(seq % 3 = 0, NULL, 'note') FROM seq_1_to_30",
    "INSERT INTO m_pair SELECT seq % 4, CONCAT('b', seq), seq FROM seq_1_to_12",
    "INSERT INTO m_times VALUES (1, '-01:30:00.5')",
    "INSERT INTO m_trunc SELECT seq, CONCAT('v', seq) FROM seq_1_to_5",
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
    "UPDATE m_trunc SET v = 'before truncate' WHERE id = 1",
    "TRUNCATE TABLE m_trunc",
    "INSERT INTO m_trunc VALUES (1, 'after'), (7, 'new')",
]


MY_TYPES = (
    "CREATE TABLE m_types (id int PRIMARY KEY, ti tinyint, tu tinyint unsigned, si smallint,"
    " su smallint unsigned, mi mediumint, mu mediumint unsigned, i int, iu int unsigned,"
    " bi bigint, bu bigint unsigned, f float, d double, n decimal(12,4), nw decimal(50,10),"
    " dt date, tm time(6), dtm datetime(6), dt0 datetime, ts timestamp(6) NULL, y year,"
    " c char(4), vc varchar(20), t text, bl blob, bn binary(4), vb varbinary(8),"
    " e enum('a','b','c'), st set('x','y','z'), bt bit(5), j json, u uuid, i6 inet6)"
)
MY_TYPE_COUNT = 32


def _my_type_row(k: int) -> str:
    return (
        f"({k}, {-k}, {248 + k}, {-300 * k}, {65529 + k}, {-8388600 - k}, {16777209 + k},"
        f" {-2147483600 + k}, {4294967289 + k}, {-9000000000000000000 + k},"
        f" {9000000000000000000 + k}, {k}.25, {k} / 3, {k}.2345,"
        f" '1234567890123456789012345678901234567890.{k:010d}',"
        f" DATE '2024-02-29' + INTERVAL {k} DAY,"
        f" '{k:02d}:59:58.{k:06d}', '2024-02-29 12:00:00.{k:06d}', '1999-12-31 23:59:{k:02d}',"
        f" '2001-02-03 04:05:06.{k * 5 % 10}', {2000 + k}, 'c{k}', 'vc{k}', 'text ü {k}',"
        f" X'00ff{k:02x}', X'{k:02x}', X'0102', '{'abc'[k % 3]}',"
        f" '{['', 'x', 'y,z', 'x,z'][k % 4]}',"
        f" {k}, '{{\"k\": {k}, \"l\": [1, null]}}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd3800{k:02x}',"
        f" '2001:db8::{k}')"
    )


def _my_type_null_row(k: int) -> str:
    return f"({k}" + ", NULL" * MY_TYPE_COUNT + ")"


MY_MORE_SCHEMA = [
    MY_TYPES,
    "CREATE TABLE m_evolve (id int PRIMARY KEY, a varchar(10), gone int)",
    "CREATE TABLE m_added (id int PRIMARY KEY, a varchar(20))",
    "CREATE TABLE m_geo (id int PRIMARY KEY, p point, g geometry, ls linestring, po polygon)",
]
MY_MORE_SEED = [
    f"INSERT INTO m_types VALUES {_my_type_row(1)}, {_my_type_row(2)}, {_my_type_null_row(3)}",
    "INSERT INTO m_evolve SELECT seq, CONCAT('a', seq), seq FROM seq_1_to_5",
    "INSERT INTO m_added SELECT seq, CONCAT('a', seq) FROM seq_1_to_6",
    "INSERT INTO m_geo VALUES (1, ST_GeomFromText('POINT(1.5 -2)', 4326),"
    " ST_GeomFromText('POINT(1 2)'), ST_GeomFromText('LINESTRING(0 0, 1 1.5)', 3857),"
    " ST_GeomFromText('POLYGON((0 0, 0 1, 1 1, 0 0))')), (2, NULL, NULL, NULL, NULL)",
]
MY_MORE_WORKLOAD = [
    f"INSERT INTO m_types VALUES {_my_type_row(4)}, {_my_type_null_row(5)}, {_my_type_row(6)}",
    "UPDATE m_types SET t = 'upd', ts = NULL, e = 'c', st = '', bt = b'11111', tu = 255,"
    " bu = 18446744073709551615 >> 1, j = '[]' WHERE id IN (1, 4)",
    "UPDATE m_types SET vc = 'was null', y = 1901, i6 = '::1' WHERE id = 3",
    "UPDATE m_types SET id = 20 WHERE id = 2",
    "DELETE FROM m_types WHERE id = 6",
    "ALTER TABLE m_evolve ADD COLUMN added varchar(10), ADD COLUMN n decimal(8,2)",
    "INSERT INTO m_evolve VALUES (6, 'a6', 6, 'new', 1.5)",
    "UPDATE m_evolve SET added = 'set', n = -2 WHERE id = 1",
    "ALTER TABLE m_evolve DROP COLUMN gone",
    "INSERT INTO m_evolve VALUES (7, 'a7', 'after drop', NULL)",
    "UPDATE m_evolve SET a = 'dropped' WHERE id = 3",
    "DELETE FROM m_evolve WHERE id = 4",
    "ALTER TABLE m_added ADD COLUMN n int DEFAULT 7, ADD COLUMN s varchar(10) NOT NULL DEFAULT"
    " 'dflt', ADD COLUMN day date DEFAULT '2024-01-02', ADD COLUMN amt decimal(8,2) DEFAULT 1.50,"
    " ADD COLUMN e enum('x','y') NOT NULL",
    "INSERT INTO m_added (id, a, n, amt) VALUES (7, 'explicit nulls', NULL, NULL)",
    "UPDATE m_added SET a = 'touched' WHERE id = 1",
    "UPDATE m_geo SET p = ST_GeomFromText('POINT(-0.5 7)'), g = ST_GeomFromText('LINESTRING(1 1,"
    " 2 2)', 4326) WHERE id = 1",
    "INSERT INTO m_geo VALUES (3, ST_GeomFromText('POINT(3 4)'), NULL,"
    " ST_GeomFromText('LINESTRING(5 5, 6 6)'), NULL)",
    "DELETE FROM m_geo WHERE id = 2",
]
MY_KEYED = ["m_items", "m_pair", "m_types", "m_evolve", "m_trunc", "m_added"]


def jdbc_sink(
    target: Any,
    target_db: str,
    topics: list[str],
    *,
    keyed: bool,
    engine: str = "postgresql",
    table_prefix: str = "",
) -> dict[str, str]:
    """Debezium JDBC sink settings writing ``topics`` into ``target_db`` of the ``target``
    server (``postgresql`` or ``mariadb``; tables it creates, named ``table_prefix`` and the
    source table's name). Identifiers are quoted: the type matrix has a column ``by``, a
    reserved word in MariaDB."""
    config = {
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
        "tasks.max": "1",
        "topics": ",".join(topics),
        "connection.url": f"jdbc:{engine}://{target.host}:{target.port}/{target_db}",
        "connection.username": target.user,
        "connection.password": getattr(target, "password", "") if engine == "mariadb" else "",
        "schema.evolution": "basic",
        "collection.name.format": table_prefix + "${source.table}",
        "quote.identifiers": "true",
        "use.time.zone": "UTC",
        "errors.tolerance": "none",
        # A column added with a value for the rows already there has it as its Connect default
        # (the sink's ALTER TABLE gives it to them). Kafka's JSON converter reads a null as the
        # field's default unless told not to (docs/debezium.md).
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
        "value.converter.replace.null.with.default": "false",
    }
    if keyed:
        config |= {
            "insert.mode": "upsert",
            "primary.key.mode": "record_key",
            "delete.enabled": "true",
            "truncate.enabled": "true",
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


class Topics:
    """One source's tables streamed into Kafka: a connection to the source, its URL (and
    password), and the topic prefix."""

    def __init__(self, conn: Any, url: str, prefix: str, password: str | None = None) -> None:
        self.conn, self.url, self.prefix, self.password = conn, url, prefix, password


def _kafka_args(kafka: Any, prefix: str, checkpoint: Path) -> list[str]:
    url = f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&schemas=true&decimals=precise"
    return ["--to", url, "--checkpoint", str(checkpoint)]


@pytest.fixture(scope="module")
def pg_source(postgres: Any, kafka: Any, tmp_path_factory: Any) -> Iterator[Topics]:
    """The PostgreSQL tables with their seed streamed by an initial snapshot, then the workload
    (with a truncate, schema changes and unchanged TOAST values, which ``--toast-reselect``
    reads), into Kafka with Debezium's schemas and precise decimals."""
    db, slot = "dbz_src", "dbzslot"
    src = fresh_db(postgres, db)
    src.execute(PG_SCHEMA)
    src.execute(_pg_type_schema())
    src.execute("CREATE PUBLICATION dbzp FOR ALL TABLES")
    src.execute(PG_SEED)
    src.execute(PG_TYPES_SEED)
    prefix = f"dbz{uuid.uuid4().hex[:8]}"
    source_url = postgres.dsn_for(postgres.user, None, db)
    args = ["run", "--source", source_url, "--slot", slot, "--publication", "dbzp"]
    args += ["--toast-reselect"]
    args += _kafka_args(kafka, prefix, tmp_path_factory.mktemp("dbzpg") / "cp.json")
    first = cli(*args, "--snapshot", "initial", "--idle-exit", "3")
    assert first.returncode == 0, first.stderr
    src.execute(PG_WORKLOAD)
    src.execute(PG_TYPES_WORKLOAD)
    second = cli(*args, "--idle-exit", "3")
    assert second.returncode == 0, second.stderr
    yield Topics(src, source_url, prefix)
    drop_slot(postgres, db, slot, missing_ok=True)
    src.close()


@pytest.fixture(scope="module")
def my_source(mariadb: Any, kafka: Any, tmp_path_factory: Any) -> Iterator[Topics]:
    """The MariaDB tables, seed streamed by an initial snapshot, then the workload (with a
    TRUNCATE TABLE and schema changes), into Kafka as :func:`pg_source` does."""
    db = "dbz_my"
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"USE {db}")
        for stmt in MY_SCHEMA + MY_MORE_SCHEMA + MY_SEED + MY_MORE_SEED:
            cur.execute(stmt)
    mariadb.grant_capture(db)
    prefix = f"my{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, **{PASSWORD_ENV: mariadb.capture_password})
    source_url = mariadb.capture_url + db
    args = ["run", "--source", source_url, "--password-env", PASSWORD_ENV]
    args += _kafka_args(kafka, prefix, tmp_path_factory.mktemp("dbzmy") / "cp.json")
    first = cli(*args, "--snapshot", "initial", "--idle-exit", "3", env=env)
    assert first.returncode == 0, first.stderr
    with conn.cursor() as cur:
        cur.execute(f"USE {db}")
        for stmt in MY_WORKLOAD + MY_MORE_WORKLOAD:
            cur.execute(stmt)
    second = cli(*args, "--idle-exit", "3", env=env)
    assert second.returncode == 0, second.stderr
    yield Topics(conn, source_url, prefix, mariadb.capture_password)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
    conn.close()


def _values(kafka: Any, topic: str) -> list[dict[str, Any]]:
    """The payloads of ``topic``'s messages (tombstones left out)."""
    return [
        json.loads(m.value())
        for m in consume_until_quiet(kafka.bootstrap, topic, quiet=2)
        if m.value() is not None
    ]


def _after_fields(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The field schemas of an event's ``after``."""
    after = next(f for f in event["schema"]["fields"] if f["field"] == "after")
    return list(after["fields"])


def _sink_until_equal(
    connect: Any,
    configs: dict[str, dict[str, str]],
    source: Topics,
    target_url: str,
    table_map: dict[str, str],
    extra: Callable[[], bool] = lambda: True,
    columns: dict[str, list[str]] | None = None,
) -> None:
    """Runs the sink connectors ``configs`` until ``verify`` finds every table of
    ``table_map`` equal in the target (and ``extra()`` holds), then removes them; fails when a
    connector fails or at the deadline, with verify's report."""
    from arrowtail.verify.compare import verify

    last: list[Any] = []

    def equal() -> bool:
        report = verify(
            source.url,
            target_url,
            _specs(table_map, columns),
            table_map=table_map,
            source_password=source.password,
            recheck_times=0,
        )
        last[:] = [report]
        return report.equal and extra()

    for name, config in configs.items():
        connect.add_connector(name, config)
    try:
        deadline = time.monotonic() + SINK_WAIT
        while not equal():
            for name in configs:
                try:
                    connect.raise_if_failed(name)
                except AssertionError as exc:
                    log = connect.recent_log(2000).splitlines()
                    errors = [line for line in log if " ERROR " in line or " WARN " in line]
                    raise AssertionError("\n".join([str(exc)[:3000], *errors[-40:]])) from None
            if time.monotonic() > deadline:
                report = last[0]
                diffs = _column_differences(source, target_url, table_map, report)
                raise AssertionError(
                    f"target not equal in {SINK_WAIT:.0f}s:\n{report.summary()}\n{diffs}"
                )
            time.sleep(1)
    finally:
        for name in configs:
            connect.remove_connector(name)


def _column_differences(
    source: Topics, target_url: str, table_map: dict[str, str], report: Any
) -> str:
    """For the failure message: the columns whose values differ in a few differing rows."""
    from arrowtail.verify.sides import DbSide, same_value

    src = DbSide.from_url(source.url, source.password)
    tgt = DbSide.from_url(target_url)
    lines = []
    try:
        for t in report.tables:
            if not t.different:
                continue
            cols, pk = src.describe(t.table)
            mine = src.rows(t.table, cols, pk)
            theirs = tgt.rows(table_map[t.table], cols, pk)
            for key in t.different[:3]:
                a, b = mine.get(key), theirs.get(key)
                if a is None or b is None:
                    continue
                for c, x, y in zip(cols, a, b, strict=True):
                    if not same_value(x, y):
                        lines.append(f"{t.table} {key} {c}: source {x!r} target {y!r}")
    finally:
        src.close()
        tgt.close()
    return "\n".join(lines)


def _specs(table_map: dict[str, str], columns: dict[str, list[str]] | None) -> list[str]:
    """verify's table entries: a table of ``columns`` with its column list."""
    columns = columns or {}
    return [f"{t} ({', '.join(columns[t])})" if t in columns else t for t in table_map]


def _arrowtail_verify(
    source: Topics,
    target_url: str,
    table_map: dict[str, str],
    target_password: str = "",
    columns: dict[str, list[str]] | None = None,
) -> None:
    """``arrowtail verify`` of every table of ``table_map``: each reported equal."""
    args = ["verify", "--source", source.url, "--against", target_url]
    args += ["--tables", ",".join(_specs(table_map, columns)), "--recheck", "0"]
    for src, dst in table_map.items():
        args += ["--map", f"{src}={dst}"]
    env = dict(os.environ, ARROWTAIL_TARGET_PASSWORD=target_password)
    if source.password is not None:
        env[PASSWORD_ENV] = source.password
        args += ["--password-env", PASSWORD_ENV]
    result = cli(*args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    for src in table_map:
        assert f"{src}: equal" in result.stdout, result.stdout


def _my_target(mariadb: Any, db: str) -> tuple[Any, str]:
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
    url = f"mysql://{mariadb.user}:{mariadb.password}@{mariadb.host}:{mariadb.port}/{db}"
    return my, url


def test_postgres_through_debezium_jdbc_sink(
    pg_source: Topics, postgres: Any, kafka: Any, connect: Any
) -> None:
    src, prefix = pg_source.conn, pg_source.prefix
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
    # The truncate is one keyless `t` event between the rows before and after it.
    trunc = consume_until_quiet(kafka.bootstrap, f"{prefix}.public.t_trunc", quiet=2)
    ops = [json.loads(m.value())["payload"]["op"] for m in trunc if m.value() is not None]
    assert ops == ["r"] * 5 + ["u", "t", "c", "c"], ops
    assert all(m.key() is None for m in trunc if json.loads(m.value())["payload"]["op"] == "t")
    # Unchanged TOAST values travel as values (re-read), never as Debezium's placeholder.
    types = _values(kafka, f"{prefix}.public.t_types")
    updated = [e["payload"]["after"] for e in types if e["payload"]["op"] == "u"]
    assert {a["id"] for a in updated} == {1, 3, 4}
    assert all(a["big"].startswith("c4ca4238") for a in updated if a["id"] != 3), updated
    assert all(a["big"] != UNAVAILABLE for a in updated)
    # Arrays of decimals, which the sink cannot write, travel as Debezium's Decimal items.
    stage = _values(kafka, f"{prefix}.public.t_stage")
    first = next(e for e in stage if e["payload"]["after"]["id"] == 1)
    an = next(f for f in _after_fields(first) if f["field"] == "an")
    assert an["items"]["name"] == "org.apache.kafka.connect.data.Decimal"
    assert an["items"]["parameters"]["scale"] == "2"
    assert first["payload"]["after"]["an"] == ["AJY=", None, "nA=="]
    # A column added mid-stream is in the schema of the events after it, gone after the drop.
    evolve = _values(kafka, f"{prefix}.public.t_evolve")
    layouts = [[f["field"] for f in _after_fields(e)] for e in evolve]
    assert layouts[0] == ["id", "a", "gone"]
    assert ["id", "a", "gone", "added", "n"] in layouts and layouts[-1] == ["id", "a", "added", "n"]

    tgt = fresh_db(postgres, "dbz_tgt")
    tgt.execute(EXTENSIONS)
    target_url = postgres.dsn_for(postgres.user, None, "dbz_tgt")
    table_map = {f"public.{t}": f"public.{t}" for t in KEYED + PG_MORE}
    topics = [f"{prefix}.public.{t}" for t in KEYED + PG_MORE]
    nokey_topic = [f"{prefix}.public.t_nokey"]
    _sink_until_equal(
        connect,
        {
            f"{prefix}-keyed": jdbc_sink(postgres, "dbz_tgt", topics, keyed=True),
            f"{prefix}-nokey": jdbc_sink(postgres, "dbz_tgt", nokey_topic, keyed=False),
        },
        pg_source,
        target_url,
        table_map,
        extra=lambda: pg_rows(tgt, "t_nokey") == pg_rows(src, "t_nokey"),
        columns=TYPES_BUT_TIMETZ,
    )
    _arrowtail_verify(pg_source, target_url, table_map, columns=TYPES_BUT_TIMETZ)
    # ZonedTime carries the time of day in UTC, so the target's timetz is the same time in UTC.
    utc = "SELECT id, (ttz AT TIME ZONE 'UTC')::time FROM t_types ORDER BY id"
    assert tgt.execute(utc).fetchall() == src.execute(utc).fetchall()
    # A VariableScaleDecimal lands in a double precision column: the nearest double.
    doubles = "SELECT id, n_u::float8 FROM t_types ORDER BY id"
    assert tgt.execute(doubles).fetchall() == src.execute(doubles).fetchall()
    kind = "SELECT data_type FROM information_schema.columns WHERE table_name = 't_types' AND "
    assert tgt.execute(kind + "column_name = 'n_u'").fetchone() == ("double precision",)
    assert tgt.execute(kind + "column_name = 'm'").fetchone() == ("numeric",)
    # A one-bit string lands in a boolean and an hstore in a json column (Debezium's forms of
    # them), which verify compares as the same data; xml and ltree keep their type, the other
    # strings are text (jsonb json).
    ext = tgt.execute(
        "SELECT column_name, udt_name FROM information_schema.columns"
        " WHERE table_name = 't_ext' AND column_name IN ('b1', 'v1', 'hs', 'x', 'lt', 'mac', 'jb')"
    ).fetchall()
    assert dict(ext) == {
        "b1": "bool",
        "v1": "bool",
        "hs": "json",
        "x": "xml",
        "lt": "ltree",
        "mac": "text",
        "jb": "json",
    }, ext
    # The tables the sink created keep the source's NOT NULL columns and primary keys.
    not_null = tgt.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND is_nullable = 'NO' ORDER BY 1, 2"
    ).fetchall()
    assert ("t_full", "name") in not_null and ("t_index", "code") in not_null
    assert ("t_full", "note") not in not_null
    # Schema evolution added the new columns and kept the dropped one (now null for new rows).
    cols = tgt.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 't_evolve'"
        " ORDER BY ordinal_position"
    ).fetchall()
    assert [c for (c,) in cols] == ["id", "a", "gone", "added", "n"]
    assert tgt.execute("SELECT gone FROM t_evolve WHERE id = 7").fetchone() == (None,)
    tgt.close()


def test_postgres_through_debezium_jdbc_sink_into_mariadb(
    pg_source: Topics, mariadb: Any, connect: Any
) -> None:
    """The same PostgreSQL changes, applied by Debezium's JDBC sink to a MariaDB target: the
    events carry what the sink's MariaDB dialect needs to create and key the tables."""
    target_db = "dbz_pg_to_my"
    my, target_url = _my_target(mariadb, target_db)
    prefix = pg_source.prefix
    tables = KEYED + PG_MORE_MY
    topics = [f"{prefix}.public.{t}" for t in tables]
    # The sink looks a table up by name in every database of the server: the tables of its own
    # (copy_...) keep it off those other tests left there under the source's names.
    table_map = {f"public.{t}": f"{target_db}.copy_{t}" for t in tables}
    config = jdbc_sink(
        mariadb, target_db, topics, keyed=True, engine="mariadb", table_prefix="copy_"
    )
    # The unconstrained numeric lands in a DOUBLE, as on a PostgreSQL target.
    types = ["id", *(c for c, _ in PG_MY_TYPE_COLUMNS if c != "n_u")]
    columns = {**PG_ADDED_BUT_TEXT, "public.t_types_my": types}
    _sink_until_equal(
        connect, {f"{prefix}-my": config}, pg_source, target_url, table_map, columns=columns
    )
    _arrowtail_verify(pg_source, target_url, table_map, columns=columns)
    assert_text_column_left_empty(my, f"{target_db}.copy_t_added")
    with my.cursor() as cur:
        cur.execute(f"SELECT id, n_u FROM {target_db}.copy_t_types_my ORDER BY id")
        doubles = [tuple(r) for r in cur.fetchall()]
    want = pg_source.conn.execute("SELECT id, n_u::float8 FROM t_types_my ORDER BY id")
    assert doubles == want.fetchall()
    with my.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND IS_NULLABLE = 'NO' ORDER BY 1, 2",
            (target_db,),
        )
        not_null = set(cur.fetchall())
    assert ("copy_t_full", "name") in not_null and ("copy_t_full", "note") not in not_null
    my.close()


def _assert_mariadb_messages(kafka: Any, prefix: str, mariadb: Any) -> None:
    db = "dbz_my"
    items = _values(kafka, f"{prefix}.{db}.m_items")
    streamed = [e for e in items if e["payload"]["op"] != "r"]
    assert streamed
    source = streamed[0]["payload"]["source"]
    assert source["file"].startswith("mysql-bin.") and source["server_id"] == mariadb.server_id
    late = next(
        e["payload"]["after"] for e in streamed if (e["payload"]["after"] or {}).get("id") == 2000
    )
    assert late["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"

    # TIME beyond a day's clock, as Debezium's MySQL connector writes it: signed MicroTime, the
    # same from the snapshot and from the binlog.
    times = _values(kafka, f"{prefix}.{db}.m_times")
    micros = {
        e["payload"]["after"]["id"]: (e["payload"]["op"], e["payload"]["after"]["d"]) for e in times
    }
    hour = 3_600_000_000
    assert micros == {
        1: ("r", -(hour + hour // 2 + 500_000)),
        2: ("c", -(838 * hour + 59 * 60_000_000 + 59_000_000)),
        3: ("c", 838 * hour + 59 * 60_000_000 + 59_000_001),
    }
    after = next(f for f in times[0]["schema"]["fields"] if f["field"] == "after")
    assert after["fields"][1] == {
        "type": "int64",
        "name": "io.debezium.time.MicroTime",
        "version": 1,
        "optional": True,
        "field": "d",
    }
    # A TIMESTAMP with as few fraction digits as Debezium's MariaDB connector writes.
    types = _values(kafka, f"{prefix}.{db}.m_types")
    first = next(e["payload"]["after"] for e in types if e["payload"]["after"]["id"] == 1)
    assert first["ts"] == "2001-02-03T04:05:06.5Z"
    # TRUNCATE TABLE: a truncate event in the table's topic, between the rows around it.
    trunc = [e["payload"] for e in _values(kafka, f"{prefix}.{db}.m_trunc")]
    ops = [(p["op"], (p["after"] or {}).get("id")) for p in trunc]
    assert ops[5:] == [("u", 1), ("t", None), ("c", 1), ("c", 7)]
    assert trunc[6]["before"] is None and trunc[6]["source"]["table"] == "m_trunc"


def test_mariadb_through_debezium_jdbc_sink(
    my_source: Topics, mariadb: Any, postgres: Any, kafka: Any, connect: Any
) -> None:
    _assert_mariadb_messages(kafka, my_source.prefix, mariadb)
    db, prefix = "dbz_my", my_source.prefix
    fresh_db(postgres, "dbz_mtgt").close()
    target_url = postgres.dsn_for(postgres.user, None, "dbz_mtgt")
    topics = [f"{prefix}.{db}.{t}" for t in MY_KEYED]
    # The target's tables are in schema public: the source's database is not a schema there.
    table_map = {f"{db}.{t}": f"public.{t}" for t in MY_KEYED}
    config = jdbc_sink(postgres, "dbz_mtgt", topics, keyed=True)
    _sink_until_equal(connect, {f"{prefix}-pg": config}, my_source, target_url, table_map)
    _arrowtail_verify(my_source, target_url, table_map)


def test_mariadb_through_debezium_jdbc_sink_into_mariadb(
    my_source: Topics, mariadb: Any, connect: Any
) -> None:
    db, prefix = "dbz_my", my_source.prefix
    target_db = "dbz_my_to_my"
    my, target_url = _my_target(mariadb, target_db)
    # Spatial columns too (the sink's MySQL dialect writes Debezium's Point and Geometry with
    # ST_GeomFromWKB; its PostgreSQL dialect needs PostGIS).
    tables = [*MY_KEYED, "m_geo"]
    topics = [f"{prefix}.{db}.{t}" for t in tables]
    # The sink looks for a table by its name in every database of the server, so the copies of
    # the source's tables on the same server get names of their own.
    table_map = {f"{db}.{t}": f"{target_db}.copy_{t}" for t in tables}
    config = jdbc_sink(
        mariadb, target_db, topics, keyed=True, engine="mariadb", table_prefix="copy_"
    )
    columns = MY_ADDED_BUT_TEXT
    _sink_until_equal(
        connect, {f"{prefix}-my": config}, my_source, target_url, table_map, columns=columns
    )
    _arrowtail_verify(my_source, target_url, table_map, mariadb.password, columns=columns)
    assert_text_column_left_empty(my, f"{target_db}.copy_m_added")
    with my.cursor() as cur:
        cur.execute(
            "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'copy_m_geo' ORDER BY ORDINAL_POSITION",
            (target_db,),
        )
        spatial = dict(cur.fetchall())
    # Created from the Point and Geometry records: spatial columns, not blobs.
    assert spatial == {
        "id": "int",
        "p": "point",
        "g": "geometry",
        "ls": "geometry",
        "po": "geometry",
    }
    my.close()
