"""A MariaDB snapshot and the binlog give one column the same Arrow type and the same values: one
row per case is inserted before the snapshot and the same row after it, and the snapshot's ``r``
row is compared with the binlog's ``c`` row column by column."""

from __future__ import annotations

import struct
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
    # Values a FLOAT's six-digit text would change (1.67772e+07, 0.166667).
    ("f8", "FLOAT", "16777218"),
    ("fr", "FLOAT", "1.5e0 / 9"),
    ("fs", "FLOAT", "-1.17549435e-38"),
    ("fm", "FLOAT(7,4)", "123.4567"),
    ("d", "DOUBLE", "1e300"),
    ("d17", "DOUBLE", "0.1e0 + 0.2e0"),
    ("dm", "DOUBLE", "-1.7976931348623157e308"),
    ("dt4", "DOUBLE", "4.9406564584124654e-324"),
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


def _rows(source: MySqlSource, op: str, want: int, db: str = DB) -> pa.Table:
    """Polls ``source`` until it has given ``want`` rows of ``op`` for ``db.t``."""
    batches: list[pa.RecordBatch] = []
    deadline = time.monotonic() + 30
    while sum(b.num_rows for b in batches) < want:
        assert time.monotonic() < deadline, f"only {batches} of {want} {op} rows"
        chunk = source.poll(0.5)
        for table, _, batch in chunk.batches:
            if table == f"{db}.t":
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
    assert first["f8"] == 16777218.0 and first["fr"] == 0.1666666716337204
    assert first["d17"] == 0.30000000000000004 and first["dm"] == -1.7976931348623157e308


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
    # FLOAT keys one unit apart, all of which a FLOAT's six-digit text reads as 0.166667: a
    # page continued after that text would skip the rest.
    cur.execute(f"CREATE TABLE {db}.floats (k FLOAT PRIMARY KEY)")
    base = struct.unpack("<I", struct.pack("<f", 1.5 / 9))[0]
    floats = [struct.unpack("<f", struct.pack("<I", base + i))[0] for i in range(4)]
    cur.executemany(f"INSERT INTO {db}.floats VALUES (%s)", [(f,) for f in floats])
    mariadb.grant_capture(db)
    source = MySqlSource(
        app_url(mariadb) + db, password=mariadb.capture_password, snapshot="initial"
    )
    source.open(None)
    got: list[tuple[str, int]] = []
    got_bits: list[int] = []
    got_floats: list[float] = []
    want = len(keys) + len(bits) + len(floats)
    try:
        deadline = time.monotonic() + 30
        while len(got) + len(got_bits) + len(got_floats) < want and time.monotonic() < deadline:
            for table, _, batch in source.poll(0.5).batches:
                if table == f"{db}.t":
                    got += zip(
                        batch.column("k").to_pylist(), batch.column("n").to_pylist(), strict=True
                    )
                if table == f"{db}.bits":
                    got_bits += batch.column("k").to_pylist()
                if table == f"{db}.floats":
                    got_floats += batch.column("k").to_pylist()
    finally:
        source.close()
        conn.close()
    assert sorted(got) == sorted(keys)
    assert len(got) == len(set(got)) == len(keys)
    assert got_bits == bits
    assert got_floats == floats


#: character set, a text every one of them holds (the binlog carries it in that set's bytes)
CHARSETS = [
    ("armscii8", "\u0540\u0561\u0575"),
    ("ascii", "plain"),
    ("big5", "中文"),
    ("cp1250", "Łódź"),
    ("cp1251", "Жук"),
    ("cp1256", "عربي"),
    ("cp1257", "Ąžuolas"),
    ("cp850", "ñÇü"),
    ("cp852", "Łódź"),
    ("cp866", "Жук"),
    ("cp932", "日本①"),
    ("dec8", "Œäö"),
    ("eucjpms", "日本①"),
    ("euckr", "한국"),
    ("gb2312", "中文"),
    ("gbk", "中文"),
    ("geostd8", "ქართ"),
    ("greek", "Ελλάδα"),
    ("hebrew", "עברית"),
    ("hp8", "Àç"),
    ("keybcs2", "Čeština"),
    ("koi8r", "Жук"),
    ("koi8u", "Їжак"),
    ("latin1", "café €"),
    ("latin2", "Łódź"),
    ("latin5", "İstanbul"),
    ("latin7", "Ąžuolas"),
    ("macce", "Łódź"),
    ("macroman", "café ™"),
    ("sjis", "日本"),
    ("swe7", "ÄÖ"),
    ("tis620", "ไทย"),
    ("ucs2", "ĀĂЖ"),
    ("ujis", "日本"),
    ("utf16", "😀x"),
    ("utf16le", "😀€"),
    ("utf32", "𝄞"),
    ("utf8mb3", "naïve"),
    ("utf8mb4", "😀"),
]

