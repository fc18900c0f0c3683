"""The replica side of the MySQL/MariaDB replication protocol: connect, check the server's binlog
settings, register as a replica and request a binlog dump, then hand the raw socket bytes to the
Rust decoder, which splits packets and events.

Protocol facts (MySQL "Replication Protocol", MariaDB "COM_BINLOG_DUMP"): a replica sends
COM_REGISTER_SLAVE (0x15) and then COM_BINLOG_DUMP (0x12: position u32, flags u16, server id u32,
file name) or, for MySQL GTID sets, COM_BINLOG_DUMP_GTID (0x1e). MariaDB starts from a GTID with
``@slave_connect_state`` and a plain dump, and sends its own event types (GTID, annotate rows,
compressed events) only to replicas that announce ``@mariadb_slave_capability = 4``. The checksum
the server adds to events is agreed through ``@master_binlog_checksum``; idle servers send HEARTBEAT
events at ``@master_heartbeat_period`` so that a quiet server can be told apart from a dead link.

Authentication and TLS are PyMySQL's; after the dump request nothing else is sent on the
connection, so its socket is read directly (``select`` for time-outs) and bytes go to the decoder
in large chunks. TLS options come from the URL (:func:`tls_options`): ``ssl=prefer|require|
verify-ca|verify-full`` (named after libpq's ``sslmode``) and ``ssl_ca``/``ssl_cert``/``ssl_key``
file paths; every mode but ``prefer`` refuses a server that does not switch to TLS.
"""

from __future__ import annotations

import select
import socket
import ssl as _ssl
import struct
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from arrowtail.exceptions import ConfigError, SourceError, SourceRefused, SourceUnavailable
from arrowtail.redact import register_secret, scrub
from arrowtail.sources.mysql import errors as mysql_errors

COM_BINLOG_DUMP = 0x12
COM_REGISTER_SLAVE = 0x15
COM_BINLOG_DUMP_GTID = 0x1E
BINLOG_DUMP_NON_BLOCK = 0x01
BINLOG_THROUGH_GTID = 0x04
#: Server errors of a missing privilege: ER_DBACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR,
#: ER_COLUMNACCESS_DENIED_ERROR, ER_SPECIFIC_ACCESS_DENIED_ERROR ("you need (at least one of)
#: the X privilege(s)").
PRIVILEGE_ERRORS = frozenset({1044, 1142, 1143, 1227})
#: Marks the message of a missing-privilege SourceError (retrying cannot help).
LACKS_PRIVILEGE = "lacks a privilege"
GRANTS_HINT = (
    "grant what docs/mysql.md lists: REPLICATION SLAVE, REPLICATION CLIENT (MariaDB: BINLOG "
    "MONITOR), SELECT on the captured tables"
)


@contextmanager
def privileges(user: str, host: str, port: int) -> Iterator[None]:
    """Turns a server's missing-privilege error into one :class:`SourceError` that names the
    user and, in the server's words, the privilege."""
    import pymysql

    try:
        yield
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args else 0
        if code not in PRIVILEGE_ERRORS:
            raise
        text = scrub(str(exc.args[1] if len(exc.args) > 1 else exc))
        raise SourceRefused(
            f"the user {user!r} {LACKS_PRIVILEGE} on {host}:{port}: ({code}) {text}; "
            + GRANTS_HINT,
            code=str(code),
        ) from None


@dataclass
class ServerInfo:
    """What the source needs to know about the server before streaming."""

    version: str
    is_mariadb: bool
    server_id: int
    binlog_format: str
    binlog_row_image: str
    binlog_row_metadata: str
    binlog_checksum: str
    gtid_mode: str = ""
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BinlogFile:
    name: str
    size: int


TLS_MODES = ("disable", "prefer", "require", "verify-ca", "verify-full")
_TLS_FILES = ("ssl_ca", "ssl_cert", "ssl_key")


@dataclass(frozen=True)
class Tls:
    """TLS settings of a connection: the context PyMySQL uses, and whether plain text is
    refused."""

    context: _ssl.SSLContext | None
    required: bool
    mode: str


