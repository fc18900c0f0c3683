"""arrowtail's own PostgreSQL wire client against a real server: password methods (cleartext, MD5,
SCRAM-SHA-256; trust is the fixture's default), a wrong password refused with a clear message that
never shows the password, sslmode against a server without TLS, raw replication and COPY bytes
decoded the same whatever the chunking, and the libpq wire kept as a switch."""

from __future__ import annotations

import os
import random
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from arrowtail import _core
from arrowtail.exceptions import SourceError
from arrowtail.sources.postgres import client as pgproto
from arrowtail.sources.postgres.replication import start_command

DB = "native_wire"
USERS = {"md5": "wire_md5", "password": "wire_clear", "scram-sha-256": "wire_scram"}
PASSWORD = "n4tive-wire-pw"


def _can_connect(dsn: str) -> bool:
    try:
        pgproto.connect(dsn).close()
    except SourceError:
        return False
    return True


@pytest.fixture(scope="module")
def server(postgres: Any) -> Iterator[Any]:
    """A database with one role per password method, each named in pg_hba.conf before the
    fixture's catch-all lines; the file is restored afterwards."""
    admin = postgres.connect()
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DB)))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB)))
    hba = Path(postgres.data_dir) / "pg_hba.conf"
    original = hba.read_text()
    lines = []
    for method, user in USERS.items():
        # An MD5-stored password, so the md5 method really uses MD5 (not SCRAM).
        encryption = "md5" if method == "md5" else "scram-sha-256"
        admin.execute(f"SET password_encryption = '{encryption}'")
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN REPLICATION PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(PASSWORD)
            )
        )
        lines += [f"host {db} {user} 127.0.0.1/32 {method}" for db in ("all", "replication")]
    admin.execute("RESET password_encryption")
    hba.write_text("\n".join(lines) + "\n" + original)
    admin.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    dsns = [postgres.dsn_for(u, PASSWORD, DB) for u in USERS.values()]
    while not all(_can_connect(d) for d in dsns):
        assert time.monotonic() < deadline, "pg_hba.conf reload did not take effect"
        time.sleep(0.05)
    conn = postgres.connect(dbname=DB)
    conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, name text, n numeric(10,2))")
    conn.execute("INSERT INTO t SELECT g, 'name ' || g, g / 7.0 FROM generate_series(1, 5000) g")
    conn.execute("CREATE PUBLICATION wire_pub FOR TABLE t")
    for user in USERS.values():
        conn.execute(sql.SQL("GRANT SELECT ON t TO {}").format(sql.Identifier(user)))
    yield postgres
    conn.close()
    hba.write_text(original)
    admin.execute("SELECT pg_reload_conf()")
    admin.close()


@pytest.mark.parametrize("method", list(USERS))
def test_password_methods(server: Any, method: str) -> None:
    user = USERS[method]
    with pgproto.connect(server.dsn_for(user, PASSWORD, DB)) as conn:
        rows = conn.query("SELECT current_user, current_setting('TimeZone'), 1 + 1")
        assert rows == [[user, "UTC", "2"]]
        assert conn.server_params["server_encoding"] == "UTF8"
    # The replication flavour authenticates the same way and answers IDENTIFY_SYSTEM.
    with pgproto.connect(server.dsn_for(user, PASSWORD, DB), replication=True) as repl:
        (row,) = repl.query("IDENTIFY_SYSTEM")
        assert row[3] == DB and "/" in (row[2] or "")


def test_trust_and_keyword_dsn(server: Any) -> None:
    dsn = f"host={server.host} port={server.port} user={server.user} dbname={DB} sslmode=disable"
    with pgproto.connect(dsn) as conn:
        assert conn.query("SELECT count(*) FROM t") == [["5000"]]
    # A host that refuses connections is skipped for the next one, as libpq does.
    two = f"host=127.0.0.1,{server.host} port=1,{server.port} user={server.user} dbname={DB}"
    with pgproto.connect(two) as conn:
        assert conn.query("SELECT 3") == [["3"]]
    with pytest.raises(SourceError, match="cannot connect to PostgreSQL at 127.0.0.1:1"):
        pgproto.connect(f"host=127.0.0.1 port=1 user={server.user} dbname={DB}")


