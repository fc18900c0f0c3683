"""Target databases for the database sink tests: a PostgreSQL schema or MariaDB database
``sinktest`` with the table ``items`` whose update trigger (enabled ``ALWAYS`` on PostgreSQL)
counts how often each row was updated (``hits``), and helpers to apply batches and compare the
table with the row-by-row reference replay."""

from __future__ import annotations

import datetime as dt

from tests.support.dbsink_cases import NAMES, last_pos, reference
from tests.support.dbsink_child import make_sink, position

TABLE = "sinktest.items"


class PgTarget:
    engine = "postgres"

    def __init__(self, server):
        self.server = server
        self.params = {"dsn": server.dsn}

    def execute(self, *statements: str) -> list:
        with self.server.connect() as conn:
            out = []
            for s in statements:
                cur = conn.execute(s)
                out = cur.fetchall() if cur.description else out
            return out

    def reset(self) -> None:
        self.execute(
            "DROP SCHEMA IF EXISTS sinktest CASCADE",
            "DROP TABLE IF EXISTS arrowtail_state",
            "CREATE SCHEMA sinktest",
            "CREATE TABLE sinktest.items (id bigint PRIMARY KEY, name text, note text,"
            " price numeric(10,2), n integer, ts timestamptz, blob bytea,"
            " hits integer NOT NULL DEFAULT 0)",
            "CREATE FUNCTION sinktest.count_hits() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN NEW.hits := OLD.hits + 1; RETURN NEW; END $$",
            "CREATE TRIGGER count_hits BEFORE UPDATE ON sinktest.items FOR EACH ROW"
            " EXECUTE FUNCTION sinktest.count_hits()",
            # The sink's session runs as a replica, where only such triggers fire.
            "ALTER TABLE sinktest.items ENABLE ALWAYS TRIGGER count_hits",
        )

    def rows(self, table: str = "sinktest.items", cols: list[str] = NAMES) -> dict:
        got = self.execute(f"SELECT {', '.join(cols)}, hits FROM {table} ORDER BY 1")
        return {r[0]: dict(zip([*cols, "hits"], r, strict=True)) for r in got}


class MariaTarget:
    engine = "mysql"

    def __init__(self, server):
        self.server = server
        self.params = {
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "password": server.password,
            "database": server.database,
        }

    def execute(self, *statements: str) -> list:
        conn = self.server.connect(database=self.server.database)
        try:
            out: list = []
            with conn.cursor() as cur:
                for s in statements:
                    cur.execute(s)
                    out = list(cur.fetchall()) if cur.description else out
            return out
        finally:
            conn.close()

    def reset(self) -> None:
        self.execute(
            "DROP DATABASE IF EXISTS sinktest",
            "DROP TABLE IF EXISTS arrowtail_state",
            "CREATE DATABASE sinktest",
            "CREATE TABLE sinktest.items (id BIGINT PRIMARY KEY, name LONGTEXT, note LONGTEXT,"
            " price DECIMAL(10,2), n INT, ts DATETIME(6), `blob` LONGBLOB,"
            " hits INT NOT NULL DEFAULT 0) ENGINE=InnoDB",
            "CREATE TRIGGER sinktest.count_hits BEFORE UPDATE ON sinktest.items FOR EACH ROW"
            " SET NEW.hits = OLD.hits + 1",
        )

    def rows(self, table: str = "sinktest.items", cols: list[str] = NAMES) -> dict:
        quoted = ", ".join(f"`{c}`" for c in cols)
        got = self.execute(f"SELECT {quoted}, hits FROM {table} ORDER BY 1")
        out = {}
        for r in got:
            row = dict(zip([*cols, "hits"], r, strict=True))
            if isinstance(row.get("ts"), dt.datetime):
                row["ts"] = row["ts"].replace(tzinfo=dt.timezone.utc)
            out[r[0]] = row
        return out


def source_kind(t) -> str:
    return "postgres" if t.engine == "postgres" else "mysql"


def apply_batches(t, batch_list, sink_name="arrowtail") -> None:
    sink = make_sink(t.engine, {**t.params, "sink_name": sink_name})
    sink.open()
    try:
        for b in batch_list:
            sink.write(TABLE, 1, b)
            sink.commit(position(t.engine, last_pos(b)))
    finally:
        sink.close()


def expect_rows(t, batch_list, hits) -> None:
    want = reference(batch_list)
    got = t.rows()
    assert sorted(got) == sorted(want)
    for key, row in got.items():
        assert {c: row[c] for c in NAMES} == want[key], f"row {key}"
    assert {k: r["hits"] for k, r in got.items()} == hits
