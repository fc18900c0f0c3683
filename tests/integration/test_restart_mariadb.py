"""MariaDB restarts while ``arrowtail run`` streams a workload that keeps writing: the run
reconnects from the last position it handed to the sink, and at the end the Parquet files hold
every change exactly once (replay == ``SELECT *``), with the checkpoint equal to the newest
stored change (nothing recorded as done that is not in the files)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pymysql

from tests.support.chaos import check_committed_files, checkpoint, wait_for
from tests.support.mysql_run import (
    app_url,
    change_keys,
    check_replay,
    create_schema,
    dump_threads,
    start_streaming,
)

DB = "restart_my"


class Writer(threading.Thread):
    """Single- and multi-statement transactions on ``pairs`` until stopped; reconnects when the
    server goes away (a transaction cut by the restart either committed or did not: the final
    comparison is with the server's own tables)."""

    def __init__(self, server: Any) -> None:
        super().__init__(name="writer", daemon=True)
        self.server = server
        self.steps = 0
        self.failures = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        conn: Any = None
        try:
            while not self.stop.is_set():
                try:
                    conn = conn or self.server.connect()
                    self._step(conn.cursor(), self.steps)
                    self.steps += 1
                except pymysql.err.OperationalError:
                    self.failures += 1
                    conn = None
                    self.stop.wait(0.1)  # the server is restarting
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def sure_changes(self) -> int:
        """Row changes the completed steps made for certain: four per multi-row transaction and
        one per single insert (a delete or update may find no row). A step cut by the restart is
        retried with the same number, so it can add changes but never remove one."""
        return sum(
            4 if i % 5 == 0 else 0 if i % 7 == 0 or i % 3 == 0 else 1 for i in range(self.steps)
        )

    @staticmethod
    def _step(cur: Any, i: int) -> None:
        table = f"{DB}.pairs"
        if i % 5 == 0:
            cur.execute("BEGIN")
            for k in range(4):
                cur.execute(
                    f"INSERT INTO {table} VALUES (%s, %s, 'multi', %s) "
                    "ON DUPLICATE KEY UPDATE n = n + 1",
                    (i, f"m{k}", k),
                )
            cur.execute("COMMIT")
        elif i % 7 == 0:
            cur.execute(f"DELETE FROM {table} WHERE a = %s", (i - 5,))
        elif i % 3 == 0:
            cur.execute(f"UPDATE {table} SET v = CONCAT(v, '+'), n = n * 2 WHERE a = %s", (i - 3,))
        else:
            cur.execute(
                f"INSERT INTO {table} VALUES (%s, 's', REPEAT('x', %s), %s) "
                "ON DUPLICATE KEY UPDATE n = n - 1",
                (i, i % 40, i),
            )


def test_server_restart_under_load_loses_and_repeats_nothing(mariadb: Any, tmp_path: Path) -> None:
    conn = mariadb.connect()
    create_schema(conn, DB)
    conn.close()
    out = tmp_path / "parquet"
    proc = start_streaming(mariadb, app_url(mariadb) + DB, out, "--idle-exit", "5")
    writer = Writer(mariadb)
    writer.start()
    try:
        wait_for(lambda: checkpoint(out) is not None and writer.steps > 200, "stored changes")
        mariadb.restart()
        restarted_at = writer.steps
        wait_for(lambda: bool(dump_threads(mariadb)), "the run to reconnect")
        wait_for(lambda: writer.steps > restarted_at + 300, "writes after the restart")
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    assert writer.error is None, writer.error
    assert writer.failures >= 1, "the restart did not interrupt the workload"
    assert proc.poll() is None, "the run ended during the restart"
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    assert "reconnected" in stderr, stderr
    assert mariadb.capture_password not in stderr

    conn = mariadb.connect()
    check_replay(out, conn, DB)
    stored = check_committed_files(out)
    keys = change_keys(out)
    # At least what the writer is sure it changed: the bound follows the workload's pace, so a
    # slow machine that made fewer steps does not fail the test.
    assert stored == len(keys) == len(set(keys)) >= writer.sure_changes() > 600
    # The checkpoint is the newest stored change: no position recorded beyond the files.
    assert checkpoint(out)["pos"] == max(pos for _, pos, _ in keys)
