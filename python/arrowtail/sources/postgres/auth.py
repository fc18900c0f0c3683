"""Connection parameters, TLS and password authentication of arrowtail's own PostgreSQL client.

The connection string is read the way libpq reads it, so every form users pass to the libpq path
keeps working: psycopg's ``conninfo_to_dict`` parses URLs and ``key=value`` strings, libpq's own
defaults supply the ``PG*`` environment variables, and a password missing from both is looked up
in the password file (``PGPASSFILE`` or ``~/.pgpass``).

TLS follows libpq's ``sslmode`` ("Protection Provided in Different Modes" in the libpq SSL
chapter): ``disable`` and ``allow`` start without TLS, ``prefer`` and stronger ask for it first;
``require`` checks no certificate unless a root certificate file exists (then it behaves as
``verify-ca``); ``verify-ca`` checks the chain; ``verify-full`` also the host name.

Password methods ("Authentication Methods"; the messages in "Message Formats"): cleartext, MD5
and SCRAM-SHA-256 (RFC 5802 / RFC 7677) with :mod:`hashlib` and :mod:`hmac`.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from arrowtail.exceptions import SourceError
from arrowtail.redact import register_secret

#: Where libpq looks for a unix socket when no host is given (Debian's build).
DEFAULT_SOCKET_DIR = "/var/run/postgresql"

#: sslmode values and whether each one sends an SSLRequest first.
SSL_MODES = {
    "disable": False,
    "allow": False,
    "prefer": True,
    "require": True,
    "verify-ca": True,
    "verify-full": True,
}

#: Authentication request codes ("AuthenticationXXX" messages) the client cannot answer.
UNSUPPORTED_AUTH = {
    2: "Kerberos V5",
    6: "SCM credentials",
    7: "GSSAPI",
    8: "GSSAPI",
    9: "SSPI",
}


@dataclass
class ConnParams:
    """Everything needed to open a connection, resolved from a DSN, environment and defaults."""

    hosts: list[tuple[str, int]]
    #: Numeric address per host (libpq's ``hostaddr``; "" = resolve the host name).
    hostaddrs: list[str]
    user: str
    dbname: str
    password: str | None = None
    sslmode: str = "prefer"
    sslrootcert: str | None = None
    sslcert: str | None = None
    sslkey: str | None = None
    connect_timeout: float | None = None
    application_name: str | None = None
    #: Command-line options for the backend (``-c name=value ...``).
    options: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def _libpq_defaults() -> dict[str, str]:
    """libpq's defaults with the ``PG*`` environment applied (``PGUSER``, ``PGSSLMODE``, ...)."""
    out = {}
    for opt in pq.Conninfo.get_defaults():
        if opt.val is not None:
            out[opt.keyword.decode()] = opt.val.decode()
    return out


def resolve(dsn: str) -> ConnParams:
    """Resolves ``dsn`` like libpq: DSN values over environment over compiled defaults."""
    try:
        given = conninfo_to_dict(dsn)
    except Exception as exc:  # psycopg.ProgrammingError; the message never holds the password
        raise SourceError(f"invalid PostgreSQL connection string: {exc}") from None
    values = {**_libpq_defaults(), **{k: str(v) for k, v in given.items() if v is not None}}
    user = values.get("user") or getpass.getuser()
    hosts = (values.get("host") or values.get("hostaddr") or DEFAULT_SOCKET_DIR).split(",")
    addrs = values["hostaddr"].split(",") if values.get("hostaddr") else [""] * len(hosts)
    ports = values.get("port", "5432").split(",")
    if len(ports) == 1:
        ports = ports * len(hosts)
    if not len(ports) == len(addrs) == len(hosts):
        raise SourceError(
            f"{len(hosts)} hosts, {len(addrs)} host addresses and {len(ports)} ports in the "
            "connection string"
        )
    pairs = zip(hosts, ports, strict=True)
    params = ConnParams(
        hosts=[(h or DEFAULT_SOCKET_DIR, int(p or 5432)) for h, p in pairs],
        hostaddrs=addrs,
        user=user,
        dbname=values.get("dbname") or user,
        password=values.get("password") or None,
        sslmode=values.get("sslmode", "prefer"),
        sslrootcert=values.get("sslrootcert"),
        sslcert=values.get("sslcert"),
        sslkey=values.get("sslkey"),
        connect_timeout=float(values["connect_timeout"]) if values.get("connect_timeout") else None,
        application_name=values.get("application_name"),
        options=values.get("options", ""),
    )
    for key in ("channel_binding", "gssencmode"):
        if values.get(key) == "require":
            raise SourceError(
                f"{key}=require is not supported by arrowtail's own PostgreSQL client; set "
                'source.wire = "libpq" (or --wire libpq) to connect through libpq'
            )
    if params.sslmode not in SSL_MODES:
        raise SourceError(f"invalid sslmode {params.sslmode!r}: use one of {', '.join(SSL_MODES)}")
    if params.password is None:
        host, port = params.hosts[0]
        params.password = passfile_password(
            values.get("passfile"), host, port, params.dbname, params.user
        )
    register_secret(params.password)
    return params


