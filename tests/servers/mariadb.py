"""A private MariaDB server with a row-based binlog for the integration tests.

``mariadb-install-db`` into a temporary directory, then ``mariadbd`` on 127.0.0.1 with the binlog
settings the binlog decoder expects (ROW format, FULL row image, FULL row metadata, server id 1) and
small memory settings. Tests log in over TCP as ``arrowtail`` (all privileges with GRANT OPTION,
password required); the database ``arrowtail_test`` exists from the start. Pipelines connect as
``arrowtail_cdc``, which holds only the grants docs/mysql.md documents (``CAPTURE_GRANTS``, plus
SELECT on each captured database through :meth:`MariaDBServer.grant_capture`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.servers._process import (
    LOOPBACK,
    ProcessServer,
    ServerStartError,
    ServerUnavailable,
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

OS_USER = "mysql"
APP_USER = "arrowtail"
APP_PASSWORD = "arrowtail-secret-pw"
DATABASE = "arrowtail_test"
CAPTURE_USER = "arrowtail_cdc"
CAPTURE_PASSWORD = "arrowtail-cdc-pw"
#: What a capture user needs on MariaDB (docs/mysql.md): the binlog dump, SHOW BINARY LOGS /
#: MASTER STATUS, and INNODB_TRX for --idle-exit; SELECT comes per database.
CAPTURE_GRANTS = "REPLICATION SLAVE, BINLOG MONITOR, PROCESS"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0

_SEARCH_DIRS = ("/usr/sbin", "/usr/bin", "/usr/libexec", "/usr/local/sbin", "/usr/local/bin")


def _find(*names: str) -> Path | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
        for directory in _SEARCH_DIRS:
            cand = Path(directory) / name
            if cand.is_file() and os.access(cand, os.X_OK):
                return cand
    return None


def find_binaries() -> tuple[Path, Path]:
    """``(mariadbd, mariadb-install-db)``, or ServerUnavailable naming what is missing."""
    server = _find("mariadbd", "mysqld")
    install = _find("mariadb-install-db", "mysql_install_db")
    if server is None or install is None:
        raise ServerUnavailable(
            "MariaDB server binaries (mariadbd, mariadb-install-db) not found; "
            "run scripts/install-system.sh (Debian package mariadb-server)"
        )
    return server, install


class MariaDBServer(ProcessServer):
    """One private MariaDB instance: ``start()`` creates it, ``cleanup()`` removes it."""

    def __init__(self) -> None:
        self.server_bin, self.install_bin = find_binaries()
        if running_as_root() and not user_exists(OS_USER):
            raise ServerUnavailable(f"running as root but there is no '{OS_USER}' OS account")
        self.host = LOOPBACK
        self.port = free_port()
        self.user = APP_USER
        self.password = APP_PASSWORD
        self.database = DATABASE
        self.capture_user = CAPTURE_USER
        self.capture_password = CAPTURE_PASSWORD
        self.server_id = 1
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="arrowtail-mariadb-"))
        self.datadir = self.tmp_dir / "data"
        self.binlog_dir = self.tmp_dir / "binlog"
        self.socket = self.tmp_dir / "mariadbd.sock"
        self.log_path = self.tmp_dir / "mariadbd.log"
        self._proc: subprocess.Popen | None = None
        self._initialised = False

    @property
    def url(self) -> str:
        """``mysql://user:password@127.0.0.1:port/`` for the password-protected test user."""
        auth = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return f"mysql://{auth}@{self.host}:{self.port}/"

    @property
    def capture_url(self) -> str:
        """``mysql://arrowtail_cdc@127.0.0.1:port/`` (password in ``capture_password``)."""
        return f"mysql://{self.capture_user}@{self.host}:{self.port}/"

    def grant_capture(self, database: str, user: str = CAPTURE_USER) -> None:
        """Lets the capture user read ``database`` (snapshots, ``information_schema``)."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                for host in (LOOPBACK, "localhost"):
                    cur.execute(f"GRANT SELECT ON `{database}`.* TO '{user}'@'{host}'")
        finally:
            conn.close()

    def connect(self, **kw: Any) -> Any:
        """A PyMySQL connection as the test user over TCP, autocommit on (keywords override)."""
        import pymysql

        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "autocommit": True,
            "connect_timeout": 10,
            "charset": "utf8mb4",
        }
        params.update(kw)
        return pymysql.connect(**params)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Create the instance on first call, then start ``mariadbd`` and wait until it answers."""
        if self._proc is not None and self._proc.poll() is None:
            return
        if not self._initialised:
            self._install()
        self._proc = spawn(self._server_argv(), self.log_path)
        ready = self._answers_over_tcp if self._initialised else self._answers_on_socket
        try:
            wait_until(
                ready,
                what=f"MariaDB on port {self.port}",
                timeout=START_TIMEOUT,
                proc=self._proc,
                log=self.log_path,
            )
            if not self._initialised:
                self._create_user_and_database()
                self._initialised = True
        except BaseException:
            kill_process(self._proc)
            self._proc = None
            raise

    def stop(self) -> None:
        """Clean shutdown (SIGTERM), killed if it takes longer than a minute."""
        stop_process(self._proc, sig=signal.SIGTERM, timeout=STOP_TIMEOUT)
        self._proc = None

    # -- internals --------------------------------------------------------------------------

    def _user_args(self) -> list[str]:
        return [f"--user={OS_USER}"] if running_as_root() else []

    def _install(self) -> None:
        for directory in (self.datadir, self.binlog_dir, self.tmp_dir / "tmp"):
            directory.mkdir()
        chown_tree(self.tmp_dir, OS_USER)
        argv = [
            str(self.install_bin),
            "--no-defaults",
            f"--datadir={self.datadir}",
            *self._user_args(),
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=48M",
        ]
        try:
            run_checked(argv, self.log_path, "mariadb-install-db", timeout=180)
        except ServerStartError as exc:
            # Seen once with two pytest workers starting their servers at the same moment: the
            # server under test is not this setup step, so it is tried once more, afresh, and
            # the first failure is kept in the log.
            print(f"mariadb-install-db failed, trying once more:\n{exc}", file=sys.stderr)
            shutil.rmtree(self.datadir)
            self.datadir.mkdir()
            chown_tree(self.tmp_dir, OS_USER)
            run_checked(argv, self.log_path, "mariadb-install-db", timeout=180)

    def _server_argv(self) -> list[str]:
        return [
            str(self.server_bin),
            "--no-defaults",  # must come first: ignore /etc/mysql entirely
            *self._user_args(),
            f"--datadir={self.datadir}",
            f"--tmpdir={self.tmp_dir / 'tmp'}",
            f"--socket={self.socket}",
            f"--pid-file={self.tmp_dir / 'mariadbd.pid'}",
            f"--port={self.port}",
            f"--bind-address={LOOPBACK}",
            "--skip-name-resolve",
            f"--log-bin={self.binlog_dir / 'mysql-bin'}",
            "--binlog-format=ROW",
            "--binlog-row-image=FULL",
            "--binlog-row-metadata=FULL",
            f"--server-id={self.server_id}",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            # Small and fast: a test server holds little data and need not survive a crash.
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=48M",
            "--innodb-flush-log-at-trx-commit=2",
            "--sync-binlog=0",
            "--key-buffer-size=8M",
            "--performance-schema=OFF",
            "--max-connections=100",
        ]

    def _answers_on_socket(self) -> bool:
        # Before setup only root@localhost exists (no password, unix socket only).
        return self._ping(unix_socket=str(self.socket), user="root", password="")

    def _answers_over_tcp(self) -> bool:
        return self._ping(host=self.host, port=self.port, user=self.user, password=self.password)

    @staticmethod
    def _ping(**params: Any) -> bool:
        import pymysql

        try:
            conn = pymysql.connect(connect_timeout=2, **params)
        except pymysql.err.OperationalError:
            return False
        conn.close()
        return True

    def _create_user_and_database(self) -> None:
        import pymysql

        conn = pymysql.connect(
            unix_socket=str(self.socket), user="root", password="", autocommit=True
        )
        try:
            with conn.cursor() as cur:
                # With --skip-name-resolve, TCP clients match by IP, never by 'localhost'.
                for host in (LOOPBACK, "localhost"):
                    cur.execute(
                        f"CREATE USER '{APP_USER}'@'{host}' IDENTIFIED BY %s", (self.password,)
                    )
                    cur.execute(
                        f"GRANT ALL PRIVILEGES ON *.* TO '{APP_USER}'@'{host}' WITH GRANT OPTION"
                    )
                    cur.execute(
                        f"CREATE USER '{CAPTURE_USER}'@'{host}' IDENTIFIED BY %s",
                        (CAPTURE_PASSWORD,),
                    )
                    cur.execute(f"GRANT {CAPTURE_GRANTS} ON *.* TO '{CAPTURE_USER}'@'{host}'")
                cur.execute(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
        finally:
            conn.close()

    def recent_log(self, lines: int = 60) -> str:
        """The last lines of the server's log, for assertion messages in tests."""
        return log_tail(self.log_path, lines)

    def __repr__(self) -> str:
        return f"<MariaDBServer {self.host}:{self.port} dir={self.tmp_dir}>"


class TlsMariaDBServer(MariaDBServer):
    """A private MariaDB that accepts only TLS over TCP (``require_secure_transport``), with a
    test CA and a server certificate for 127.0.0.1 made by the openssl command line. ``ca``
    is the CA file clients verify the server with; :meth:`connect` uses TLS; the performance
    schema is on, for :meth:`dump_ciphers`."""

    def __init__(self) -> None:
        super().__init__()
        openssl = shutil.which("openssl")
        if openssl is None:
            raise ServerUnavailable("the openssl command is needed for the TLS certificates")
        tls = self.tmp_dir / "tls"
        tls.mkdir()
        self.ca, self.cert, self.key = tls / "ca.pem", tls / "server.pem", tls / "server.key"
        log = self.tmp_dir / "openssl.log"
        (tls / "san.cnf").write_text(f"subjectAltName = IP:{LOOPBACK}\n")
        for argv in (
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
            + ["-keyout", str(tls / "ca.key"), "-out", str(self.ca), "-subj", "/CN=arrowtail CA"],
            [openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key)]
            + ["-out", str(tls / "server.csr"), "-subj", f"/CN={LOOPBACK}"],
            [openssl, "x509", "-req", "-in", str(tls / "server.csr"), "-CA", str(self.ca)]
            + ["-CAkey", str(tls / "ca.key"), "-CAcreateserial", "-days", "2"]
            + ["-out", str(self.cert), "-extfile", str(tls / "san.cnf")],
        ):
            run_checked(argv, log, "openssl", timeout=60)

    def connect(self, **kw: Any) -> Any:
        kw.setdefault("ssl", {"ca": str(self.ca)})
        return super().connect(**kw)

    def _answers_over_tcp(self) -> bool:
        return self._ping(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            ssl={"ca": str(self.ca)},
        )

    def _server_argv(self) -> list[str]:
        return [
            *super()._server_argv(),
            f"--ssl-ca={self.ca}",
            f"--ssl-cert={self.cert}",
            f"--ssl-key={self.key}",
            "--require-secure-transport=ON",
            # status_by_thread shows the TLS cipher of each session, the dump thread's included.
            "--performance-schema=ON",
        ]

    def dump_ciphers(self) -> list[str]:
        """The TLS cipher of every 'Binlog Dump' session, as the server sees it ('' for none)."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT COALESCE(s.VARIABLE_VALUE, '') FROM performance_schema.threads t "
                    "LEFT JOIN performance_schema.status_by_thread s ON s.THREAD_ID = "
                    "t.THREAD_ID AND s.VARIABLE_NAME = 'Ssl_cipher' "
                    "WHERE t.PROCESSLIST_COMMAND LIKE 'Binlog Dump%'"
                )
                return [str(r[0]) for r in cur.fetchall()]
        finally:
            conn.close()
