"""Helpers for the ``arrowtail run`` tests against the ``mariadb`` fixture: the schema and workload
(many column types, multi-statement transactions, updates, deletes), running the CLI as a
subprocess with the password in an environment variable, and comparing the replayed Parquet files
with ``SELECT *`` value by value."""

from __future__ import annotations

import datetime as dt
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.servers.mariadb import CAPTURE_USER, LOOPBACK
from tests.support.replay import parquet_changes, replay

PASSWORD_ENV = "RUN_MY_PASSWORD"

TABLES_DDL = (
    """CREATE TABLE {db}.types (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, miu MEDIUMINT UNSIGNED, i INT,
  iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  d DECIMAL(20,6), dw DECIMAL(50,20), f FLOAT, db DOUBLE,
  dte DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME(6), y YEAR,
  c CHAR(10), vc VARCHAR(300), tx TEXT, lt VARCHAR(40) CHARACTER SET latin1,
  bn BINARY(4), vb VARBINARY(20), bl BLOB, j JSON,
  e ENUM('a','b','c'), s SET('x','y','z'), b1 BIT(1), b64 BIT(64)
) CHARACTER SET utf8mb4""",
    """CREATE TABLE {db}.pairs (
  a INT, b VARCHAR(20), v TEXT, n BIGINT, PRIMARY KEY (a, b)
) CHARACTER SET latin1""",
)

TYPES_COLUMNS = (
    "id, ti, tiu, si, miu, i, iu, bi, biu, d, dw, f, db, dte, dtm, ts, tm, y, c, vc, tx, lt, "
    "bn, vb, bl, j, e, s, b1, b64"
)


def types_row(k: int) -> tuple[Any, ...]:
    """A row of ``types`` whose values depend on ``k``; every fifth row is mostly NULL."""
    if k % 5 == 4:
        return (k,) + (None,) * (len(TYPES_COLUMNS.split(",")) - 1)
    sign = -1 if k % 2 else 1
    return (
        k,
        sign * (k % 128),
        k % 256,
        sign * (k % 32768),
        k % 16777216,
        sign * k * 1000,
        4294967295 - k,
        sign * (9223372036854775807 - k),
        18446744073709551615 - k,
        Decimal(f"{sign * k}.{k % 1000000:06d}"),
        Decimal(f"{sign}12345678901234567890123456789.{k:020d}"),
        k / 4,
        sign * k * 1.5e100,
        dt.date(2000 + k % 100, 1 + k % 12, 1 + k % 28),
        dt.datetime(1990, 1, 1) + dt.timedelta(seconds=k * 7919, microseconds=k),
        dt.datetime(2020, 6, 1) + dt.timedelta(seconds=k * 31, milliseconds=k % 1000),
        dt.timedelta(hours=sign * (k % 800), microseconds=k),
        1901 + k % 255,
        f"c{k}",
        "v\u00e9" * (k % 150),
        "text \U0001f600 " * (k % 7),
        "caf\u00e9 " + str(k),
        k.to_bytes(4, "big"),
        bytes(range(k % 20)),
        b"\xde\xad" * (k % 500),
        f'{{"k": {k}, "list": [1, null, "s"]}}',
        "abc"[k % 3],
        ["", "x", "y,z", "x,y,z"][k % 4],
        k % 2,
        (1 << 63) + k,
    )


def create_schema(conn: Any, db: str) -> None:
    cur = conn.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {db}")
    cur.execute(f"CREATE DATABASE {db}")
    cur.execute(f"GRANT SELECT ON `{db}`.* TO %s@%s", (CAPTURE_USER, LOOPBACK))
    for ddl in TABLES_DDL:
        cur.execute(ddl.format(db=db))


