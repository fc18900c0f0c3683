"""arrowtail's own PostgreSQL wire client for the two hot connections: the replication stream and
snapshot COPY reads (PostgreSQL docs, "Frontend/Backend Protocol", version 3.0).

It speaks only what those connections need: the startup message (``replication=database`` for
the stream), TLS per libpq's ``sslmode``, password authentication (see :mod:`pgauth`), the simple
query protocol for ``IDENTIFY_SYSTEM``, ``SET TRANSACTION SNAPSHOT`` and the like, and the start
of a COPY OUT or COPY BOTH exchange. From then on the socket is read in large raw blocks with
``recv_into`` a reusable buffer, and the blocks go unparsed to the Rust decoders
(``feed_wire``), which split them into messages; this module never loops over messages of the
hot path.

Error responses become :class:`PgServerError` (a :class:`SourceError`) with the server's
severity, SQLSTATE, message, detail and hint, of the kind (:class:`SourceUnavailable` or
:class:`SourceRefused`) its SQLSTATE stands for; a password is never part of them.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field

from arrowtail.exceptions import SourceError, SourceUnavailable
from arrowtail.sources.postgres import auth as pgauth
from arrowtail.sources.postgres.errors import PgServerError, server_error
from arrowtail.sources.postgres.replication import PINNED_SETTINGS, backend_options

log = logging.getLogger("arrowtail.postgres.wire")

#: Bytes asked of the socket per read on the hot path.
RECV_SIZE = 1 << 20
#: Protocol 3.0 in the startup message.
PROTOCOL_VERSION = 196608
#: The SSLRequest code ("Message Formats": SSLRequest).
SSL_REQUEST_CODE = 80877103
#: What a read reports when the server closed the connection.
CLOSED = "the PostgreSQL server closed the connection"
#: Startup and simple-query exchanges that take longer than this are considered dead.
DEFAULT_TIMEOUT = 60.0

_I32 = struct.Struct(">i")
_HEADER = struct.Struct(">ci")

#: ErrorResponse field codes ("Error and Notice Message Fields") and their names.
_FIELDS = {b"S": "severity", b"V": "severity", b"C": "code", b"M": "message", b"D": "detail"}
_FIELDS |= {b"H": "hint", b"W": "where"}


def parse_error_fields(body: bytes) -> dict[str, str]:
    """The fields of an ErrorResponse or NoticeResponse body."""
    out: dict[str, str] = {}
    for part in body.split(b"\0"):
        if part:
            name = _FIELDS.get(part[:1])
            if name and name not in out:
                out[name] = part[1:].decode(errors="replace")
    return out


def _cstr(text: str) -> bytes:
    return text.encode() + b"\0"


@dataclass
class PgConnection:
    """An open, authenticated connection (after the first ReadyForQuery)."""

    sock: socket.socket
    params: pgauth.ConnParams
    #: ParameterStatus values reported by the server (``server_version``, ...).
    server_params: dict[str, str] = field(default_factory=dict)
    #: Bytes read but not consumed by the Python-side message reader.
    _pending: bytearray = field(default_factory=bytearray)
    #: The reusable receive buffer of the hot path.
    buffer: bytearray = field(default_factory=lambda: bytearray(RECV_SIZE))
    _view: memoryview = field(init=False)
    closed: bool = False

    def __post_init__(self) -> None:
        self._view = memoryview(self.buffer)

    # -- hot path ----------------------------------------------------------------------------

    def take_pending(self) -> bytes:
        """Bytes already read past the last message parsed here, for the Rust splitter."""
        data = bytes(self._pending)
        self._pending.clear()
        return data

    def give_back(self, data: bytes) -> None:
        """Returns bytes the Rust splitter did not consume (those after ReadyForQuery)."""
        self._pending[:0] = data

    def recv(self, timeout: float | None) -> int:
        """Reads one raw block into :attr:`buffer`; returns its length, 0 when nothing arrived
        within ``timeout`` seconds. A closed connection raises :class:`SourceError`."""
        try:
            self.sock.settimeout(timeout)
            n = self.sock.recv_into(self._view)
        except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):
            return 0
        except OSError as exc:
            raise SourceUnavailable(f"PostgreSQL connection failed: {exc}") from None
        if n == 0:
            raise SourceUnavailable(CLOSED)
        return n

    def raw_fd(self) -> int | None:
        """The socket's descriptor, made blocking, for a decoder that reads it itself
        (``CopyDecoder.read_wire``); None for a TLS connection, whose bytes only the ``ssl``
        module can read."""
        if isinstance(self.sock, ssl.SSLSocket):
            return None
        self.sock.settimeout(None)
        return self.sock.fileno()

    def send(self, tag: bytes, body: bytes = b"") -> None:
        """Sends one frontend message."""
        try:
            self.sock.sendall(_HEADER.pack(tag, len(body) + 4) + body)
        except OSError as exc:
            raise SourceUnavailable(f"PostgreSQL connection failed: {exc}") from None

    def send_copy_data(self, payload: bytes) -> None:
        """Sends a CopyData message (a standby status update inside COPY BOTH)."""
        self.send(b"d", payload)

    # -- Python-side messages (startup, simple queries) --------------------------------------

    def read_message(self, deadline: float) -> tuple[bytes, bytes]:
        """The next backend message ``(type, body)``, waiting until ``deadline`` (monotonic)."""
        while True:
            if len(self._pending) >= 5:
                tag, length = _HEADER.unpack_from(self._pending)
                if length < 4:
                    raise SourceError(f"malformed message from the server (length {length})")
                if len(self._pending) >= length + 1:
                    body = bytes(self._pending[5 : length + 1])
                    del self._pending[: length + 1]
                    return tag, body
            left = deadline - time.monotonic()
            if left <= 0:
                raise SourceError("timed out waiting for the PostgreSQL server")
            n = self.recv(left)
            self._pending += self._view[:n]

    def _expect_ready(self, deadline: float) -> tuple[list[list[str | None]], str]:
        """Reads one simple-query exchange to ReadyForQuery: rows of the last result (text) and
        the last command tag. An ErrorResponse is raised once the exchange is over."""
        rows: list[list[str | None]] = []
        tag_text = ""
        error: PgServerError | None = None
        while True:
            tag, body = self.read_message(deadline)
            if tag == b"T":
                rows = []
            elif tag == b"D":
                rows.append(_data_row(body))
            elif tag == b"C":
                tag_text = body.rstrip(b"\0").decode()
            elif tag == b"E":
                error = server_error(parse_error_fields(body))
            elif tag == b"N":
                log.info("server notice: %s", parse_error_fields(body).get("message", ""))
            elif tag == b"S":
                self._parameter_status(body)
            elif tag == b"Z":
                if error is not None:
                    raise error
                return rows, tag_text

    def query(self, sql: str, timeout: float = DEFAULT_TIMEOUT) -> list[list[str | None]]:
        """Runs ``sql`` with the simple query protocol; rows of its last result, as text."""
        self.send(b"Q", _cstr(sql))
        rows, _tag = self._expect_ready(time.monotonic() + timeout)
        return rows

    def start_copy(self, sql: str, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """Sends a query that enters COPY OUT or COPY BOTH mode and waits for that; returns the
        bytes already read after the CopyOutResponse/CopyBothResponse (for ``feed_wire``)."""
        self.send(b"Q", _cstr(sql))
        deadline = time.monotonic() + timeout
        while True:
            tag, body = self.read_message(deadline)
            if tag in (b"H", b"W"):
                return self.take_pending()
            if tag == b"E":
                error = server_error(parse_error_fields(body))
                self._expect_ready(deadline)
                raise error
            if tag == b"Z":
                raise SourceError(f"the server did not start a COPY for: {sql[:80]}")
            if tag == b"N":
                log.info("server notice: %s", parse_error_fields(body).get("message", ""))

    def finish_exchange(self, messages: list[tuple[str, bytes]]) -> None:
        """Acts on the non-data messages ``feed_wire`` reported: raises an ErrorResponse, logs
        notices, records parameter changes."""
        for tag, body in messages:
            if tag == "E":
                raise server_error(parse_error_fields(body))
            if tag == "N":
                log.info("server notice: %s", parse_error_fields(body).get("message", ""))
            elif tag == "S":
                self._parameter_status(body)

    def _parameter_status(self, body: bytes) -> None:
        name, _, rest = body.partition(b"\0")
        self.server_params[name.decode()] = rest.rstrip(b"\0").decode(errors="replace")

    def close(self) -> None:
        """Sends Terminate and closes the socket."""
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.settimeout(1.0)
            self.sock.sendall(b"X\0\0\0\4")
        except OSError:
            pass
        self.sock.close()

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _data_row(body: bytes) -> list[str | None]:
    """The text values of a DataRow."""
    (count,) = struct.unpack_from(">h", body)
    pos = 2
    out: list[str | None] = []
    for _ in range(count):
        (n,) = _I32.unpack_from(body, pos)
        pos += 4
        if n < 0:
            out.append(None)
        else:
            out.append(body[pos : pos + n].decode())
            pos += n
    return out


def connect(
    dsn: str,
    *,
    replication: bool = False,
    settings: dict[str, str] | None = None,
) -> PgConnection:
    """Opens and authenticates a connection (``replication=database`` when ``replication``),
    trying each host of the DSN in turn. Session settings are the pinned ones plus ``settings``."""
    params = pgauth.resolve(dsn)
    startup = {"user": params.user, "database": params.dbname, "client_encoding": "UTF8"}
    if replication:
        startup["replication"] = "database"
    if params.application_name:
        startup["application_name"] = params.application_name
    startup["options"] = backend_options(params.options, {**PINNED_SETTINGS, **(settings or {})})
    errors = []
    # Whether every host was out of reach (transient), rather than refusing something.
    unreachable = True
    for (host, port), addr in zip(params.hosts, params.hostaddrs, strict=True):
        # "allow" tries without TLS first, "prefer" with TLS first; each falls back to the other.
        first = pgauth.SSL_MODES[params.sslmode]
        attempts = [first, not first] if params.sslmode in ("allow", "prefer") else [first]
        for use_tls in attempts:
            try:
                return _connect_one(params, host, addr, port, use_tls, startup)
            except (_NoTls, _Unreachable) as exc:
                errors.append(str(exc))
                if isinstance(exc, _Unreachable):
                    break  # the next host, if any
                unreachable = False
            except (PgServerError, SourceError) as exc:
                if params.sslmode not in ("allow", "prefer"):
                    raise
                if isinstance(exc, PgServerError) and exc.code == "28P01":
                    raise  # a wrong password stays wrong over any transport
                errors.append(str(exc))
                unreachable = False
    kind = SourceUnavailable if unreachable else SourceError
    raise kind("cannot connect to PostgreSQL: " + "; ".join(errors))


def connection_lost(exc: OSError) -> SourceUnavailable:
    """The error of a connection whose ``CopyDecoder.read_wire`` failed (``exc``), as
    :meth:`PgConnection.recv` raises it: ``read_wire`` raises ConnectionAbortedError only when
    the server closed the connection, a plain OSError for any other failed read."""
    if isinstance(exc, ConnectionAbortedError):
        return SourceUnavailable(CLOSED)
    return SourceUnavailable(f"PostgreSQL connection failed: {exc}")


class _NoTls(SourceError):
    """The server refused TLS where the mode allows plain connections."""


class _Unreachable(SourceUnavailable):
    """No connection to this host: the next one of the DSN is tried."""


def _connect_one(
    params: pgauth.ConnParams,
    host: str,
    addr: str,
    port: int,
    use_tls: bool,
    startup: dict[str, str],
) -> PgConnection:
    """One attempt at one host; ``addr``, when set, is dialled instead of resolving ``host``
    (whose name TLS still checks)."""
    timeout = params.connect_timeout or DEFAULT_TIMEOUT
    deadline = time.monotonic() + timeout
    where = host if host.startswith("/") else f"{host}:{port}"
    try:
        if host.startswith("/") and not addr:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(f"{host}/.s.PGSQL.{port}")
            use_tls = False  # libpq never uses TLS on unix sockets
        else:
            sock = socket.create_connection((addr or host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:
        raise _Unreachable(f"cannot connect to PostgreSQL at {where}: {exc}") from None
    try:
        if use_tls:
            sock = _start_tls(sock, params, host)
        conn = PgConnection(sock, params)
        body = _I32.pack(PROTOCOL_VERSION)
        body += b"".join(_cstr(k) + _cstr(v) for k, v in startup.items() if v) + b"\0"
        sock.sendall(_I32.pack(len(body) + 4) + body)
        _authenticate(conn, deadline)
        conn._expect_ready(deadline)
        return conn
    except BaseException:
        sock.close()
        raise


def _start_tls(sock: socket.socket, params: pgauth.ConnParams, host: str) -> socket.socket:
    """SSLRequest, then the TLS handshake when the server agrees."""
    sock.sendall(_I32.pack(8) + _I32.pack(SSL_REQUEST_CODE))
    answer = sock.recv(1)
    if answer != b"S":
        if params.sslmode in ("allow", "prefer"):
            raise _NoTls("the server does not accept TLS")
        raise SourceError(
            f"sslmode={params.sslmode} but the server does not accept TLS connections"
        )
    ctx = pgauth.tls_context(params)
    try:
        return ctx.wrap_socket(sock, server_hostname=host)
    except (ssl.SSLError, ssl.CertificateError) as exc:
        raise SourceError(f"TLS handshake with PostgreSQL failed: {exc}") from None


def _authenticate(conn: PgConnection, deadline: float) -> None:
    """Answers Authentication requests until AuthenticationOk ("Message Flow", "Start-up")."""
    params = conn.params
    scram: pgauth.Scram | None = None
    while True:
        tag, body = conn.read_message(deadline)
        if tag == b"E":
            raise server_error(parse_error_fields(body))
        if tag == b"v":  # NegotiateProtocolVersion: fine, minor options are not used
            continue
        if tag != b"R":
            raise SourceError(f"unexpected message {tag!r} during authentication")
        (code,) = _I32.unpack_from(body)
        if code == 0:
            return
        if code in pgauth.UNSUPPORTED_AUTH:
            raise SourceError(
                f"the server asks for {pgauth.UNSUPPORTED_AUTH[code]} authentication, which "
                'arrowtail\'s own client does not speak; set source.wire = "libpq" (or '
                "--wire libpq) to connect through libpq"
            )
        password = params.password
        if code in (3, 5, 10) and not password:
            raise SourceError(
                f"the server asks for a password for user {params.user!r}: give it in the "
                "connection string, PGPASSWORD, the password file or --password-env"
            )
        if code == 3:  # AuthenticationCleartextPassword
            conn.send(b"p", _cstr(password or ""))
        elif code == 5:  # AuthenticationMD5Password
            conn.send(b"p", pgauth.md5_password(params.user, password or "", body[4:8]) + b"\0")
        elif code == 10:  # AuthenticationSASL: a list of mechanisms
            mechanisms = [m.decode() for m in body[4:].split(b"\0") if m]
            if pgauth.Scram.MECHANISM not in mechanisms:
                raise SourceError(
                    f"the server offers only SASL mechanisms {', '.join(mechanisms)}; arrowtail's "
                    'own client speaks SCRAM-SHA-256: set source.wire = "libpq"'
                )
            scram = pgauth.Scram(password or "")
            first = scram.client_first()
            conn.send(b"p", _cstr(pgauth.Scram.MECHANISM) + _I32.pack(len(first)) + first)
        elif code == 11 and scram is not None:  # AuthenticationSASLContinue
            conn.send(b"p", scram.client_final(body[4:]))
        elif code == 12 and scram is not None:  # AuthenticationSASLFinal
            scram.verify_server_final(body[4:])
        else:
            raise SourceError(f"unsupported authentication request {code} from the server")
