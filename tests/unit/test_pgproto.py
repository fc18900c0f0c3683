"""arrowtail's own PostgreSQL client without a server: SCRAM-SHA-256 against RFC 7677's test
vector, the MD5 answer, connection-string resolution like libpq's (URL, key=value, ``PG*``
environment, password file), ErrorResponse fields, and the Rust splitter fed raw COPY bytes in
arbitrary chunks from Python."""

from __future__ import annotations

import hashlib
import random
import socket
import struct
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from arrowtail import _core
from arrowtail.exceptions import DecodeError, SourceError
from arrowtail.sources.postgres import auth as pgauth
from arrowtail.sources.postgres import client as pgproto
from arrowtail.sources.postgres.replication import backend_options, pinned_dsn


def test_scram_matches_rfc7677_vector() -> None:
    scram = pgauth.Scram("pencil", nonce="rOprNGfwEbeRWgbNEkqO", user="user")
    assert scram.client_first() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    server_first = (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    assert scram.client_final(server_first) == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    scram.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    with pytest.raises(SourceError, match="signature is wrong"):
        scram.verify_server_final(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")


def test_scram_refuses_a_nonce_the_client_did_not_start() -> None:
    scram = pgauth.Scram("pw", nonce="abc")
    with pytest.raises(SourceError, match="first message is invalid"):
        scram.client_final(b"r=xyz123,s=AAAA,i=4096")


def test_md5_answer() -> None:
    # "md5" || md5(hex(md5(password || user)) || salt), PostgreSQL's AuthenticationMD5Password.
    inner = hashlib.md5(b"secretalice").hexdigest().encode()
    want = b"md5" + hashlib.md5(inner + b"\x01\x02\x03\x04").hexdigest().encode()
    assert want == b"md598a0412b9c31436fc53776e863350083"
    assert pgauth.md5_password("alice", "secret", b"\x01\x02\x03\x04") == want


def test_resolve_url_keywords_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGSSLMODE"):
        monkeypatch.delenv(var, raising=False)
    p = pgauth.resolve("postgresql://bob:s%40cret@db.example:6543/shop?sslmode=require")
    assert (p.hosts, p.user, p.password, p.dbname, p.sslmode) == (
        [("db.example", 6543)],
        "bob",
        "s@cret",
        "shop",
        "require",
    )
    p = pgauth.resolve("host=h1,h2 port=1,2 user=u dbname=d options='-c a=b'")
    assert p.hosts == [("h1", 1), ("h2", 2)]
    assert p.options == "-c a=b"
    monkeypatch.setenv("PGHOST", "envhost")
    monkeypatch.setenv("PGUSER", "envuser")
    monkeypatch.setenv("PGPASSWORD", "envpw")
    monkeypatch.setenv("PGSSLMODE", "disable")
    p = pgauth.resolve("dbname=x")
    got = (p.hosts, p.user, p.password, p.sslmode)
    assert got == ([("envhost", 5432)], "envuser", "envpw", "disable")
    with pytest.raises(SourceError, match="invalid sslmode"):
        pgauth.resolve("host=h sslmode=sometimes")
    with pytest.raises(SourceError, match='channel_binding=require.*wire = "libpq"'):
        pgauth.resolve("host=h channel_binding=require")


def test_passfile_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    passfile = tmp_path / "pgpass"
    passfile.write_text(
        "# comment\n"
        "other:5432:*:bob:wrong\n"
        "db.example:*:shop:bob:pa\\:ss\\\\word\n"
        "*:*:*:*:fallback\n"
    )
    p = pgauth.resolve(f"host=db.example dbname=shop user=bob passfile={passfile}")
    assert p.password == "pa:ss\\word"
    p = pgauth.resolve(f"host=elsewhere dbname=shop user=bob passfile={passfile}")
    assert p.password == "fallback"
    assert pgauth.passfile_password(str(tmp_path / "missing"), "h", 1, "d", "u") is None


def test_options_escape_spaces() -> None:
    opts = backend_options("-c a=b", {"TimeZone": "Europe/Paris", "x": "two words"})
    assert opts == "-c a=b -c TimeZone=Europe/Paris -c x=two\\ words"


def test_replication_dsn_keeps_the_users_options(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy may route by options (endpoint=...), a role may need its search_path: the
    # replication connection adds the pinned settings after them instead of replacing them.
    monkeypatch.setenv("PGOPTIONS", "-c from_env=1")
    given = conninfo_to_dict(pinned_dsn("host=h options='endpoint=ep-1 -c lock_timeout=5s'"))
    assert given["options"] == (
        "endpoint=ep-1 -c lock_timeout=5s -c DateStyle=ISO -c IntervalStyle=postgres"
        " -c TimeZone=UTC -c extra_float_digits=3"
    )
    assert given["client_encoding"] == "UTF8"
    # Without options in the string, libpq would have read PGOPTIONS: so does arrowtail.
    from_env = conninfo_to_dict(pinned_dsn("host=h", {"x": "two words"}))["options"]
    assert from_env.startswith("-c from_env=1 -c DateStyle=ISO")
    assert from_env.endswith("-c x=two\\ words")


def test_error_fields_make_a_clear_exception() -> None:
    body = b'SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "u"\0\0'
    fields = pgproto.parse_error_fields(body)
    assert fields == {
        "severity": "FATAL",
        "code": "28P01",
        "message": 'password authentication failed for user "u"',
    }
    err = pgproto.PgServerError(fields)
    assert err.code == "28P01"
    assert str(err) == 'FATAL: password authentication failed for user "u" (SQLSTATE 28P01)'


def _msg(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack(">i", len(body) + 4) + body


def _copy_exchange(rows: int) -> bytes:
    """A COPY OUT exchange of ``(id int8, name text)`` rows as the server sends it."""
    out = _msg(b"H", b"\x01\x00\x02\x00\x01\x00\x01")
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    for i in range(rows):
        name = f"name {i}".encode()
        tuple_ = struct.pack(">hiqi", 2, 8, i, len(name)) + name
        out += _msg(b"d", (header if i == 0 else b"") + tuple_)
    out += _msg(b"d", struct.pack(">h", -1)) + _msg(b"c", b"") + _msg(b"C", b"COPY 3\0")
    return out + _msg(b"Z", b"T")


def _decode_in_chunks(data: bytes, sizes: list[int]) -> tuple[list[object], list[str], bytes]:
    decoder = _core.CopyDecoder(
        "public.t", [("id", 20, -1), ("name", 25, -1)], ["id"], position=7, snapshot_ts_us=0
    )
    buf = bytearray(4096)
    tags: list[str] = []
    rest = b""
    pos = 0
    for n in sizes + [len(data)]:
        part = data[pos : pos + n]
        if not part:
            break
        buf[: len(part)] = part
        summary = decoder.feed_wire(buf, len(part))
        tags += [t for t, _ in summary.messages]
        if summary.done:
            rest = summary.rest
        pos += len(part)
    decoder.finish()
    rows = [b.to_pylist() for _t, _v, b in decoder.flush()]
    return rows, tags, rest


def test_copy_bytes_in_any_chunking_decode_the_same() -> None:
    data = _copy_exchange(200)
    whole = _decode_in_chunks(data, [])
    assert whole[1] == ["H", "c", "C", "Z"]
    assert whole[0][0][199]["name"] == "name 199"
    assert whole[0][0][5]["_pos"] == 7
    rng = random.Random(5)
    for _ in range(20):
        sizes = [rng.randint(1, 50) for _ in range(400)]
        assert _decode_in_chunks(data, sizes) == whole
    assert _decode_in_chunks(data + b"extra", [])[2] == b"extra"


def test_a_restarted_copy_decoder_reads_the_next_exchange_as_a_new_one() -> None:
    """A snapshot reader reads its pieces through one decoder (``restart``): each exchange
    decodes as a new decoder would decode it, its rows numbered from 0."""
    decoder = _core.CopyDecoder(
        "public.t", [("id", 20, -1), ("name", 25, -1)], ["id"], position=7, snapshot_ts_us=0
    )
    first, second = _copy_exchange(300), _copy_exchange(40)
    with pytest.raises(DecodeError, match="restart needs a finished COPY"):
        decoder.restart()
    buf = bytearray(first)
    assert decoder.feed_wire(buf).done
    decoder.finish()
    with pytest.raises(DecodeError, match="restart needs a finished COPY"):
        decoder.restart()  # rows not flushed yet
    assert sum(b.num_rows for _t, _v, b in decoder.flush()) == 300
    decoder.restart()
    assert (decoder.rows, decoder.next_seq) == (0, 0)
    summary = decoder.feed_wire(bytearray(second[:25]))
    assert not summary.done
    summary = decoder.feed_wire(bytearray(second[25:]))
    assert summary.done and [t for t, _ in summary.messages] == ["c", "C", "Z"]
    decoder.finish()
    rows = [b.to_pylist() for _t, _v, b in decoder.flush()]
    assert rows == _decode_in_chunks(second, [])[0]
    assert [r["_seq"] for r in rows[0]] == list(range(40))


def test_a_copy_decoder_reading_the_socket_itself_decodes_what_feed_wire_does() -> None:
    """``read_wire`` reads a socket in Rust until a message that is not data, or the limit:
    the same rows as ``feed_wire`` over the same bytes, the exchange's end reported the same."""
    data = _copy_exchange(2000)
    want = _decode_in_chunks(data, [])
    ours, theirs = socket.socketpair()
    decoder = _core.CopyDecoder(
        "public.t", [("id", 20, -1), ("name", 25, -1)], ["id"], position=7, snapshot_ts_us=0
    )
    try:
        theirs.sendall(data[:3000])
        summary, n = decoder.read_wire(ours.fileno(), 1000)
        # What had arrived, the CopyOutResponse first: the exchange goes on.
        assert (n, [t for t, _ in summary.messages], summary.done) == (3000, ["H"], False)
        theirs.sendall(data[3000:])
        tags, read = ["H"], n
        while not summary.done:
            summary, n = decoder.read_wire(ours.fileno(), 1 << 20)
            tags += [t for t, _ in summary.messages]
            read += n
        assert read == len(data) and tags == want[1] and summary.rest == b""
        decoder.finish()
        assert [b.to_pylist() for _t, _v, b in decoder.flush()] == want[0]
        # The server gone in the middle of an exchange.
        decoder.restart()
        theirs.sendall(data[:3000])
        theirs.close()
        with pytest.raises(ConnectionAbortedError, match="closed the connection") as closed:
            for _ in range(3):
                decoder.read_wire(ours.fileno(), 1 << 20)
        assert str(pgproto.connection_lost(closed.value)) == pgproto.CLOSED
        failed = str(pgproto.connection_lost(OSError("Connection reset by peer")))
        assert failed == "PostgreSQL connection failed: Connection reset by peer"
    finally:
        ours.close()
        theirs.close()
    with pytest.raises(ValueError, match="open socket"):
        decoder.read_wire(-1, 10)


def test_malformed_wire_bytes_name_the_offset() -> None:
    decoder = _core.PgOutputDecoder()
    with pytest.raises(DecodeError, match="byte offset 9"):
        # A whole ParameterStatus (9 bytes), then a zero byte where a message type should be.
        decoder.feed_wire(_msg(b"S", b"a\0b\0") + b"\x00" * 8)
    with pytest.raises(ValueError, match="beyond"):
        _core.PgOutputDecoder().feed_wire(bytearray(4), 5)
    with pytest.raises(TypeError):
        _core.PgOutputDecoder().feed_wire("text")  # type: ignore[arg-type]


def test_keepalives_are_summarised() -> None:
    """A CopyBothResponse, a keepalive asking for a reply, half of a second keepalive."""
    keepalive = _msg(b"d", b"k" + struct.pack(">QqB", 0x1_0000_0010, 0, 1))
    later = _msg(b"d", b"k" + struct.pack(">QqB", 0x1_0000_0020, 0, 0))
    decoder = _core.PgOutputDecoder()
    summary = decoder.feed_wire(_msg(b"W", b"\0\0\0") + keepalive + later[:7])
    assert (summary.keepalives, summary.data_messages) == (1, 0)
    assert summary.keepalive_wal_end == 0x1_0000_0010
    assert summary.reply_requested
    assert [t for t, _ in summary.messages] == ["W"]
    assert not summary.done
    assert decoder.last_wal_end == 0x1_0000_0010
    summary = decoder.feed_wire(later[7:])
    assert (summary.keepalives, summary.keepalive_wal_end) == (1, 0x1_0000_0020)
    assert not summary.reply_requested
    assert decoder.take_reply_requested()
