"""Replay test against a real MariaDB: run a workload covering every column type, updates,
deletes and multi-statement transactions, read the server's binlog files, decode them, replay the
change batches by primary key and compare with ``SELECT *`` value by value."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arrowtail import BinlogDecoder
from tests.support.mysql_run import comparable
from tests.support.replay import replay

DB = "bl_replay"

TYPES_DDL = f"""
CREATE TABLE {DB}.types (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  d DECIMAL(20,6), d0 DECIMAL(5,0), dw DECIMAL(50,20), f FLOAT, db DOUBLE,
  dte DATE, dtm DATETIME(6), dtm0 DATETIME, ts TIMESTAMP(3) NULL DEFAULT NULL,
  tm TIME(6), tm0 TIME, y YEAR,
  c CHAR(10), vc VARCHAR(300), tx TEXT, lt VARCHAR(40) CHARACTER SET latin1,
  bn BINARY(4), vb VARBINARY(20), bl LONGBLOB, j JSON,
  e ENUM('a','b','c'), s SET('x','y','z'), b1 BIT(1), b64 BIT(64)
) CHARACTER SET utf8mb4
"""

COLUMNS = (
    "id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, d, d0, dw, f, db, dte, dtm, dtm0, ts, "
    "tm, tm0, y, c, vc, tx, lt, bn, vb, bl, j, e, s, b1, b64"
)

MAX_ROW = (
    1,
    127,
    255,
    32767,
    65535,
    8388607,
    16777215,
    2147483647,
    4294967295,
    9223372036854775807,
    18446744073709551615,
    Decimal("99999999999999.999999"),
    Decimal(99999),
    Decimal("123456789012345678901234567890.12345678901234567890"),
    3.25,
    1.5e300,
    "9999-12-31",
    "9999-12-31 23:59:59.999999",
    "2024-02-29 12:00:00",
    "2038-01-19 03:14:07.999",
    "838:59:59.000000",
    "-838:59:59",
    2155,
    "ten chars!",
    "v" * 300,
    "emoji \U0001f600 text",
    "caf\u00e9 \u00fcber \u20ac",
    b"\x00\x01\x02\x03",
    b"\xff\x00abc",
    b"\xde\xad" * 100_000,
    '{"k": [1, 2, {"z": null}]}',
    "c",
    "x,z",
    1,
    18446744073709551615,
)

MIN_ROW = (
    2,
    -128,
    0,
    -32768,
    0,
    -8388608,
    0,
    -2147483648,
    0,
    -9223372036854775808,
    0,
    Decimal("-99999999999999.999999"),
    Decimal(-99999),
    Decimal("-0.00000000000000000001"),
    -3.25,
    -2.5e-300,
    "1000-01-01",
    "1000-01-01 00:00:00.000001",
    "1970-01-01 00:00:00",
    "1970-01-01 00:00:01.001",
    "-00:00:01.500000",
    "00:00:00",
    1901,
    "",
    "",
    "",
    "",
    b"\x00\x00\x00\x00",
    b"",
    b"",
    "[]",
    "a",
    "",
    0,
    0,
)


def _null_row(pk: int) -> tuple[Any, ...]:
    return (pk,) + (None,) * (len(COLUMNS.split(",")) - 1)


def _workload(conn: Any) -> None:
    cur = conn.cursor()
    cur.execute("SET SESSION sql_mode = ''")  # allow zero dates
    cur.execute("SET SESSION time_zone = '+00:00'")
    cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    cur.execute(f"CREATE DATABASE {DB}")
    cur.execute(TYPES_DDL)
    cur.execute(
        f"CREATE TABLE {DB}.pairs (a INT, b VARCHAR(20), v TEXT, PRIMARY KEY (a, b))"
        " CHARACTER SET latin1"
    )
    placeholders = ", ".join(["%s"] * len(COLUMNS.split(",")))
    insert = f"INSERT INTO {DB}.types ({COLUMNS}) VALUES ({placeholders})"
    cur.executemany(insert, [MAX_ROW, MIN_ROW, _null_row(3)])
    # Zero dates, stored by the server as such, decode as null.
    cur.execute(
        f"INSERT INTO {DB}.types (id, dte, dtm, dtm0) VALUES (4, '0000-00-00', "
        "'0000-00-00 00:00:00', '2020-00-10 00:00:00')"
    )
    # A multi-statement transaction touching both tables, with updates and deletes.
    cur.execute("BEGIN")
    for k in range(20):
        cur.execute(
            f"INSERT INTO {DB}.pairs VALUES (%s, %s, %s)", (k % 5, f"k{k}", "\u00e9t\u00e9" * k)
        )
    cur.execute(
        f"UPDATE {DB}.types SET vc = 'changed', j = '{{\"a\": 1}}', bi = bi - 1 WHERE id = 1"
    )
    cur.execute(f"UPDATE {DB}.pairs SET v = 'updated' WHERE a = 2")
    cur.execute(f"DELETE FROM {DB}.pairs WHERE a = 3")
    cur.execute("COMMIT")
    # A key change, a delete and re-insert of the same key, and a rolled-back transaction.
    cur.execute(f"UPDATE {DB}.pairs SET a = 100 WHERE a = 4 AND b = 'k4'")
    cur.execute(f"DELETE FROM {DB}.types WHERE id = 3")
    cur.execute(f"INSERT INTO {DB}.types (id, vc) VALUES (3, 'again')")
    cur.execute("BEGIN")
    cur.execute(f"DELETE FROM {DB}.types")
    cur.execute("ROLLBACK")
    cur.execute(f"UPDATE {DB}.types SET s = 'y', e = 'b', b1 = 0 WHERE id = 2")
    cur.execute("FLUSH BINARY LOGS")


def _binlog_files(conn: Any, binlog_dir: Path) -> list[Path]:
    cur = conn.cursor()
    cur.execute("SHOW BINARY LOGS")
    names = [row[0] for row in cur.fetchall()]
    return [binlog_dir / n for n in names]


def _norm(value: Any, arrow_value: Any) -> tuple[Any, Any]:
    """:func:`mysql_run.comparable`, and a zero or invalid date PyMySQL could not convert."""
    if isinstance(value, str) and arrow_value is None and re.match(r"\d{4}-\d\d-\d\d", value):
        return None, None
    return comparable(value, arrow_value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6)
    return a == b


def test_mariadb_replay_matches_select(server: Any) -> None:
    conn = server.connect()
    _workload(conn)
    d = BinlogDecoder()
    for path in _binlog_files(conn, Path(server.binlog_dir)):
        d.feed_file(path)
    batches = d.flush()
    tables = replay(b for b in batches if b[0].startswith(f"{DB}."))
    stats = d.stats
    assert stats["skipped_unknown"] == 0
    assert stats["invalid_temporal"] >= 3  # the zero dates of row 4

    cur = conn.cursor()
    cur.execute("SET SESSION time_zone = '+00:00'")
    for table, pk in (("types", ["id"]), ("pairs", ["a", "b"])):
        cur.execute(f"SELECT * FROM {DB}.{table}")
        names = [c[0] for c in cur.description]
        expected = {
            tuple(r[names.index(k)] for k in pk): dict(zip(names, r, strict=True)) for r in cur
        }
        got = tables[f"{DB}.{table}"]
        assert set(got) == set(expected), table
        for key, row in expected.items():
            for col, value in row.items():
                want, have = _norm(value, got[key][col])
                assert _same(want, have), f"{table} {key} {col}: {want!r} != {have!r}"
    # The decoded batches carry the contract's metadata and types.
    types_batch = next(b for t, _, b in batches if t == f"{DB}.types")
    schema = types_batch.schema
    assert str(schema.field("biu").type) == "uint64"
    assert str(schema.field("tm").type) == "duration[us]"
    assert str(schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("d").type) == "decimal128(20, 6)"
    assert str(schema.field("s").type) == "list<item: string>"
    assert str(schema.field("bl").type) == "binary"
    ddl = [b for t, _, b in batches if t == "_ddl"]
    statements = [s for b in ddl for s in b.column("statement").to_pylist()]
    assert any(f"CREATE TABLE {DB}.types" in s for s in statements)
    assert d.last_gtid and d.last_gtid.startswith("0-1-")


def test_mariadb_rows_have_increasing_positions(server: Any) -> None:
    conn = server.connect()
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {DB}_pos")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {DB}_pos.t (id INT PRIMARY KEY, v INT)")
    cur.execute(f"DELETE FROM {DB}_pos.t")
    cur.execute("BEGIN")
    cur.executemany(f"INSERT INTO {DB}_pos.t VALUES (%s, %s)", [(i, i) for i in range(50)])
    cur.execute("COMMIT")
    cur.execute(f"UPDATE {DB}_pos.t SET v = v + 1")
    cur.execute("FLUSH BINARY LOGS")
    d = BinlogDecoder()
    for path in _binlog_files(conn, Path(server.binlog_dir)):
        d.feed_file(path)
    rows = [
        (r["_pos"], r["_seq"], r["_op"], r["_xid"])
        for t, _, b in d.flush()
        if t == f"{DB}_pos.t"
        for r in b.to_pylist()
    ]
    assert [r[2] for r in rows[-100:]] == ["c"] * 50 + ["u"] * 50
    keys = [(p, s) for p, s, _, _ in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # One transaction: one _pos, _seq 0..49, and the GTID sequence number as _xid.
    inserts = rows[-100:-50]
    assert len({r[0] for r in inserts}) == 1
    assert [r[1] for r in inserts] == list(range(50))
    assert len({r[3] for r in inserts}) == 1 and inserts[0][3] > 0


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Any:
    """The session ``mariadb`` fixture of tests/conftest.py (skips where it is not defined)."""
    try:
        return request.getfixturevalue("mariadb")
    except pytest.FixtureLookupError:
        pytest.skip("the mariadb fixture of tests/conftest.py is not available")


def _event_types(path: Path) -> set[int]:
    data = path.read_bytes()
    types, at = set(), 4
    while at + 19 <= len(data):
        types.add(data[at + 4])
        at += int.from_bytes(data[at + 9 : at + 13], "little")
    return types


def test_mariadb_compressed_events(server: Any) -> None:
    admin = server.connect()
    cur = admin.cursor()
    cur.execute("SELECT @@global.log_bin_compress, @@global.log_bin_compress_min_len")
    saved = cur.fetchone()
    cur.execute("SET GLOBAL log_bin_compress = ON, GLOBAL log_bin_compress_min_len = 10")
    try:
        conn = server.connect()
        c = conn.cursor()
        c.execute("CREATE DATABASE IF NOT EXISTS bl_zip")
        c.execute("CREATE TABLE IF NOT EXISTS bl_zip.t (id INT PRIMARY KEY, v TEXT, n BIGINT)")
        c.execute("DELETE FROM bl_zip.t")
        c.execute("BEGIN")
        c.executemany(
            "INSERT INTO bl_zip.t VALUES (%s, %s, %s)",
            [(i, "compressible text " * i, -i) for i in range(100)],
        )
        c.execute("COMMIT")
        c.execute("UPDATE bl_zip.t SET v = CONCAT(v, '!'), n = n * 2 WHERE id % 3 = 0")
        c.execute("DELETE FROM bl_zip.t WHERE id % 7 = 0")
        c.execute("FLUSH BINARY LOGS")
        files = _binlog_files(conn, Path(server.binlog_dir))
    finally:
        cur.execute("SET GLOBAL log_bin_compress = %s, GLOBAL log_bin_compress_min_len = %s", saved)
    seen = {t for f in files for t in _event_types(f)}
    assert 165 in seen and seen & {166, 167, 168}  # compressed QUERY and rows events
    d = BinlogDecoder()
    for path in files:
        d.feed_file(path)
    batches = d.flush()
    ddl = [s for t, _, b in batches if t == "_ddl" for s in b.column("statement").to_pylist()]
    assert "CREATE TABLE IF NOT EXISTS bl_zip.t (id INT PRIMARY KEY, v TEXT, n BIGINT)" in ddl
    got = replay(b for b in batches if b[0] == "bl_zip.t")["bl_zip.t"]
    c.execute("SELECT id, v, n FROM bl_zip.t")
    expected = {(r[0],): {"id": r[0], "v": r[1], "n": r[2]} for r in c.fetchall()}
    assert got == expected
    assert len(expected) == 85


def test_mariadb_alter_table_starts_a_schema_version(server: Any) -> None:
    conn = server.connect()
    c = conn.cursor()
    c.execute("CREATE DATABASE IF NOT EXISTS bl_ver")
    c.execute("DROP TABLE IF EXISTS bl_ver.t")
    c.execute("CREATE TABLE bl_ver.t (id INT PRIMARY KEY, a INT)")
    c.execute("INSERT INTO bl_ver.t VALUES (1, 10)")
    c.execute("ALTER TABLE bl_ver.t ADD COLUMN note VARCHAR(10) DEFAULT 'x', MODIFY a BIGINT")
    c.execute("INSERT INTO bl_ver.t VALUES (2, 20, 'two')")
    c.execute("UPDATE bl_ver.t SET note = 'one' WHERE id = 1")
    c.execute("FLUSH BINARY LOGS")
    d = BinlogDecoder()
    for path in _binlog_files(conn, Path(server.binlog_dir)):
        d.feed_file(path)
    batches = [(v, b) for t, v, b in d.flush() if t == "bl_ver.t"]
    versions = {v: b.schema for v, b in batches}
    assert len(versions) >= 2
    first, last = versions[min(versions)], versions[max(versions)]
    assert str(first.field("a").type) == "int32" and "note" not in first.names
    assert str(last.field("a").type) == "int64" and "note" in last.names
    assert last.metadata[b"arrowtail.schema_version"] == str(max(versions)).encode()
    rows = replay(("bl_ver.t", v, b) for v, b in batches)["bl_ver.t"]
    assert rows[(1,)] == {"id": 1, "a": 10, "note": "one"}
    assert rows[(2,)] == {"id": 2, "a": 20, "note": "two"}
