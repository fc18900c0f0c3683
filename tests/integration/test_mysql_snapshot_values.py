"""A MariaDB snapshot and the binlog give one column the same Arrow type and the same values: one
row per case is inserted before the snapshot and the same row after it, and the snapshot's ``r``
row is compared with the binlog's ``c`` row column by column."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa

from arrowtail.sources.mysql.source import MySqlSource
from tests.support.mysql_run import app_url

DB = "snap_values"

#: column name, SQL type, a value (SQL literal)
COLUMNS = [
    ("i8", "TINYINT", "-128"),
    ("u64", "BIGINT UNSIGNED", "18446744073709551615"),
    ("m", "MEDIUMINT", "-8388608"),
    ("f", "FLOAT", "-1.5"),
    ("d", "DOUBLE", "1e300"),
    ("dc", "DECIMAL(12,4)", "-12345678.0001"),
    ("wide", "DECIMAL(50,10)", "-1234567890123456789012345678901234567890.0000000001"),
    ("dt", "DATE", "'2024-02-29'"),
    ("zd", "DATE", "'0000-00-00'"),
    ("ts6", "DATETIME(6)", "'2024-01-02 03:04:05.000006'"),
    ("tsz", "TIMESTAMP(3)", "'2024-06-30 23:59:59.125'"),
    ("tm", "TIME(6)", "'-838:59:58.999999'"),
    ("tm0", "TIME", "'-00:00:01'"),
    ("y", "YEAR", "2155"),
    ("bits", "BIT(9)", "b'100000010'"),
    ("e", "ENUM('a','b','c')", "'b'"),
    ("s", "SET('x','y','z')", "'x,z'"),
    ("txt", "VARCHAR(40)", "'t\u00e9xt \U0001f600'"),
    ("lat", "TEXT CHARACTER SET latin1", "'caf\u00e9'"),
    ("bin", "BINARY(4)", "x'6100'"),
    ("vb", "VARBINARY(10)", "x'00ff'"),
    ("blb", "LONGBLOB", "x'deadbeef00'"),
    ("j", "JSON", '\'{"a": [1, 2.5, null], "b": "c"}\''),
    ("u", "UUID", "'123e4567-e89b-12d3-a456-426614174000'"),
    ("ip6", "INET6", "'2001:db8::ff00:42:8329'"),
    ("ip4", "INET4", "'192.0.2.1'"),
    ("g", "POINT", "ST_GeomFromText('POINT(1 2)')"),
]


def _insert(cur: Any, id_: int, values: bool) -> None:
    names = ", ".join(["id"] + [c for c, _, _ in COLUMNS])
    literals = ", ".join([str(id_)] + [v if values else "NULL" for _, _, v in COLUMNS])
    cur.execute(f"INSERT INTO {DB}.t ({names}) VALUES ({literals})")


def _rows(source: MySqlSource, op: str, want: int) -> pa.Table:
    """Polls ``source`` until it has given ``want`` rows of ``op`` for the table."""
    batches: list[pa.RecordBatch] = []
    deadline = time.monotonic() + 30
    while sum(b.num_rows for b in batches) < want:
        assert time.monotonic() < deadline, f"only {batches} of {want} {op} rows"
        chunk = source.poll(0.5)
        for table, _, batch in chunk.batches:
            if table == f"{DB}.t":
                batches.append(batch.filter(pa.compute.equal(batch.column("_op"), op)))
        if chunk.position is not None:
            source.acknowledge(chunk.position)
    return pa.Table.from_batches([b for b in batches if b.num_rows]).sort_by("id")


def test_snapshot_and_binlog_agree_on_every_type(mariadb: Any) -> None:
    conn = mariadb.connect()
    cur = conn.cursor()
    cur.execute("SET SESSION time_zone = '+00:00', sql_mode = ''")
    cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    cur.execute(f"CREATE DATABASE {DB}")
    columns = ", ".join(f"{c} {t} NULL" for c, t, _ in COLUMNS)
    cur.execute(f"CREATE TABLE {DB}.t (id INT PRIMARY KEY, {columns}) CHARACTER SET utf8mb4")
    mariadb.grant_capture(DB)
    _insert(cur, 1, True)
    _insert(cur, 2, False)
    source = MySqlSource(
        app_url(mariadb) + DB, password=mariadb.capture_password, snapshot="initial"
    )
    source.open(None)
    try:
        snap = _rows(source, "r", 2)
        cur.execute("SET SESSION time_zone = '+00:00', sql_mode = ''")
        _insert(cur, 11, True)
        _insert(cur, 12, False)
        stream = _rows(source, "c", 2)
    finally:
        source.close()
        conn.close()
    assert snap.column("id").to_pylist() == [1, 2]
    assert stream.column("id").to_pylist() == [11, 12]
    for name, sql_type, _ in COLUMNS:
        a, b = snap.column(name), stream.column(name)
        assert a.type == b.type, f"{name} {sql_type}: snapshot {a.type}, binlog {b.type}"
        assert a.to_pylist() == b.to_pylist(), f"{name} {sql_type}"
        assert a[1].as_py() is None, name
    first = {n: snap.column(n)[0].as_py() for n, _, _ in COLUMNS}
    assert first["zd"] is None and first["y"] == 2155 and first["bits"] == 258
    assert first["s"] == ["x", "z"] and first["e"] == "b" and first["bin"] == b"a\0\0\0"
    assert first["tm0"].total_seconds() == -1 and first["lat"] == "caf\u00e9"
    assert first["u"] == "123e4567-e89b-12d3-a456-426614174000"
    assert first["ip6"] == bytes.fromhex("20010db8000000000000ff0000428329")
    assert first["ip4"] == bytes([192, 0, 2, 1])
    assert str(first["dc"]) == "-12345678.0001"
    assert first["wide"] == "-1234567890123456789012345678901234567890.0000000001"


def test_snapshot_pages_by_key_in_the_columns_collation(mariadb: Any, monkeypatch: Any) -> None:
    """Pages of a snapshot continue after the last key read without conversion: every row once,
    with pages ending inside a run of equal first key values and keys in a case-insensitive
    collation."""
    from arrowtail.sources.mysql import snapshot

    monkeypatch.setattr(snapshot, "CHUNK_ROWS", 2)
    conn = mariadb.connect()
    cur = conn.cursor()
    db = DB + "_paged"
    cur.execute(f"DROP DATABASE IF EXISTS {db}")
    cur.execute(f"CREATE DATABASE {db}")
    cur.execute(
        f"CREATE TABLE {db}.t (k VARCHAR(10) COLLATE utf8mb4_unicode_ci, n INT, "
        "b VARBINARY(4), PRIMARY KEY (k, n))"
    )
    keys = [("a", 1), ("B", 1), ("B", 2), ("c", 1), ("\u00e9", 2), ("D", 1), ("e", 1)]
    cur.executemany(f"INSERT INTO {db}.t VALUES (%s, %s, x'00ff')", keys)
    # BIT keys: raw bytes that are no text (0x80 and up), and no number as a string.
    cur.execute(f"CREATE TABLE {db}.bits (k BIT(8) PRIMARY KEY)")
    bits = [1, 0x7F, 0x80, 0xC3, 0xFE, 0xFF]
    cur.executemany(f"INSERT INTO {db}.bits VALUES (%s)", [(b,) for b in bits])
    mariadb.grant_capture(db)
    source = MySqlSource(
        app_url(mariadb) + db, password=mariadb.capture_password, snapshot="initial"
    )
    source.open(None)
    got: list[tuple[str, int]] = []
    got_bits: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while len(got) + len(got_bits) < len(keys) + len(bits) and time.monotonic() < deadline:
            for table, _, batch in source.poll(0.5).batches:
                if table == f"{db}.t":
                    got += zip(
                        batch.column("k").to_pylist(), batch.column("n").to_pylist(), strict=True
                    )
                if table == f"{db}.bits":
                    got_bits += batch.column("k").to_pylist()
    finally:
        source.close()
        conn.close()
    assert sorted(got) == sorted(keys)
    assert len(got) == len(set(got)) == len(keys)
    assert got_bits == bits