def workload(conn: Any, db: str, round_: int, *, rotate: Callable[[], None] | None = None) -> None:
    """Inserts, updates and deletes in single- and multi-statement transactions. ``rotate`` is
    called half way (e.g. ``FLUSH BINARY LOGS``)."""
    cur = conn.cursor()
    cur.execute("SET SESSION time_zone = '+00:00'")
    base = 1000 * round_
    placeholders = ", ".join(["%s"] * len(TYPES_COLUMNS.split(",")))
    insert = f"INSERT INTO {db}.types ({TYPES_COLUMNS}) VALUES ({placeholders})"
    cur.execute("BEGIN")
    cur.executemany(insert, [types_row(base + k) for k in range(1, 121)])
    cur.executemany(
        f"INSERT INTO {db}.pairs VALUES (%s, %s, %s, %s)",
        [(base + k % 10, f"b{k}", "\u00e9t\u00e9" * k, k) for k in range(60)],
    )
    cur.execute("COMMIT")
    for i in range(10):
        cur.execute("BEGIN")
        cur.execute(
            f"UPDATE {db}.types SET vc = CONCAT('u', id), bi = bi DIV 2, j = JSON_OBJECT('i', %s),"
            " s = 'y', e = 'b', tm = '-12:00:00.5' WHERE id BETWEEN %s AND %s",
            (i, base + i * 10, base + i * 10 + 4),
        )
        cur.execute(f"DELETE FROM {db}.pairs WHERE a = %s AND n < %s", (base + i, 20))
        cur.execute(f"INSERT INTO {db}.types (id, vc) VALUES (%s, 'late')", (base + 500 + i,))
        cur.execute("COMMIT")
        if i == 4 and rotate is not None:
            rotate()
    # Primary key change, delete + re-insert of a key, a rolled-back transaction.
    cur.execute(f"UPDATE {db}.pairs SET a = a + 100 WHERE a = %s", (base + 9,))
    cur.execute(f"DELETE FROM {db}.types WHERE id = %s", (base + 1,))
    cur.execute(f"INSERT INTO {db}.types (id, vc) VALUES (%s, 'again')", (base + 1,))
    cur.execute("BEGIN")
    cur.execute(f"DELETE FROM {db}.types")
    cur.execute("ROLLBACK")
    cur.execute(f"DELETE FROM {db}.types WHERE id %% 13 = 0 AND id > %s", (base,))


def start_run(
    url: str, out: Path, password: str, *extra: str, command: str = "run"
) -> subprocess.Popen[str]:
    """``arrowtail run`` (or ``command``) in a subprocess; the password only in the
    environment."""
    cmd = [
        sys.executable,
        "-m",
        "arrowtail.cli",
        command,
        "--source",
        url,
        "--password-env",
        PASSWORD_ENV,
        "--to",
        f"parquet:{out}",
        *extra,
    ]
    env = dict(os.environ, **{PASSWORD_ENV: password})
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def capture_args(server: Any, to: str, tables: str, *extra: str) -> list[str]:
    """``arrowtail run`` arguments from the fixture's capture user into ``to``, for ``tables``;
    the password is read from :data:`PASSWORD_ENV` (see :func:`capture_env`)."""
    source = ["--source", server.capture_url, "--password-env", PASSWORD_ENV]
    return ["run", *source, "--to", to, "--tables", tables, *extra]


def capture_env(server: Any) -> dict[str, str]:
    """The environment for :func:`capture_args`: the capture user's password in it."""
    return dict(os.environ, **{PASSWORD_ENV: server.capture_password})


def app_url(server: Any) -> str:
    """The URL of the fixture's least-privilege capture user, without its password."""
    return str(server.capture_url)


def dump_threads(server: Any) -> set[int]:
    """Ids of the server's 'Binlog Dump' threads (a finished replica's may linger a while)."""
    conn = server.connect()
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'"
        )
        return {int(r[0]) for r in cur.fetchall()}
    finally:
        conn.close()


