"""A private PostgreSQL server for the integration tests.

``initdb`` into a temporary directory, configured for logical replication (``wal_level=logical``)
and two-phase commit, listening on 127.0.0.1 only with its unix socket inside the temporary
directory. The superuser ``postgres`` is trusted; the capture role ``arrowtail`` (LOGIN
REPLICATION, nothing else) must authenticate with its password over SCRAM, so security tests can
prove wrong passwords are refused. :meth:`PostgresServer.grant_capture` gives it the rest of what
README's least-privilege section lists (CONNECT, SELECT) on one test database.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from arrowtail.embedded.process import (
    LOOPBACK,
    ProcessServer,
    ServerUnavailable,
    as_user,
    chown_tree,
    free_port,
    kill_process,
    log_tail,
    run_checked,
    running_as_root,
    spawn,
    stop_process,
    user_exists,
    wait_until,
)

OS_USER = "postgres"
SUPERUSER = "postgres"
APP_USER = "arrowtail"
APP_PASSWORD = "arrowtail-secret-pw"
START_TIMEOUT = 60.0

_SETTINGS = {
    "listen_addresses": f"'{LOOPBACK}'",
    "wal_level": "logical",
    "max_replication_slots": "40",
    "max_wal_senders": "40",
    "max_prepared_transactions": "10",
    "max_connections": "100",
    # Durability is irrelevant for throw-away test data; speed is not.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "password_encryption": "'scram-sha-256'",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %u@%d '",
}

# First matching line wins (PostgreSQL docs, "The pg_hba.conf File"): the password role is listed
# before the catch-all lines so that it can never slip in through trust.
_PG_HBA = f"""\
# TYPE  DATABASE     USER         ADDRESS        METHOD
local   all          all                         trust
local   replication  all                         trust
host    all          {APP_USER}    127.0.0.1/32   scram-sha-256
host    replication  {APP_USER}    127.0.0.1/32   scram-sha-256
host    all          {SUPERUSER}     127.0.0.1/32   trust
host    replication  {SUPERUSER}     127.0.0.1/32   trust
host    all          all          127.0.0.1/32   scram-sha-256
host    replication  all          127.0.0.1/32   scram-sha-256
"""


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def find_bin_dir() -> Path:
    """The newest PostgreSQL server ``bin`` directory (``ARROWTAIL_PG_BIN_DIR`` overrides)."""
    override = os.environ.get("ARROWTAIL_PG_BIN_DIR")
    candidates = [Path(override)] if override else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for cand in candidates:
        if (cand / "initdb").is_file() and (cand / "postgres").is_file():
            return cand
    raise ServerUnavailable(
        "PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or "
        "on PATH; run scripts/install-system.sh or set ARROWTAIL_PG_BIN_DIR"
    )


class PostgresServer(ProcessServer):
    """One private PostgreSQL cluster: ``start()`` creates it, ``cleanup()`` removes it."""

    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        if running_as_root() and not user_exists(OS_USER):
            raise ServerUnavailable(f"running as root but there is no '{OS_USER}' OS account")
        self.host = LOOPBACK
        self.port = free_port()
        self.user = SUPERUSER
        self.dbname = "postgres"
        self.app_user = APP_USER
        self.app_password = APP_PASSWORD
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="arrowtail-pg-"))
        self.data_dir = self.tmp_dir / "data"
        self.socket_dir = self.tmp_dir / "socket"
        self.log_path = self.tmp_dir / "postgres.log"
        self._proc: subprocess.Popen | None = None
        self._initialised = False

    # -- connection strings -----------------------------------------------------------------

    @property
    def dsn(self) -> str:
        """libpq URL of the trusted superuser over TCP."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def dsn_for(self, user: str, password: str | None = None, dbname: str | None = None) -> str:
        """libpq URL for ``user`` (with ``password`` if given) over TCP."""
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname or self.dbname}"

    @property
    def app_dsn(self) -> str:
        """libpq URL of the password-protected ``arrowtail`` replication role."""
        return self.dsn_for(self.app_user, self.app_password)

    def capture_dsn(self, dbname: str | None = None) -> str:
        """libpq URL of the least-privilege capture role ``arrowtail`` for ``dbname``, without
        its password (pass ``app_password`` through ``--password-env``)."""
        return self.dsn_for(self.app_user, None, dbname)

    def grant_capture(self, dbname: str, tables: list[str] | None = None) -> None:
        """Gives the capture role exactly what README's least-privilege section lists for
        ``dbname``: CONNECT on the database (taken from PUBLIC, so that nothing else lets it in)
        and SELECT on ``tables`` (``schema.table``; default every table of schema ``public``).
        Publications and slots are created beforehand by the caller as the superuser."""
        from psycopg import sql

        role = sql.Identifier(self.app_user)
        db = sql.Identifier(dbname)
        with self.connect(dbname=dbname) as conn:
            conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(db))
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, role))
            if tables is None:
                conn.execute(
                    sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(role)
                )
            else:
                idents = sql.SQL(", ").join(sql.Identifier(*t.split(".", 1)) for t in tables)
                conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(idents, role))

    def connect(self, **kw: Any) -> Any:
        """A psycopg 3 connection as the superuser, autocommit on (keywords override)."""
        import psycopg

        kw.setdefault("autocommit", True)
        kw.setdefault("connect_timeout", 10)
        return psycopg.connect(self.dsn, **kw)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Create the cluster on first call, then start the server and wait until it answers."""
        if self._proc is not None and self._proc.poll() is None:
            return
        if not self._initialised:
            self._initdb()
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)]
        self._proc = spawn(as_user(OS_USER, argv), self.log_path)
        try:
            wait_until(
                self._accepts_connections,
                what=f"PostgreSQL on port {self.port}",
                timeout=START_TIMEOUT,
                proc=self._proc,
                log=self.log_path,
            )
        except BaseException:
            kill_process(self._proc)
            self._proc = None
            raise
        if not self._initialised:
            self._create_roles()
            self._initialised = True

    def stop(self) -> None:
        """Fast shutdown (SIGINT: open sessions are disconnected, the cluster stays on disk).

        A logical walsender whose client stopped reading can hold a fast shutdown up to
        ``wal_sender_timeout``; after 15 s the server gets an immediate shutdown (SIGQUIT) instead.
        """
        stop_process(self._proc, sig=signal.SIGINT, timeout=15, escalate=signal.SIGQUIT)
        self._proc = None

    # -- internals --------------------------------------------------------------------------

    def _initdb(self) -> None:
        self.socket_dir.mkdir()
        chown_tree(self.tmp_dir, OS_USER)
        run_checked(
            as_user(
                OS_USER,
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
            ),
            self.log_path,
            "initdb",
        )
        settings = dict(_SETTINGS, port=str(self.port))
        settings["unix_socket_directories"] = f"'{self.socket_dir}'"
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# arrowtail test server\n")
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")
        (self.data_dir / "pg_hba.conf").write_text(_PG_HBA)

    def _accepts_connections(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.dsn, connect_timeout=2, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def _create_roles(self) -> None:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} WITH LOGIN REPLICATION PASSWORD {}").format(
                    sql.Identifier(self.app_user), sql.Literal(self.app_password)
                )
            )
            # Nothing more: a test database's CONNECT and SELECT grants come from grant_capture.

    def __repr__(self) -> str:
        return f"<PostgresServer {self.dsn} dir={self.tmp_dir}>"

    def recent_log(self, lines: int = 60) -> str:
        """The last lines of the server's log, for assertion messages in tests."""
        return log_tail(self.log_path, lines)
