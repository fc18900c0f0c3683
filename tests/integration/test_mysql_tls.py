"""TLS to MariaDB: a private server that refuses plain TCP clients (``require_secure_transport``)
with a certificate from a test CA; ``arrowtail run`` snapshots and streams over TLS with the URL
options ``ssl=verify-full&ssl_ca=PATH``, the replication connection is encrypted, and plain text or
a server without TLS is one clear error."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from arrowtail.exceptions import SourceError
from arrowtail.sources.mysql.source import MySqlSource
from tests.support.mysql_run import (
    check_replay,
    create_schema,
    dump_threads,
    failed_with_one_error,
    start_run,
    wait_for_dump,
    workload,
)

DB = "tls_my"


def _url(server: Any, query: str) -> str:
    return f"{server.capture_url}{DB}?{query}"


def test_snapshot_and_stream_over_verified_tls(mariadb_tls: Any, tmp_path: Path) -> None:
    conn = mariadb_tls.connect()
    create_schema(conn, DB)
    workload(conn, DB, 1)
    out = tmp_path / "parquet"
    url = _url(mariadb_tls, f"ssl=verify-full&ssl_ca={quote(str(mariadb_tls.ca))}")
    before = dump_threads(mariadb_tls)
    proc = start_run(
        url, out, mariadb_tls.capture_password, "--snapshot", "initial", "--idle-exit", "3"
    )
    wait_for_dump(mariadb_tls, proc, before)
    ciphers = mariadb_tls.dump_ciphers()
    assert ciphers and all(ciphers), ciphers  # the run's replication session is encrypted
    workload(conn, DB, 2)
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    assert mariadb_tls.capture_password not in stderr
    check_replay(out, conn, DB)


def test_replication_connection_is_encrypted(mariadb_tls: Any) -> None:
    source = MySqlSource(
        _url(mariadb_tls, f"ssl_ca={quote(str(mariadb_tls.ca))}"),
        password=mariadb_tls.capture_password,
    )
    source.open(None)
    try:
        sock = source._conn._sock
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.version() in ("TLSv1.2", "TLSv1.3") and sock.cipher() is not None
        # The server agrees: every dump thread's session (an earlier run's may linger) has a
        # cipher, this one's among them.
        ciphers = mariadb_tls.dump_ciphers()
        assert all(ciphers) and sock.cipher()[0] in ciphers, ciphers
    finally:
        source.close()


def test_plain_text_is_refused_with_one_clear_error(mariadb_tls: Any, tmp_path: Path) -> None:
    proc = start_run(
        f"{mariadb_tls.capture_url}{DB}?ssl=disable",
        tmp_path / "out",
        mariadb_tls.capture_password,
        "--idle-exit",
        "1",
    )
    error = failed_with_one_error(proc, 3, mariadb_tls.capture_password)
    # The same user and password work over TLS (the tests above): MariaDB turns a plain-text
    # login away with "Access denied" under require_secure_transport.
    assert "cannot connect" in error and "(1045) Access denied" in error, error


def test_a_certificate_from_another_ca_fails_verification(mariadb_tls: Any) -> None:
    # The server's own certificate is no CA: nothing it signed can be verified with it.
    url = _url(mariadb_tls, f"ssl=verify-ca&ssl_ca={quote(str(mariadb_tls.cert))}")
    source = MySqlSource(url, password=mariadb_tls.capture_password)
    with pytest.raises(SourceError, match="certificate verify failed"):
        source.open(None)
    source.close()


def test_a_server_without_tls_is_refused_when_tls_is_required(mariadb: Any) -> None:
    source = MySqlSource(f"{mariadb.capture_url}?ssl=require", password=mariadb.capture_password)
    with pytest.raises(SourceError, match="does not offer TLS|SSL is required but the server"):
        source.open(None)
    source.close()
