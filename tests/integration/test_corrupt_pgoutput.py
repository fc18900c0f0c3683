"""Truncated and byte-flipped copies of a real pgoutput capture through PgOutputDecoder: DecodeError
or success only, never a crash or a hang, never rows the input does not hold
(tests/support/corrupt.py).

The capture is recorded here with ``arrowtail capture`` from the test server: many column types,
TOASTed values, updates with and without old keys, deletes, a truncate, a logical message, and a
transaction large enough to be streamed in progress (``logical_decoding_work_mem`` is small), so
the stream holds Stream Start/Stop/Commit. ``ARROWTAIL_SAVE_CAPTURE=FILE`` keeps a copy.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from typing import Any

import pytest
from psycopg import sql

from arrowtail import PgOutputDecoder
from tests.support.corrupt import check_flips, check_truncations, decode_rows

DB = "corrupt_pg"

SCHEMA = """
CREATE TABLE kinds (
    id int PRIMARY KEY, i2 smallint, i8 bigint, f4 real, f8 double precision, n numeric(14,4),
    b boolean, t text, vc varchar(20), by bytea, d date, ts timestamp, tz timestamptz,
    iv interval, u uuid, j jsonb, arr int[], tm time
);
CREATE TABLE full_rows (id int, v text);
ALTER TABLE full_rows REPLICA IDENTITY FULL;
"""

WORKLOAD = [
    "INSERT INTO kinds SELECT g, g, g::bigint * 1000000007, g / 3.0, g / 7.0, g * 1.2345, "
    "g % 2 = 0, 'text ' || g, 'vc' || g, decode(md5(g::text), 'hex'), date '2024-01-01' + g, "
    "timestamp '2024-01-01' + g * interval '1 minute', now(), g * interval '1 hour', "
    "gen_random_uuid(), jsonb_build_object('g', g, 'a', jsonb_build_array(g, 'x')), "
    "ARRAY[g, NULL, -g], time '12:00' + g * interval '1 second' FROM generate_series(1, 40) g",
    "UPDATE kinds SET t = NULL, n = -n WHERE id % 4 = 0",
    "UPDATE kinds SET id = id + 1000 WHERE id = 3",
    "DELETE FROM kinds WHERE id % 9 = 0",
    # Incompressible enough to be stored out of line: the next update sends it as unchanged.
    "UPDATE kinds SET t = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 200) g) "
    "WHERE id = 5",
    "UPDATE kinds SET i2 = 7 WHERE id = 5",
    "INSERT INTO full_rows SELECT g, 'r' || g FROM generate_series(1, 20) g",
    "UPDATE full_rows SET v = 'changed' WHERE id < 5",
    "DELETE FROM full_rows WHERE id > 15",
    "SELECT pg_logical_emit_message(true, 'arrowtail', 'hello')",
    # Large enough to be streamed in progress with logical_decoding_work_mem = 64kB.
    "INSERT INTO full_rows SELECT g, md5(g::text) FROM generate_series(100, 1100) g",
    "TRUNCATE full_rows",
    "INSERT INTO full_rows VALUES (1, 'after truncate')",
]


@pytest.fixture(scope="module")
def capture(postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    admin = postgres.connect()
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DB)))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB)))
    admin.execute(
        sql.SQL("ALTER DATABASE {} SET logical_decoding_work_mem = '64kB'").format(
            sql.Identifier(DB)
        )
    )
    admin.close()
    with postgres.connect(dbname=DB) as conn:
        conn.execute(SCHEMA)
        conn.execute("CREATE PUBLICATION corrupt_pub FOR ALL TABLES")
        conn.execute("SELECT pg_create_logical_replication_slot('corrupt_slot', 'pgoutput')")
        for statement in WORKLOAD:
            conn.execute(statement)
    out = tmp_path_factory.mktemp("capture") / "stream.cap"
    cmd = [
        sys.executable,
        "-m",
        "arrowtail.cli",
        "capture",
        "--source",
        postgres.dsn_for(postgres.user, None, DB),
        "--slot",
        "corrupt_slot",
        "--publication",
        "corrupt_pub",
        "--out",
        str(out),
        "--idle-exit",
        "2",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    if os.environ.get("ARROWTAIL_SAVE_CAPTURE"):
        shutil.copyfile(out, os.environ["ARROWTAIL_SAVE_CAPTURE"])
    return out.read_bytes()


def decode(data: bytes, out: list[Any]) -> None:
    d = PgOutputDecoder()
    try:
        d.feed_capture(data)
    finally:
        out.extend(d.flush())


def test_capture_decodes_cleanly(capture: bytes) -> None:
    rows, error = decode_rows(decode, capture)
    assert error is None
    assert len(rows["public.kinds"]) > 40
    assert len(rows["public.full_rows"]) > 1000
    assert any(r["_unchanged"] for r in rows["public.kinds"]), "no unchanged TOAST column"
    kinds, at = set(), 0
    while at < len(capture):
        (size,) = struct.unpack_from(">I", capture, at + 8)
        kinds.add(capture[at + 12 : at + 13])
        at += 12 + size
    assert {b"S", b"E", b"c"} <= kinds, f"no streamed transaction in the capture: {kinds}"
    assert {r["_op"] for r in rows["public.full_rows"]} >= {"c", "u", "d", "t"}


def test_truncated_capture(capture: bytes) -> None:
    assert check_truncations(decode, capture, "capture") > 50


def test_flipped_capture(capture: bytes) -> None:
    assert check_flips(decode, capture, "capture", seed=997) > 50