@pytest.mark.parametrize("method", ["md5", "scram-sha-256", "password"])
def test_wrong_password_is_clear_and_secret(server: Any, method: str) -> None:
    wrong = "Wr0ng-s3cret-value"
    with pytest.raises(SourceError) as info:
        pgproto.connect(server.dsn_for(USERS[method], wrong, DB))
    text = str(info.value)
    assert "password authentication failed" in text
    assert "28P01" in text
    assert wrong not in text and PASSWORD not in text


def test_missing_password_names_the_user(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent/pgpass")
    with pytest.raises(SourceError, match="asks for a password for user 'wire_scram'"):
        pgproto.connect(server.dsn_for(USERS["scram-sha-256"], None, DB))


def test_sslmode_against_a_server_without_tls(server: Any) -> None:
    base = server.dsn_for(USERS["scram-sha-256"], PASSWORD, DB)
    for mode in ("prefer", "allow", "disable"):
        with pgproto.connect(f"{base}?sslmode={mode}") as conn:
            assert conn.query("SELECT 1") == [["1"]]
    for mode in ("require", "verify-ca", "verify-full"):
        with pytest.raises(SourceError, match="does not accept TLS"):
            pgproto.connect(f"{base}?sslmode={mode}&sslrootcert=system")


def test_server_errors_keep_the_connection_usable(server: Any) -> None:
    with pgproto.connect(server.dsn_for(server.user, None, DB)) as conn:
        with pytest.raises(SourceError, match="42P01"):
            conn.query("SELECT * FROM no_such_table")
        assert conn.query("SELECT 2") == [["2"]]


@pytest.mark.parametrize("wire", ["native", "libpq"])
def test_replication_connection_keeps_the_users_options(server: Any, wire: str) -> None:
    # The user's options (here a search_path and a lock_timeout) reach the replication session
    # of either wire, beside the pinned settings the decoders need.
    from urllib.parse import quote

    from arrowtail.sources.postgres.admin import connect_replication

    dsn = server.dsn_for(server.user, None, DB)
    dsn += "?options=" + quote("-c search_path=wire_schema,public -c lock_timeout=4321")
    names = ["search_path", "lock_timeout", "TimeZone", "DateStyle"]
    if wire == "native":
        with pgproto.connect(dsn, replication=True) as conn:
            got = [conn.query(f"SHOW {name}")[0][0] for name in names]
    else:
        conn = connect_replication(dsn)
        try:
            got = [conn.execute(f"SHOW {name}").fetchone()[0] for name in names]
        finally:
            conn.close()
    assert got == ["wire_schema,public", "4321ms", "UTC", "ISO, MDY"]


def _batches(decoder: Any) -> list[Any]:
    return [(t, b.to_pylist()) for t, _v, b in decoder.flush()]


def test_raw_copy_bytes_any_chunking(server: Any) -> None:
    """The bytes of a real COPY BINARY exchange, fed whole and in random small chunks."""
    query = "COPY (SELECT id, name, n FROM t ORDER BY id) TO STDOUT (FORMAT binary)"
    with pgproto.connect(server.dsn_for(server.user, None, DB)) as conn:
        raw = conn.start_copy(query)
        while not raw.endswith(b"Z\0\0\0\5I"):
            n = conn.recv(10.0)
            assert n, "COPY did not finish"
            raw += bytes(conn.buffer[:n])

    def decode(sizes: list[int]) -> list[Any]:
        dec = _core.CopyDecoder(
            "public.t",
            [("id", 20, -1), ("name", 25, -1), ("n", 1700, (10 << 16 | 2) + 4)],
            ["id"],
            position=1,
            snapshot_ts_us=0,
        )
        pos = 0
        done = False
        for size in sizes + [len(raw)]:
            if pos >= len(raw):
                break
            summary = dec.feed_wire(raw[pos : pos + size])
            done = done or summary.done
            pos += size
        assert done
        dec.finish()
        return _batches(dec)

    whole = decode([])
    assert len(whole[0][1]) == 5000
    assert whole[0][1][4999]["name"] == "name 5000"
    rng = random.Random(9)
    assert decode([rng.randint(1, 3000) for _ in range(1000)]) == whole
    assert decode([rng.randint(1, 7) for _ in range(len(raw))]) == whole


def test_raw_replication_bytes_any_chunking(server: Any) -> None:
    """Bytes of a real replication stream, recorded from the socket, decode to the same batches
    fed whole or a few bytes at a time."""
    admin = server.connect(dbname=DB)
    admin.execute("SELECT pg_create_logical_replication_slot('wire_slot', 'pgoutput')")
    try:
        admin.execute("UPDATE t SET name = name || '!' WHERE id % 10 = 0")
        admin.execute("DELETE FROM t WHERE id % 25 = 0")
        cmd = start_command("wire_slot", ["wire_pub"], proto_version=2, binary=True)
        raw = b""
        live = _core.PgOutputDecoder()
        live_batches: list[Any] = []
        with pgproto.connect(server.dsn_for(server.user, None, DB), replication=True) as conn:
            first = conn.start_copy(cmd)
            live.feed_wire(first)
            raw += first
            deadline = time.monotonic() + 30
            # A keepalive's WAL end can pass the workload before its data arrives: wait for the
            # rows themselves.
            while sum(len(rows) for _t, rows in live_batches) < 700:
                assert time.monotonic() < deadline, "stream did not bring the workload"
                n = conn.recv(1.0)
                live.feed_wire(conn.buffer, n)
                raw += bytes(conn.buffer[:n])
                live_batches += _batches(live)
        whole = _core.PgOutputDecoder()
        whole.feed_wire(raw)
        expected = _batches(whole)
        ops = [r["_op"] for _t, rows in expected for r in rows]
        assert ops.count("u") == 500 and ops.count("d") == 200
        assert [r for _t, rows in live_batches for r in rows] == [
            r for _t, rows in expected for r in rows
        ]
        rng = random.Random(3)
        chunked = _core.PgOutputDecoder()
        pos = 0
        while pos < len(raw):
            size = rng.randint(1, 40)
            chunked.feed_wire(raw[pos : pos + size])
            pos += size
        assert _batches(chunked) == expected
        assert chunked.committed_lsn == whole.committed_lsn > 0
    finally:
        _drop_slot(admin, "wire_slot")
        admin.close()


def _drop_slot(admin: Any, slot: str) -> None:
    """Drops ``slot`` once its walsender has noticed the closed connection."""
    deadline = time.monotonic() + 10
    while admin.execute(
        "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
    ).fetchone() == (True,):
        assert time.monotonic() < deadline, f"slot {slot} stayed active"
        time.sleep(0.05)
    admin.execute("SELECT pg_drop_replication_slot(%s)", (slot,))


@pytest.mark.parametrize("wire", ["native", "libpq"])
def test_source_snapshot_and_stream_on_each_wire(server: Any, wire: str) -> None:
    from arrowtail.sources.postgres.source import PostgresSource

    admin = server.connect(dbname=DB)
    slot = f"wire_src_{wire}"
    source = PostgresSource(
        server.dsn_for(USERS["scram-sha-256"], PASSWORD, DB),
        slot=slot,
        publication="wire_pub",
        snapshot="initial",
        wire=wire,
    )
    try:
        (count,) = admin.execute("SELECT count(*) FROM t").fetchone()
        source.open(None)
        admin.execute("INSERT INTO t VALUES (-1, 'streamed', 1.5)")
        ops: list[str] = []
        deadline = time.monotonic() + 30
        while "c" not in ops:
            assert time.monotonic() < deadline, f"no streamed insert; got {len(ops)} rows"
            chunk = source.poll(0.2)
            for batch in chunk.batches:
                ops += batch[2].column("_op").to_pylist()
            if chunk.position is not None:
                source.acknowledge(chunk.position)
        assert ops.count("r") == count
        assert ops[-1] == "c"
        assert source.describe()["wire"] == wire
    finally:
        source.close()
        admin.execute("DELETE FROM t WHERE id = -1")
        _drop_slot(admin, slot)
        admin.close()


@pytest.fixture(scope="module")
def tls_server(server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """The same server with TLS switched on (a self-signed certificate for 127.0.0.1 made with
    ``openssl``), switched off again afterwards. Yields the server and the certificate."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    data_dir = Path(server.data_dir)
    cert, key = data_dir / "wire_test.crt", data_dir / "wire_test.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    owner = data_dir.stat()
    for f in (cert, key):
        os.chown(f, owner.st_uid, owner.st_gid)
    key.chmod(0o600)
    root = tmp_path_factory.mktemp("tls") / "root.crt"
    shutil.copy(cert, root)
    admin = server.connect()
    admin.execute(sql.SQL("ALTER SYSTEM SET ssl_cert_file = {}").format(sql.Literal(str(cert))))
    admin.execute(sql.SQL("ALTER SYSTEM SET ssl_key_file = {}").format(sql.Literal(str(key))))
    admin.execute("ALTER SYSTEM SET ssl = on")
    admin.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while server.connect().execute("SHOW ssl").fetchone() != ("on",):
        assert time.monotonic() < deadline, "ssl = on did not take effect"
        time.sleep(0.05)
    yield server, root
    for name in ("ssl", "ssl_cert_file", "ssl_key_file"):
        admin.execute(f"ALTER SYSTEM RESET {name}")
    admin.execute("SELECT pg_reload_conf()")
    admin.close()


def test_tls_sslmodes(tls_server: tuple[Any, Path]) -> None:
    server, root = tls_server
    base = server.dsn_for(USERS["scram-sha-256"], PASSWORD, DB)
    for mode in ("prefer", "require"):
        with pgproto.connect(f"{base}?sslmode={mode}") as conn:
            assert isinstance(conn.sock, ssl.SSLSocket)
            assert conn.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [["t"]]
    with pgproto.connect(f"{base}?sslmode=disable") as conn:
        assert not isinstance(conn.sock, ssl.SSLSocket)
    for mode in ("verify-ca", "verify-full"):
        with pgproto.connect(f"{base}?sslmode={mode}&sslrootcert={root}") as conn:
            assert isinstance(conn.sock, ssl.SSLSocket)
    # A certificate that does not chain to the given root, and a missing root file.
    with pytest.raises(SourceError, match="TLS handshake"):
        pgproto.connect(f"{base}?sslmode=verify-ca&sslrootcert=system")
    with pytest.raises(SourceError, match="does not exist"):
        pgproto.connect(f"{base}?sslmode=verify-full&sslrootcert={root}.missing")
    # verify-full checks the host name: "localhost" is in the certificate, "elsewhere" is not
    # (both dialled at 127.0.0.1 through hostaddr).
    user = f"user={USERS['md5']} password={PASSWORD} dbname={DB} port={server.port}"
    tls = f"hostaddr=127.0.0.1 sslmode=verify-full sslrootcert={root}"
    with pgproto.connect(f"{user} {tls} host=localhost") as conn:
        assert conn.query("SELECT 1") == [["1"]]
    with pytest.raises(SourceError, match="TLS handshake"):
        pgproto.connect(f"{user} {tls} host=elsewhere")
    # verify-ca does not check the name.
    with pgproto.connect(f"{user} {tls} host=elsewhere sslmode=verify-ca") as conn:
        assert conn.query("SELECT 1") == [["1"]]


def test_source_streams_over_tls(tls_server: tuple[Any, Path]) -> None:
    from arrowtail.sources.postgres.source import PostgresSource

    server, root = tls_server
    dsn = server.dsn_for(USERS["scram-sha-256"], PASSWORD, DB)
    dsn += f"?sslmode=verify-full&sslrootcert={root}"
    admin = server.connect(dbname=DB)
    source = PostgresSource(dsn, slot="wire_tls", publication="wire_pub")
    try:
        source.open(None)
        admin.execute("INSERT INTO t VALUES (-2, 'over tls', 2.5)")
        names: list[str] = []
        deadline = time.monotonic() + 30
        while "over tls" not in names:
            assert time.monotonic() < deadline, "no streamed row over TLS"
            for batch in source.poll(0.2).batches:
                names += batch[2].column("name").to_pylist()
        assert isinstance(source._stream.conn.sock, ssl.SSLSocket)  # type: ignore[union-attr]
    finally:
        source.close()
        admin.execute("DELETE FROM t WHERE id = -2")
        _drop_slot(admin, "wire_tls")
        admin.close()
