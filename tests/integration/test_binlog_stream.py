"""The replication stream of a real MariaDB: dump the binlog with COM_BINLOG_DUMP over the client
protocol, feed the raw packets to BinlogDecoder in odd-sized chunks, and check that the stream
decodes to exactly what the server's binlog files decode to."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from arrowtail import BinlogDecoder, DecodeError
from tests.support.replay import replay

COM_BINLOG_DUMP = 0x12
BINLOG_DUMP_NON_BLOCK = 1


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Any:
    """The session ``mariadb`` fixture of tests/conftest.py (skips where it is not defined)."""
    try:
        return request.getfixturevalue("mariadb")
    except pytest.FixtureLookupError:
        pytest.skip("the mariadb fixture of tests/conftest.py is not available")


def _dump(server: Any, file: str, pos: int = 4) -> bytes:
    """Raw packets of a non-blocking binlog dump, up to and including the EOF or error packet."""
    conn = server.connect()
    cur = conn.cursor()
    cur.execute("SET @master_binlog_checksum = @@global.binlog_checksum")
    cur.execute("SET @mariadb_slave_capability = 4")
    payload = struct.pack("<IHI", pos, BINLOG_DUMP_NON_BLOCK, 4242) + file.encode()
    conn._execute_command(COM_BINLOG_DUMP, payload)  # PyMySQL has no public call for it
    raw = bytearray()
    continued = False
    while True:
        header = conn._rfile.read(4)
        length = int.from_bytes(header[:3], "little")
        body = conn._rfile.read(length)
        raw += header + body
        first = not continued
        continued = length == 0xFFFFFF
        if first and body[:1] == b"\xff":
            break
        if first and body[:1] == b"\xfe" and length < 9:
            break
    conn.close()
    return bytes(raw)


def _workload(server: Any) -> list[str]:
    """Runs the workload in binlog files of its own and returns their names: the session's server
    keeps what other tests wrote (some hundreds of MB) in the files before them."""
    conn = server.connect()
    cur = conn.cursor()
    cur.execute("FLUSH BINARY LOGS")
    cur.execute("SHOW MASTER STATUS")
    first = cur.fetchone()[0]
    cur.execute("CREATE DATABASE IF NOT EXISTS bl_stream")
    cur.execute(
        "CREATE TABLE IF NOT EXISTS bl_stream.t (id INT PRIMARY KEY, v VARCHAR(20), b LONGBLOB)"
    )
    cur.execute("DELETE FROM bl_stream.t")
    cur.execute("BEGIN")
    cur.executemany(
        "INSERT INTO bl_stream.t VALUES (%s, %s, %s)",
        [(i, f"v{i}", bytes([i % 256]) * (i * 1000)) for i in range(40)],
    )
    cur.execute("COMMIT")
    # One row event over 16 MiB: it reaches the client in several packets. REPEAT needs a
    # max_allowed_packet above the result, which only new sessions pick up.
    cur.execute("SET GLOBAL max_allowed_packet = 67108864")
    conn = server.connect()
    cur = conn.cursor()
    cur.execute("INSERT INTO bl_stream.t VALUES (1000, 'big', REPEAT('z', 17000000))")
    cur.execute("UPDATE bl_stream.t SET v = 'changed' WHERE id < 10")
    cur.execute("DELETE FROM bl_stream.t WHERE id >= 30 AND id < 1000")
    cur.execute("FLUSH BINARY LOGS")
    cur.execute("SHOW BINARY LOGS")
    names = [row[0] for row in cur.fetchall()]
    return names[names.index(first) :]


def test_stream_decodes_like_the_files(server: Any) -> None:
    files = _workload(server)
    from_files = BinlogDecoder()
    for name in files:
        from_files.feed_file(Path(server.binlog_dir) / name)
    want = replay(from_files.flush())

    raw = _dump(server, files[0])
    full, at = 0, 0
    while at < len(raw):
        length = int.from_bytes(raw[at : at + 3], "little")
        full += length == 0xFFFFFF
        at += 4 + length
    assert full >= 1, "the big row event should span several packets"
    stream = BinlogDecoder()
    step = 65_537
    for i in range(0, len(raw), step):
        stream.feed(raw[i : i + step])
    assert stream.stream_ended
    got = replay(stream.flush())

    assert got["bl_stream.t"] == want["bl_stream.t"]
    assert len(got["bl_stream.t"]) == 31
    assert got["bl_stream.t"][(1000,)]["b"] == b"z" * 17_000_000
    assert got["bl_stream.t"][(5,)]["v"] == "changed"
    assert stream.last_gtid == from_files.last_gtid
    assert stream.last_commit == from_files.last_commit
    assert stream.stats["checksums_verified"] > 0


def test_server_error_packet_is_a_decode_error(server: Any) -> None:
    raw = _dump(server, "no-such-binlog.000042")
    d = BinlogDecoder()
    with pytest.raises(DecodeError, match=r"server sent error 1236"):
        d.feed(raw)