#: ENUM and SET columns whose labels are in a set other than UTF-8: name, type, value, as read
LABELS = [
    ("e_latin1", "ENUM('é','ü') CHARACTER SET latin1", "ü", "ü"),
    ("e_sjis", "ENUM('日','本') CHARACTER SET sjis", "本", "本"),
    ("s_ucs2", "SET('ä','ö','Ж') CHARACTER SET ucs2", "ä,Ж", ["ä", "Ж"]),
    ("c_ucs2", "CHAR(5) CHARACTER SET ucs2", "Жж", "Жж"),
    ("c_cp1251", "CHAR(5) CHARACTER SET cp1251", "Ёж", "Ёж"),
]


def test_every_character_set_reads_the_same_from_the_binlog_as_from_a_select(
    mariadb: Any,
) -> None:
    """A text column in each character set the server has, and ENUM/SET labels in sets other
    than UTF-8: the binlog's bytes decode to the text the server itself gives the snapshot."""
    conn = mariadb.connect()
    cur = conn.cursor()
    db = DB + "_charsets"
    cur.execute(f"DROP DATABASE IF EXISTS {db}")
    cur.execute(f"CREATE DATABASE {db}")
    columns = [f"t_{cs} VARCHAR(20) CHARACTER SET {cs}" for cs, _ in CHARSETS]
    columns += [f"{name} {sql}" for name, sql, _, _ in LABELS]
    cur.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, {', '.join(columns)})")
    mariadb.grant_capture(db)
    names = ["id"] + [f"t_{cs}" for cs, _ in CHARSETS] + [n for n, _, _, _ in LABELS]
    values = [v for _, v in CHARSETS] + [v for _, _, v, _ in LABELS]
    insert = f"INSERT INTO {db}.t ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
    try:
        cur.execute(insert, [1, *values])
        source = MySqlSource(
            app_url(mariadb) + db, password=mariadb.capture_password, snapshot="initial"
        )
        source.open(None)
        try:
            snap = _rows(source, "r", 1, db)
            cur.execute(insert, [2, *values])
            stream = _rows(source, "c", 1, db)
        finally:
            source.close()
    finally:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.close()
    for cs, text in CHARSETS:
        name = f"t_{cs}"
        assert snap.column(name).to_pylist() == [text], f"{cs}: the server's text"
        assert stream.column(name).to_pylist() == [text], f"{cs}: read from the binlog"
    for name, sql, _, want in LABELS:
        assert snap.column(name).to_pylist() == [want], f"{sql}: the server's text"
        assert stream.column(name).to_pylist() == [want], f"{sql}: read from the binlog"


def test_bytes_undefined_in_their_character_set_are_replaced_with_a_warning(
    mariadb: Any, caplog: Any
) -> None:
    """swe7 is a 7-bit set, yet the server stores any byte given as binary: the binlog's 0x80
    becomes U+FFFD, and the run says so."""
    conn = mariadb.connect()
    cur = conn.cursor()
    db = DB + "_undefined"
    cur.execute(f"DROP DATABASE IF EXISTS {db}")
    cur.execute(f"CREATE DATABASE {db}")
    cur.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, s VARCHAR(5) CHARACTER SET swe7)")
    mariadb.grant_capture(db)
    try:
        source = MySqlSource(
            app_url(mariadb) + db, password=mariadb.capture_password, snapshot="never"
        )
        source.open(None)
        try:
            cur.execute(f"INSERT INTO {db}.t VALUES (1, UNHEX('418041'))")
            with caplog.at_level("WARNING", logger="arrowtail.mysql"):
                stream = _rows(source, "c", 1, db)
        finally:
            source.close()
    finally:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.close()
    assert stream.column("s").to_pylist() == ["A\ufffdA"]
    told = [r.getMessage() for r in caplog.records if "character set" in r.getMessage()]
    assert told and told[0].startswith("1 text values held bytes"), told
