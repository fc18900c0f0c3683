"""End to end against a real PostgreSQL: a workload over many types is captured from a logical
slot with protocol 1 (text) and with protocol 2 (binary, streaming, messages), decoded, replayed
by primary key, and compared value by value with ``SELECT``.

The workload covers NULLs, NaN numerics, ±infinity dates and timestamps, arrays with NULL
elements, unicode, a TOASTed value left unchanged by an update (default and FULL replica
identity), a schema change, a truncate, logical messages, a big transaction that PostgreSQL
streams (``logical_decoding_work_mem=64kB``) and subtransactions rolled back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from psycopg.conninfo import make_conninfo

from arrowtail import PgOutputDecoder
from arrowtail.sources.postgres.replication import start_replication
from tests.support.replay import replay

# Slots are cluster-wide: names of their own, dropped when the module is done.
SLOTS = {"pgo_replay_text": False, "pgo_replay_bin": False, "pgo_replay_2pc": True}
DBNAME = "pgo_replay"

# (column, SQL type, expression giving the expected value as Python gets it from psycopg)
COLUMNS: list[tuple[str, str, str]] = [
    ("b", "bool", "b"),
    ("i2", "int2", "i2"),
    ("i8", "int8", "i8"),
    ("f4", "float4", "f4::float8"),
    ("f8", "float8", "f8"),
    ("n_c", "numeric(12,3)", "CASE WHEN n_c = 'NaN' THEN NULL ELSE n_c END"),
    ("n_u", "numeric", "n_u::text"),
    ("n_w", "numeric(50,10)", "n_w::text"),
    ("t", "text", "t"),
    ("vc", "varchar(20)", "vc"),
    ("bp", "char(5)", "bp"),
    ("nm", "name", "nm::text"),
    ("by", "bytea", "by"),
    (
        "d",
        "date",
        "CASE WHEN d IS NULL THEN NULL WHEN isfinite(d) THEN d - DATE '1970-01-01' "
        "WHEN d > DATE '2000-01-01' THEN 2147483647 ELSE -2147483648 END",
    ),
    (
        "ts",
        "timestamp",
        "CASE WHEN ts IS NULL THEN NULL "
        "WHEN isfinite(ts) THEN (extract(epoch FROM ts) * 1000000)::int8 "
        "WHEN ts > 'epoch' THEN 9223372036854775807 ELSE -9223372036854775808 END",
    ),
    (
        "tstz",
        "timestamptz",
        "CASE WHEN tstz IS NULL THEN NULL "
        "WHEN isfinite(tstz) THEN (extract(epoch FROM tstz) * 1000000)::int8 "
        "WHEN tstz > 'epoch' THEN 9223372036854775807 ELSE -9223372036854775808 END",
    ),
    ("tm", "time", "tm"),
    ("ttz", "timetz", "ttz::text"),
    (
        "iv",
        "interval",
        "CASE WHEN iv IS NULL THEN NULL ELSE "
        "ARRAY[(extract(year FROM iv) * 12 + extract(month FROM iv))::int8, "
        "extract(day FROM iv)::int8, ((extract(hour FROM iv) * 60 + extract(minute FROM iv)) "
        "* 60000000 + extract(microseconds FROM iv))::int8 * 1000] END",
    ),
    ("u", "uuid", "u"),
    ("j", "json", "j::text"),
    ("jb", "jsonb", "jb::text"),
    ("ai", "int4[]", "ai"),
    ("at", "text[]", "at"),
    ("an", "numeric(8,2)[]", "an"),
    ("mood", "mood", "mood::text"),
    ("dom", "posint", "dom::int4"),
    ("big", "text", "big"),
]

ROWS = [
    "(1, true, 1, 9223372036854775807, 1.5, 0.1, 12.345, 1e-20, 12345678901234567890.0123456789,"
    " 'héllo 🌍', 'v', 'ab', 'nm', '\\x00ff10', '2024-02-29', '2024-02-29 12:34:56.789012',"
    " '2024-02-29 12:34:56.5+02', '23:59:59.999999', '12:00:00+05:30',"
    " '1 year 2 mons -3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',"
    ' \'{"a": [1, 2]}\', \'{"b": {"c": null}, "a": 1}\', \'{1,NULL,3}\', \'{"x,y",NULL,"q\\"t"}\','
    " '{1.50,NULL}', 'happy', 5,"
    " (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 3000) i))",
    "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "(3, false, -32768, -1, 'Infinity', 'NaN', 'NaN', 'NaN', '-0.5', '', '', '', '', '\\x',"
    " 'infinity', '-infinity', 'infinity', '00:00:00', '00:00:00-01', '-00:00:01', "
    " '00000000-0000-0000-0000-000000000000', 'null', '[]', '{}', '{}', '{}', 'sad', 1,"
    " 'small')",
    "(4, true, 7, 42, -0.25, -1e300, -99.999, 'Infinity', 0, 'x', 'y', 'z', 'n', '\\xdeadbeef',"
    " '-infinity', 'infinity', '-infinity', '12:00:00', '12:00:00+00', '3 days', "
    " 'ffffffff-ffff-ffff-ffff-ffffffffffff', '1', '2', '{-1}', '{\"\"}', '{-1.25}', 'ok', 2,"
    " NULL)",
    "(5, true, 0, 0, 0, 0, 0, '-Infinity', 0.00000001, 'ß', '', '', '', '\\x', '0044-03-15 BC',"
    " '1900-01-01 00:00:00', '1999-12-31 23:59:59.999999+00', '00:00:01', '01:02:03.5-07',"
    " '-1 years', '12345678-1234-1234-1234-123456789abc', '{}', '[1, \"a\"]', '{}', '{}', '{}',"
    " 'happy', 3, 'z')",
]


def workload(conn: Any) -> None:
    col_defs = ", ".join(f"{c} {t}" for c, t, _ in COLUMNS)
    conn.execute(f"INSERT INTO alltypes VALUES {', '.join(ROWS)}")
    # An update that leaves the TOASTed value alone: sent as unchanged ('u').
    conn.execute("UPDATE alltypes SET t = 'updated' WHERE id = 1")
    conn.execute("UPDATE alltypes SET id = 10 WHERE id = 4")
    conn.execute("DELETE FROM alltypes WHERE id = 5")
    conn.execute(
        "INSERT INTO fullrep VALUES (1, 'a', (SELECT string_agg(md5(i::text), '') "
        "FROM generate_series(1, 3000) i)), (2, 'b', 'x')"
    )
    conn.execute("UPDATE fullrep SET v = 'changed' WHERE id = 1")
    conn.execute("DELETE FROM fullrep WHERE id = 2")
    # A schema change between rows.
    conn.execute("INSERT INTO evolve VALUES (1, 'one')")
    conn.execute("ALTER TABLE evolve ADD COLUMN extra int")
    conn.execute("INSERT INTO evolve VALUES (2, 'two', 22)")
    conn.execute("UPDATE evolve SET extra = 11 WHERE id = 1")
    conn.execute("INSERT INTO trunc_me SELECT g FROM generate_series(1, 10) g")
    conn.execute("TRUNCATE trunc_me")
    conn.execute("INSERT INTO trunc_me VALUES (100)")
    conn.execute("SELECT pg_logical_emit_message(true, 'app', 'in a transaction')")
    conn.execute("SELECT pg_logical_emit_message(false, 'beat', 'alone')")
    # A small transaction with a rolled-back subtransaction.
    with conn.transaction():
        conn.execute("INSERT INTO bulk VALUES (-1, 'kept')")
        conn.execute("SAVEPOINT s")
        conn.execute("INSERT INTO bulk VALUES (-2, 'rolled back')")
        conn.execute("ROLLBACK TO SAVEPOINT s")
        conn.execute("INSERT INTO bulk VALUES (-3, 'kept too')")
    # A big transaction (streamed with 64kB work mem) with a big rolled-back subtransaction.
    with conn.transaction():
        conn.execute("INSERT INTO bulk SELECT g, repeat('p', 100) FROM generate_series(1, 3000) g")
        conn.execute("SAVEPOINT s")
        conn.execute(
            "INSERT INTO bulk SELECT g, repeat('r', 100) FROM generate_series(10001, 13000) g"
        )
        conn.execute("UPDATE bulk SET payload = 'in doomed subxact' WHERE id <= 10")
        conn.execute("ROLLBACK TO SAVEPOINT s")
        conn.execute("UPDATE bulk SET payload = 'updated' WHERE id BETWEEN 20 AND 30")
        conn.execute("DELETE FROM bulk WHERE id BETWEEN 40 AND 45")
        conn.execute("INSERT INTO alltypes (id, t) VALUES (6, 'inside the big one')")
    # Two-phase: one prepared transaction committed, one rolled back.
    for row_id, gid, finish in ((-10, "g1", "COMMIT"), (-11, "g2", "ROLLBACK")):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO bulk VALUES (%s, 'prepared')", (row_id,))
        conn.execute(f"PREPARE TRANSACTION '{gid}'")
        conn.execute(f"{finish} PREPARED '{gid}'")
    conn.execute("SELECT pg_logical_emit_message(false, 'done', '')")
    del col_defs


def setup_schema(conn: Any) -> None:
    col_defs = ", ".join(f"{c} {t}" for c, t, _ in COLUMNS)
    conn.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
    conn.execute("CREATE DOMAIN posint AS int4 CHECK (VALUE > 0)")
    conn.execute(f"CREATE TABLE alltypes (id int PRIMARY KEY, {col_defs})")
    conn.execute("ALTER TABLE alltypes ALTER COLUMN big SET STORAGE EXTERNAL")
    conn.execute("CREATE TABLE fullrep (id int PRIMARY KEY, v text, big text)")
    conn.execute("ALTER TABLE fullrep REPLICA IDENTITY FULL")
    conn.execute("CREATE TABLE evolve (id int PRIMARY KEY, v text)")
    conn.execute("CREATE TABLE trunc_me (id int PRIMARY KEY)")
    conn.execute("CREATE TABLE bulk (id int PRIMARY KEY, payload text)")
    conn.execute("CREATE PUBLICATION p FOR ALL TABLES")
    for slot, two_phase in SLOTS.items():
        conn.execute(
            "SELECT pg_create_logical_replication_slot(%s, 'pgoutput', false, %s)",
            (slot, two_phase),
        )


def capture(
    dsn: str, slot: str, **opts: Any
) -> tuple[list[tuple[str, int, pa.RecordBatch]], PgOutputDecoder, list[bytes]]:
    """Streams the slot until the 'done' message, answering keepalives."""
    stream = start_replication(dsn, slot, ["p"], messages=True, **opts)
    decoder = PgOutputDecoder()
    frames: list[bytes] = []
    batches: list[tuple[str, int, pa.RecordBatch]] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            frame = stream.read(timeout=1.0)
            if frame is None:
                stream.send_status(decoder.confirmable_lsn)
                continue
            frames.append(frame)
            decoder.feed(frame)
            if decoder.take_reply_requested():
                stream.send_status(decoder.confirmable_lsn, reply=False)
            if frame[:1] == b"w" and frame[25:26] == b"M" and b"done\0" in frame:
                batches.extend(decoder.flush())
                stream.send_status(decoder.confirmable_lsn)
                return batches, decoder, frames
            if len(frames) % 500 == 0:
                batches.extend(decoder.flush())
        raise AssertionError(f"no 'done' message within the deadline ({len(frames)} frames)")
    finally:
        stream.close()


def arrow_friendly(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Dates and timestamps as integers (±infinity sentinels do not fit Python datetimes)."""

    def conv(t: pa.DataType) -> pa.DataType:
        if pa.types.is_date32(t):
            return pa.int32()
        if pa.types.is_timestamp(t):
            return pa.int64()
        if pa.types.is_struct(t):
            return pa.struct([f.with_type(conv(f.type)) for f in t])
        return t

    schema = pa.schema(
        [f.with_type(conv(f.type)) for f in batch.schema], metadata=batch.schema.metadata
    )
    return batch.cast(schema)