def wait_for_dump(
    server: Any, proc: subprocess.Popen[str], ignore: set[int] | None = None, timeout: float = 60.0
) -> None:
    """Waits until a new replica connection (not in ``ignore``) is in 'Binlog Dump'."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dump_threads(server) - (ignore or set()):
            return
        if proc.poll() is not None:
            raise AssertionError(f"arrowtail exited early: {proc.communicate()[1]}")
        time.sleep(0.05)
    raise AssertionError("arrowtail did not start a binlog dump in time")


def start_streaming(server: Any, url: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    """``arrowtail run`` started and waited for until its binlog dump runs."""
    before = dump_threads(server)
    proc = start_run(url, out, server.capture_password, *extra)
    wait_for_dump(server, proc, before)
    return proc


def stream_database(server: Any, db: str, out: Path, server_id: int) -> subprocess.Popen[str]:
    """``arrowtail run`` of database ``db`` (its capture grants given here) into Parquet at
    ``out``, with an initial snapshot, exiting 3 s after the binlog goes quiet; returned once its
    binlog dump runs."""
    server.grant_capture(db)
    return start_streaming(
        server, app_url(server) + db, out, "--snapshot", "initial", "--server-id", str(server_id),
        "--idle-exit", "3",
    )  # fmt: skip


def comparable(value: Any, arrow_value: Any) -> tuple[Any, Any]:
    """Brings a PyMySQL value and the replayed Arrow value into comparable forms."""
    if isinstance(arrow_value, dt.datetime) and arrow_value.tzinfo is not None:
        arrow_value = arrow_value.replace(tzinfo=None)
    if isinstance(arrow_value, list):  # SET
        return (set(value.split(",")) - {""} if isinstance(value, str) else value), set(arrow_value)
    if isinstance(value, bytes) and isinstance(arrow_value, int):  # BIT
        return int.from_bytes(value, "big"), arrow_value
    if isinstance(value, Decimal) and isinstance(arrow_value, str):  # DECIMAL over 38 digits
        return value, Decimal(arrow_value)
    return value, arrow_value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6)
    return a == b


def select_all(conn: Any, db: str) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    cur = conn.cursor()
    cur.execute("SET SESSION time_zone = '+00:00'")
    out = {}
    for table, pk in (("types", ["id"]), ("pairs", ["a", "b"])):
        cur.execute(f"SELECT * FROM {db}.{table}")
        names = [c[0] for c in cur.description]
        out[f"{db}.{table}"] = {
            tuple(r[names.index(k)] for k in pk): dict(zip(names, r, strict=True)) for r in cur
        }
    return out


def assert_rows_equal(
    got: dict[tuple[Any, ...], dict[str, Any]],
    want: dict[tuple[Any, ...], dict[str, Any]],
    table: str,
) -> None:
    """Same keys, and for every row of ``want`` (from PyMySQL) the same values."""
    missing = sorted(set(want) - set(got))[:5]
    extra = sorted(set(got) - set(want))[:5]
    assert not missing and not extra, f"{table}: missing {missing}, extra {extra}"
    for key, row in want.items():
        for col, value in row.items():
            a, b = comparable(value, got[key].get(col))
            assert _same(a, b), f"{table} {key} {col}: database {a!r}, stream {b!r}"


def check_replay(out: Path, conn: Any, db: str) -> None:
    """The replay of every Parquet file equals ``SELECT *`` for every table, value by value."""
    images = replay(parquet_changes(out))
    for table, want in select_all(conn, db).items():
        assert_rows_equal(images.get(table, {}), want, table)


def change_keys(out: Path) -> list[tuple[str, int, int]]:
    """``(table, _pos, _seq)`` of every stored change."""
    return [
        (t, b.column("_pos")[i].as_py(), b.column("_seq")[i].as_py())
        for t, _, b in parquet_changes(out)
        for i in range(b.num_rows)
    ]


class PinnedSink:
    """A sink whose stored position is replaced by ``start`` (everything else delegated)."""

    def __init__(self, sink: Any, start: dict[str, Any]) -> None:
        self._sink, self._start = sink, start

    def open(self) -> dict[str, Any]:
        self._sink.open()
        return self._start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sink, name)


def failed_with_one_error(
    proc: subprocess.Popen[str], code: int = 3, *secrets: str, timeout: float = 120
) -> str:
    """Waits for ``proc``, which must exit with ``code`` after exactly one ``arrowtail: error:``
    line, no traceback and none of ``secrets`` in its output; returns that line."""
    stdout, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == code, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("arrowtail: error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    for secret in secrets:
        assert secret not in stdout + stderr
    return errors[0]
