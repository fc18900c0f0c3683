"""A private PostgreSQL that speaks TLS, with a self-signed certificate made for the test.

Like :class:`PostgresServer`, plus ``ssl = on`` with a certificate and key made by the
``openssl`` command (subject alternative names ``IP:127.0.0.1`` and ``DNS:localhost``, so
``verify-full`` works too), and a ``pg_hba.conf`` where the password role may connect over TCP only
with TLS (``hostssl``): anything the role does over TCP, snapshot or replication, is proof that TLS
was used. The certificate is its own CA: clients verify it with ``sslrootcert=<ca_file>``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from arrowtail.embedded.postgres import APP_USER, OS_USER, SUPERUSER, PostgresServer
from arrowtail.embedded.process import ServerUnavailable, chown_tree

# First matching line wins (PostgreSQL docs, "The pg_hba.conf File"); the app role has no
# non-TLS TCP line, so without TLS it is refused.
_PG_HBA_TLS = f"""\
# TYPE     DATABASE     USER          ADDRESS        METHOD
local      all          all                          trust
local      replication  all                          trust
hostssl    all          {APP_USER}    127.0.0.1/32   scram-sha-256
hostssl    replication  {APP_USER}    127.0.0.1/32   scram-sha-256
host       all          {SUPERUSER}   127.0.0.1/32   trust
host       replication  {SUPERUSER}   127.0.0.1/32   trust
"""


def make_self_signed(directory: Path, name: str, common_name: str = "127.0.0.1") -> Path:
    """Writes ``name.crt`` and ``name.key`` (RSA 2048, valid two days) into ``directory`` and
    returns the certificate's path. Raises :class:`ServerUnavailable` without ``openssl``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ServerUnavailable("the openssl command is not installed (apt-get install openssl)")
    directory.mkdir(parents=True, exist_ok=True)
    crt, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={common_name}",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(crt),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    key.chmod(0o600)
    return crt


class TlsPostgresServer(PostgresServer):
    """A :class:`PostgresServer` with ``ssl = on``; ``ca_file`` verifies its certificate."""

    def __init__(self) -> None:
        super().__init__()
        self.ca_file = self.tmp_dir / "client" / "root.crt"

    def _initdb(self) -> None:
        super()._initdb()
        made = make_self_signed(self.tmp_dir / "certs", "server")
        shutil.copyfile(made, self.data_dir / "server.crt")
        shutil.copyfile(made.with_suffix(".key"), self.data_dir / "server.key")
        (self.data_dir / "server.key").chmod(0o600)
        self.ca_file.parent.mkdir()
        shutil.copyfile(made, self.ca_file)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        (self.data_dir / "pg_hba.conf").write_text(_PG_HBA_TLS)
        chown_tree(self.tmp_dir, OS_USER)

    def __repr__(self) -> str:
        return f"<TlsPostgresServer {self.dsn} dir={self.tmp_dir}>"


__all__ = ["TlsPostgresServer", "make_self_signed"]