def passfile_password(path: str | None, host: str, port: int, dbname: str, user: str) -> str | None:
    """The password for these coordinates in a libpq password file (``host:port:db:user:pw``,
    ``*`` matches anything, ``\\`` escapes), or None."""
    file = Path(path) if path else Path.home() / ".pgpass"
    try:
        lines = file.read_text().splitlines()
    except OSError:
        return None
    # A socket directory matches "localhost" in the file, as libpq does.
    want = ["localhost" if host.startswith("/") else host, str(port), dbname, user]
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        fields: list[str] = []
        cur, escaped = "", False
        for ch in line:
            if escaped:
                cur, escaped = cur + ch, False
            elif ch == "\\":
                escaped = True
            elif ch == ":" and len(fields) < 4:
                fields.append(cur)
                cur = ""
            else:
                cur += ch
        fields.append(cur)
        if len(fields) == 5 and all(f in ("*", w) for f, w in zip(fields[:4], want, strict=True)):
            return fields[4]
    return None


def tls_context(params: ConnParams) -> ssl.SSLContext:
    """An SSL context for ``params.sslmode`` with libpq's file defaults under ``~/.postgresql``."""
    home = Path.home() / ".postgresql"
    root = params.sslrootcert or str(home / "root.crt")
    mode = params.sslmode
    if mode in ("verify-ca", "verify-full") or (mode == "require" and Path(root).exists()):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = mode == "verify-full"
        if root == "system":
            ctx.load_default_certs()
        elif Path(root).exists():
            ctx.load_verify_locations(cafile=root)
        else:
            raise SourceError(
                f"sslmode={mode} needs a root certificate: {root} does not exist (set sslrootcert)"
            )
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    cert = params.sslcert or str(home / "postgresql.crt")
    key = params.sslkey or str(home / "postgresql.key")
    if Path(cert).exists():
        try:
            ctx.load_cert_chain(cert, key if Path(key).exists() else None)
        except (OSError, ssl.SSLError) as exc:
            raise SourceError(f"cannot load client certificate {cert}: {exc}") from None
    return ctx


def md5_password(user: str, password: str, salt: bytes) -> bytes:
    """The AuthenticationMD5Password answer: ``"md5" + md5(md5(password + user) + salt)``."""
    inner = hashlib.md5((password + user).encode()).hexdigest().encode()
    return b"md5" + hashlib.md5(inner + salt).hexdigest().encode()


class Scram:
    """Client side of SCRAM-SHA-256 without channel binding (RFC 5802 section 3, RFC 7677)."""

    MECHANISM = "SCRAM-SHA-256"

    def __init__(self, password: str, nonce: str | None = None, user: str = "") -> None:
        self._password = password.encode()
        self._nonce = nonce or base64.b64encode(secrets.token_bytes(18)).decode()
        # PostgreSQL ignores the SCRAM user name (it uses the startup user), so it is empty
        # unless given (the RFC's test vector names one).
        self._first_bare = f"n={user},r={self._nonce}"
        self._server_signature = b""

    def client_first(self) -> bytes:
        """``gs2-header client-first-message-bare``; ``n,,`` means no channel binding."""
        return f"n,,{self._first_bare}".encode()

    def client_final(self, server_first: bytes) -> bytes:
        """Checks the server's nonce and answers with the client proof."""
        attrs = _scram_attrs(server_first)
        nonce, salt, iterations = attrs.get("r", ""), attrs.get("s", ""), attrs.get("i", "")
        if not nonce.startswith(self._nonce) or not salt or not iterations.isdigit():
            raise SourceError("SCRAM authentication failed: the server's first message is invalid")
        salt_bytes = base64.b64decode(salt)
        salted = hashlib.pbkdf2_hmac("sha256", self._password, salt_bytes, int(iterations))
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self._first_bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self._server_signature = hmac.digest(server_key, auth_message, "sha256")
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify_server_final(self, server_final: bytes) -> None:
        """Checks the server's signature, proving it knew the password too."""
        attrs = _scram_attrs(server_final)
        if "e" in attrs:
            raise SourceError(f"SCRAM authentication failed: {attrs['e']}")
        got = base64.b64decode(attrs.get("v", ""))
        if not hmac.compare_digest(got, self._server_signature):
            raise SourceError("SCRAM authentication failed: the server's signature is wrong")


def _scram_attrs(message: bytes) -> dict[str, str]:
    """``a=b,c=d`` attributes of a SCRAM message."""
    out = {}
    for part in message.decode(errors="replace").split(","):
        key, sep, value = part.partition("=")
        if sep:
            out[key] = value
    return out