def normalize(value: Any) -> Any:
    if isinstance(value, pa.MonthDayNano):
        return [value.months, value.days, value.nanoseconds]
    if hasattr(value, "bytes") and hasattr(value, "hex") and hasattr(value, "version"):
        return value.bytes  # uuid.UUID
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, float) and value != value:
        return "NaN"
    return value


def expected(
    conn: Any, table: str, exprs: list[tuple[str, str]]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    sql = "".join(f", {e} AS {c}" for c, e in exprs)
    cur = conn.execute(f"SELECT id{sql} FROM {table}")
    names = [d.name for d in cur.description]
    return {(r[0],): dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def compare(
    actual: dict[tuple[Any, ...], dict[str, Any]],
    want: dict[tuple[Any, ...], dict[str, Any]],
    table: str,
) -> None:
    # Re-keyed by id: with REPLICA IDENTITY FULL the stream's key is the whole row.
    actual = {(row["id"],): row for row in actual.values()}
    assert sorted(actual) == sorted(want), f"{table}: keys differ"
    for key, row in want.items():
        got = actual[key]
        for col, value in row.items():
            assert normalize(got.get(col)) == normalize(value), (
                f"{table} {key} column {col}: decoded {got.get(col)!r}, database has {value!r}"
            )


@pytest.fixture(scope="module")
def captured(postgres: Any) -> Iterator[dict[str, Any]]:
    # A database of its own, so tables and the publication do not meet other tests'.
    admin = postgres.connect()
    admin.execute(f"CREATE DATABASE {DBNAME}")
    dsn = make_conninfo(postgres.dsn, dbname=DBNAME)
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("SET TimeZone = 'UTC'")
    try:
        setup_schema(conn)
        workload(conn)
        text = capture(dsn, "pgo_replay_text", proto_version=1)
        binary = capture(
            dsn,
            "pgo_replay_bin",
            proto_version=2,
            binary=True,
            streaming="on",
            settings={"logical_decoding_work_mem": "64kB"},
        )
        twophase = capture(
            dsn,
            "pgo_replay_2pc",
            proto_version=3,
            two_phase=True,
            streaming="on",
            settings={"logical_decoding_work_mem": "64kB"},
        )
        yield {"conn": conn, "text": text, "binary": binary, "twophase": twophase}
    finally:
        conn.close()
        for slot in SLOTS:
            admin.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s",
                (slot,),
            )
        admin.execute(f"DROP DATABASE IF EXISTS {DBNAME}")
        admin.close()


@pytest.mark.parametrize("mode", ["text", "binary", "twophase"])
def test_replay_matches_select(captured: dict[str, Any], mode: str) -> None:
    conn = captured["conn"]
    batches, decoder, _frames = captured[mode]
    tables = replay([(t, v, arrow_friendly(b)) for t, v, b in batches])
    compare(
        tables["public.alltypes"],
        expected(conn, "alltypes", [(c, e) for c, _, e in COLUMNS]),
        "alltypes",
    )
    for table, cols in [
        ("fullrep", ["v", "big"]),
        ("evolve", ["v", "extra"]),
        ("bulk", ["payload"]),
        ("trunc_me", []),
    ]:
        compare(tables[f"public.{table}"], expected(conn, table, [(c, c) for c in cols]), table)
    assert decoder.is_idle and decoder.held_rows == 0
    assert decoder.committed_lsn > 0


@pytest.mark.parametrize("mode", ["text", "binary", "twophase"])
def test_stream_details(captured: dict[str, Any], mode: str) -> None:
    batches, decoder, frames = captured[mode]
    by_table: dict[str, list[dict[str, Any]]] = {}
    for t, _v, b in batches:
        by_table.setdefault(t, []).extend(arrow_friendly(b).to_pylist())
    # Unchanged TOAST without an old image is listed; with REPLICA IDENTITY FULL it is filled.
    upd = [r for r in by_table["public.alltypes"] if r["_op"] == "u" and r["t"] == "updated"]
    assert upd and upd[0]["big"] is None and upd[0]["_unchanged"] == ["big"]
    full = [r for r in by_table["public.fullrep"] if r["_op"] == "u"]
    assert full[0]["_unchanged"] is None and len(full[0]["big"]) == 96000
    assert full[0]["_before"]["v"] == "a"
    # Schema versions, truncate, messages.
    meta = next(b.schema.metadata for t, _, b in batches if t == "public.fullrep")
    assert meta[b"arrowtail.replica_identity"] == b"f"
    assert meta[b"arrowtail.primary_key"] == b"id,v,big"
    versions = {v for t, v, _ in batches if t == "public.evolve"}
    assert versions == {1, 2}
    assert [r["_op"] for r in by_table["public.trunc_me"]].count("t") == 1
    msgs = {(r["prefix"], r["transactional"]) for r in by_table["_messages"]}
    assert {("app", True), ("beat", False), ("done", False)} <= msgs
    # (_pos, _seq) is unique and increasing along the stream per table.
    for rows in by_table.values():
        keys = [(r["_pos"], r["_seq"]) for r in rows]
        assert len(set(keys)) == len(keys)
    # The NaN in numeric(12,3) was counted.
    assert decoder.stats["special_numerics"] >= 1
    streamed = sum(1 for f in frames if f[:1] == b"w" and f[25:26] == b"S")
    if mode == "text":
        assert streamed == 0
    else:
        assert streamed > 0, "the big transaction was expected to be streamed"
        assert decoder.stats["aborted_rows"] > 0
    prepares = sum(1 for f in frames if f[:1] == b"w" and f[25:26] == b"P")
    assert prepares == (2 if mode == "twophase" else 0)