def tls_options(query: dict[str, str]) -> Tls | None:
    """TLS from URL query options (``ssl``, ``ssl_ca``, ``ssl_cert``, ``ssl_key``). None (no
    option) leaves it to PyMySQL, which uses TLS without verification when the server offers it;
    ``ssl_ca`` alone means ``verify-ca``; a client certificate alone ``require``."""
    unknown = sorted(set(query) - {"ssl", *_TLS_FILES})
    if unknown:
        raise ConfigError(
            f"unknown mysql:// URL option(s) {', '.join(unknown)}; known: ssl, "
            + ", ".join(_TLS_FILES)
        )
    ca, cert, key = (query.get(k) or None for k in _TLS_FILES)
    default = "verify-ca" if ca else ("require" if cert else "")
    mode = (query.get("ssl") or default).lower()
    if not mode:
        return None
    if mode not in TLS_MODES:
        raise ConfigError(f"ssl={mode} is not one of {', '.join(TLS_MODES)}")
    if mode == "disable":
        return Tls(None, required=False, mode=mode)
    try:
        context = _ssl.create_default_context(cafile=ca)
        if mode in ("prefer", "require"):
            context.check_hostname = False
            context.verify_mode = _ssl.CERT_NONE
        elif mode == "verify-ca":
            context.check_hostname = False
        if cert:
            context.load_cert_chain(cert, key)
    except (OSError, _ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS files of the mysql:// URL: {exc}") from None
    return Tls(context, required=mode != "prefer", mode=mode)


def close_quietly(conn: Any) -> None:
    """Closes a kept connection that may already be broken (its errors say nothing new)."""
    if conn is not None:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - closing a broken link
            pass


def _connect(
    host: str, port: int, user: str, password: str | None, tls: Tls | None = None, **kw: Any
) -> Any:
    import pymysql

    register_secret(password)
    if tls is not None and tls.context is None:
        kw["ssl_disabled"] = True
    elif tls is not None:
        kw["ssl"] = tls.context
    try:
        conn = pymysql.connect(
            host=host,
            port=port,
            user=user,
            password=password or "",
            autocommit=True,
            connect_timeout=kw.pop("connect_timeout", 10),
            **kw,
        )
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else 0
        text = scrub(str(exc.args[1] if len(exc.args) > 1 else exc))
        raise mysql_errors.error(
            f"cannot connect to MySQL/MariaDB at {host}:{port}: ({code}) {text}", exc
        ) from None
    except _ssl.SSLError as exc:
        raise SourceError(f"TLS to MySQL/MariaDB at {host}:{port} failed: {exc}") from None
    if tls is not None and tls.required and not isinstance(conn._sock, _ssl.SSLSocket):
        # PyMySQL quietly stays in plain text when the server offers no TLS.
        conn.close()
        raise SourceError(
            f"MySQL/MariaDB at {host}:{port} does not offer TLS, but the URL asks for "
            f"ssl={tls.mode}: enable TLS on the server (ssl_cert, ssl_key) or use ssl=prefer"
        )
    return conn


def parse_gtid_set(text: str) -> list[tuple[bytes, list[tuple[int, int]]]]:
    """Parses a MySQL GTID set (``uuid:1-5:7,uuid2:3``) into (SID, [(start, end_exclusive)])."""
    out: list[tuple[bytes, list[tuple[int, int]]]] = []
    for part in (p.strip() for p in text.replace("\n", "").split(",")):
        if not part:
            continue
        sid, *ranges = part.split(":")
        try:
            sid_bytes = uuid.UUID(sid).bytes
            intervals = []
            for r in ranges:
                lo, _, hi = r.partition("-")
                intervals.append((int(lo), int(hi or lo) + 1))
        except ValueError as exc:
            raise SourceError(f"invalid MySQL GTID set {text!r}: {exc}") from None
        out.append((sid_bytes, intervals))
    return out


def encode_gtid_set(text: str) -> bytes:
    """The binary SID-set encoding COM_BINLOG_DUMP_GTID carries (n_sids u64, then per SID: 16
    bytes, n_intervals u64, intervals as start/end u64 pairs, end exclusive)."""
    sids = parse_gtid_set(text)
    out = bytearray(struct.pack("<Q", len(sids)))
    for sid, intervals in sids:
        out += sid + struct.pack("<Q", len(intervals))
        for lo, hi in intervals:
            out += struct.pack("<QQ", lo, hi)
    return bytes(out)


def binlog_status(cur: Any) -> tuple[Any, ...] | None:
    """The server's current binlog file, position (and, on MySQL, executed GTID set) as one row.
    MySQL 8.4 renamed ``SHOW MASTER STATUS`` to ``SHOW BINARY LOG STATUS``."""
    import pymysql

    try:
        cur.execute("SHOW MASTER STATUS")
    except pymysql.err.ProgrammingError:
        cur.execute("SHOW BINARY LOG STATUS")
    row = cur.fetchone()
    return tuple(row) if row is not None else None


class BinlogConnection:
    """One replication connection to a MySQL/MariaDB server."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str | None,
        *,
        server_id: int = 7301,
        heartbeat_seconds: float = 5.0,
        tls: Tls | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.server_id = server_id
        self.heartbeat_seconds = heartbeat_seconds
        self.tls = tls
        self._conn: Any = None
        self._sock: socket.socket | None = None
        self.info: ServerInfo | None = None

    # -- plain queries ----------------------------------------------------------------------

    def query_connection(self) -> Any:
        """A separate, ordinary connection (for status queries and snapshots)."""
        return _connect(self.host, self.port, self.user, self._password, self.tls)

    def server_info(self) -> ServerInfo:
        conn = self.query_connection()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION(), @@server_id")
                version, server_id = cur.fetchone()
                cur.execute(
                    "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('binlog_format', "
                    "'binlog_row_image', 'binlog_row_metadata', 'binlog_checksum', 'gtid_mode', "
                    "'log_bin', 'gtid_binlog_pos', 'gtid_executed', 'log_bin_compress')"
                )
                variables = {str(k).lower(): str(v) for k, v in cur.fetchall()}
        finally:
            conn.close()
        return ServerInfo(
            version=str(version),
            is_mariadb="mariadb" in str(version).lower(),
            server_id=int(server_id),
            binlog_format=variables.get("binlog_format", "").upper(),
            binlog_row_image=variables.get("binlog_row_image", "").upper(),
            binlog_row_metadata=variables.get("binlog_row_metadata", "").upper(),
            binlog_checksum=variables.get("binlog_checksum", "").upper(),
            gtid_mode=variables.get("gtid_mode", "").upper(),
            variables=variables,
        )

    def check(self) -> ServerInfo:
        """Reads the server settings and refuses, with the exact fix, what cannot be streamed."""
        info = self.server_info()
        if info.variables.get("log_bin", "ON").upper() not in ("ON", "1"):
            raise SourceError(
                f"binary logging is off on {self.host}:{self.port}; start the server with "
                "--log-bin --binlog-format=ROW"
            )
        if info.binlog_format != "ROW":
            raise SourceError(
                f"binlog_format is {info.binlog_format or 'unknown'} on {self.host}:{self.port}, "
                "but change data capture needs ROW: run SET GLOBAL binlog_format = 'ROW' and set "
                "binlog_format=ROW in the server configuration"
            )
        self.info = info
        return info

    def binary_logs(self) -> list[BinlogFile]:
        conn = self.query_connection()
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW BINARY LOGS")
                return [BinlogFile(str(r[0]), int(r[1])) for r in cur.fetchall()]
        finally:
            conn.close()

    # -- streaming --------------------------------------------------------------------------

    def start(
        self,
        *,
        file: str | None = None,
        position: int = 4,
        mariadb_gtid: str | None = None,
        mysql_gtid_set: str | None = None,
        non_blocking: bool = False,
    ) -> None:
        """Registers as a replica and asks for the binlog from a file/position or a GTID state.
        Without a file or GTID, streaming starts at the server's current end of log."""
        info = self.info or self.check()
        conn = _connect(
            self.host, self.port, self.user, self._password, self.tls, read_timeout=None
        )
        self._conn = conn
        with conn.cursor() as cur:
            cur.execute("SET @master_binlog_checksum = @@global.binlog_checksum")
            cur.execute("SET @source_binlog_checksum = @@global.binlog_checksum")
            cur.execute(f"SET @master_heartbeat_period = {int(self.heartbeat_seconds * 1e9)}")
            if info.is_mariadb:
                cur.execute("SET @mariadb_slave_capability = 4")
                if mariadb_gtid is not None:
                    cur.execute("SET @slave_connect_state = %s", (mariadb_gtid,))
                    cur.execute("SET @slave_gtid_strict_mode = 0")
                    cur.execute("SET @slave_gtid_ignore_duplicates = 0")
            if file is None and mariadb_gtid is None and mysql_gtid_set is None:
                row = binlog_status(cur)
                if row is None:
                    raise SourceError("the server reports no binlog (SHOW MASTER STATUS is empty)")
                file, position = str(row[0]), int(row[1])
        self._register(conn)
        flags = BINLOG_DUMP_NON_BLOCK if non_blocking else 0
        if mysql_gtid_set is not None and not info.is_mariadb:
            name = (file or "").encode()
            sids = encode_gtid_set(mysql_gtid_set)
            body = struct.pack("<HI", flags | BINLOG_THROUGH_GTID, self.server_id)
            body += struct.pack("<I", len(name)) + name + struct.pack("<Q", position)
            body += struct.pack("<I", len(sids)) + sids
            conn._execute_command(COM_BINLOG_DUMP_GTID, body)
        else:
            name = (file or "").encode() if mariadb_gtid is None else b""
            pos = position if mariadb_gtid is None else 4
            body = struct.pack("<IHI", pos, flags, self.server_id) + name
            conn._execute_command(COM_BINLOG_DUMP, body)
        self._sock = conn._sock

    def _register(self, conn: Any) -> None:
        host = b"arrowtail"
        user = self.user.encode()
        body = struct.pack("<I", self.server_id)
        body += bytes([len(host)]) + host + bytes([len(user)]) + user + b"\x00"
        body += struct.pack("<HII", 0, 0, 0)
        import pymysql

        conn._execute_command(COM_REGISTER_SLAVE, body)
        try:
            packet = conn._read_packet()
        except pymysql.err.OperationalError as exc:
            # MariaDB answers a user without the privilege with a plain "Access denied" (1045),
            # after that user logged in fine; MySQL with ER_SPECIFIC_ACCESS_DENIED_ERROR.
            if not exc.args or exc.args[0] not in (1045, 1227):
                raise
            text = scrub(str(exc.args[1] if len(exc.args) > 1 else exc))
            raise SourceRefused(
                f"the user {self.user!r} {LACKS_PRIVILEGE} on {self.host}:{self.port}: "
                f"REPLICATION SLAVE is needed to register as a replica (server: {text}); "
                + GRANTS_HINT,
                code=str(exc.args[0]),
            ) from None
        if not packet.is_ok_packet():
            raise SourceError("the server refused COM_REGISTER_SLAVE")

    def read(self, timeout: float, max_bytes: int = 1 << 20) -> bytes:
        """Raw bytes from the dump stream: whatever arrives within ``timeout`` seconds (possibly
        nothing). Raises :class:`SourceError` when the server closed the connection."""
        sock = self._sock
        if sock is None:
            raise SourceError("binlog stream not started")
        pending = getattr(sock, "pending", None)  # TLS may hold decrypted bytes already
        if not (pending and pending()):
            ready, _, _ = select.select([sock], [], [], timeout)
            if not ready:
                return b""
        try:
            data = sock.recv(max_bytes)
        except (ConnectionError, OSError) as exc:
            raise SourceUnavailable(
                f"binlog connection to {self.host}:{self.port} lost: {exc}"
            ) from None
        if not data:
            raise SourceUnavailable(
                f"binlog connection to {self.host}:{self.port} closed by the server"
            )
        return data

    def close(self) -> None:
        conn, self._conn, self._sock = self._conn, None, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - the link is going away anyway
                pass
