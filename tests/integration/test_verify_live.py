"""``arrowtail verify`` while writes continue: a running ``arrowtail run`` PostgreSQL ->
PostgreSQL applies a writer thread's updates, inserts and deletes as they happen; ``verify``
re-checks the keys that differ because their change is still in flight and exits 0 (by default,
since the source has an active slot), while a difference planted in the target, which replication
will never fix, is still reported (exit 1, naming its key)."""

from __future__ import annotations

import os
import random
import re
import signal
import threading
from pathlib import Path
from typing import Any

from arrowtail.verify.compare import verify
from tests.support.chaos import start_arrowtail, wait_for
from tests.support.cli import cli
from tests.support.pg_run import fresh_db

ROWS = 2000
#: The writer changes keys 1..HOT only, so the planted keys above it stay as planted.
HOT = 1500
PLANTED = 1777
RESOLVED = re.compile(r"\((\d+) difference\(s\) resolved by re-checks\)")


class Writer(threading.Thread):
    """Single-row transactions on the source until stopped: counter updates of random keys,
    inserts of new keys and deletes of some of them."""

    def __init__(self, conn: Any) -> None:
        super().__init__(name="writer", daemon=True)
        self.conn = conn
        self.stop = threading.Event()
        self.changes = 0
        self.failure: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(11)
        new = 100_000
        try:
            while not self.stop.is_set():
                self.conn.execute(
                    "UPDATE items SET n = n + 1 WHERE id = %s", (rng.randint(1, HOT),)
                )
                new += 1
                self.conn.execute("INSERT INTO items VALUES (%s, 0, 'new')", (new,))
                if new % 3 == 0:
                    self.conn.execute("DELETE FROM items WHERE id = %s", (new - 1,))
                self.changes += 3
                # Pacing, about 300 changes a second: a stream, not a flood.
                self.stop.wait(0.01)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.failure = exc


def test_verify_rechecks_while_writes_continue(postgres: Any, tmp_path: Path) -> None:
    src = fresh_db(postgres, "vlive_src")
    tgt = fresh_db(postgres, "vlive_tgt")
    src.execute("CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL, note text)")
    src.execute("INSERT INTO items SELECT g, 0, 'row ' || g FROM generate_series(1, %s) g", (ROWS,))
    src.execute("CREATE PUBLICATION vlive FOR ALL TABLES")
    source_url = postgres.dsn_for(postgres.user, None, "vlive_src")
    target_url = postgres.dsn_for(postgres.user, None, "vlive_tgt")
    run = ["run", "--source", source_url, "--slot", "vlive", "--publication", "vlive"]
    run += ["--to", target_url + "?create_tables=1", "--snapshot", "initial"]
    child = start_arrowtail([*run, "--idle-exit", "600"], dict(os.environ), tmp_path, "run")
    writer = Writer(postgres.connect(dbname="vlive_src"))
    try:

        def copied() -> bool:
            assert child.proc.poll() is None, child.output()
            row = tgt.execute("SELECT to_regclass('public.items') IS NOT NULL").fetchone()
            return bool(row and row[0]) and tgt.execute(
                "SELECT count(*) FROM items"
            ).fetchone() == (ROWS,)

        wait_for(copied, "the snapshot to reach the target", timeout=120)
        writer.start()
        wait_for(lambda: writer.changes > 300 or writer.failure is not None, "writes", 60)

        # Behind the stream's back: a changed value and an extra row replication will not touch.
        tgt.execute("UPDATE items SET note = 'planted' WHERE id = %s", (PLANTED,))
        tgt.execute("INSERT INTO items VALUES (-5, 0, 'only in the target')")
        check = ["verify", "--source", source_url, "--against", target_url]
        found = cli(*check, "--tables", "public.items", "--recheck", "4", "--recheck-wait", "0.5")
        assert found.returncode == 1, found.stdout + found.stderr
        lines = found.stdout.splitlines()
        assert lines[0].startswith("public.items: DIFFERENT (")
        # Only the planted differences persist; whatever was in flight was re-checked away.
        assert lines[1:] == [
            "  extra 1: -5",
            f"  different 1: {PLANTED}",
            "  in column(s): note (1)",
            lines[-1],
        ], found.stdout
        assert lines[-1].startswith("differences found (")

        tgt.execute("UPDATE items SET note = 'row ' || id WHERE id = %s", (PLANTED,))
        tgt.execute("DELETE FROM items WHERE id = -5")
        # No --recheck: the default applies because the source's slot is active. A pass that
        # found nothing in flight proves nothing, so look until one did (each must be equal).
        resolved = 0
        for _ in range(5):
            equal = cli(*check)
            assert equal.returncode == 0, equal.stdout + equal.stderr
            assert equal.stdout.startswith("public.items: equal (")
            match = RESOLVED.search(equal.stdout)
            assert match, equal.stdout
            resolved = int(match.group(1))
            if resolved:
                break
        assert resolved > 0, "no verify pass ever saw a change in flight"
        assert writer.is_alive() and writer.failure is None, writer.failure
        writer.stop.set()
        writer.join(timeout=30)
        # Once the writer stopped, the target catches up: equal without any re-check.
        wait_for(lambda: verify(source_url, target_url, recheck_times=0).equal, "the target", 60)
    finally:
        writer.stop.set()
        writer.join(timeout=30)
        if child.proc.poll() is None:
            os.kill(child.proc.pid, signal.SIGTERM)
        code = child.wait(timeout=120)
        writer.conn.close()
    assert code == 0, child.output()
    src.close()
    tgt.close()
