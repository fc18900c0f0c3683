"""kill -9 mid-apply across engines, PostgreSQL -> MariaDB and MariaDB -> PostgreSQL: while a
workload of counter increments (``UPDATE hot SET n = n + 1`` on a few hot rows, many times, in
single-row and multi-statement transactions) plus inserts and deletes runs, the ``arrowtail run``
applying it to the other engine is SIGKILLed at seeded random moments and restarted
(:func:`tests.support.chaos.workload_kill_loop`). A last clean ``--idle-exit`` run catches
up; then ``arrowtail verify`` says equal and every counter in the target equals the number of
increments the workload made: no change was applied twice or lost. The position stored in the
target's ``arrowtail_state``, read after every run, never went back.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from arrowtail.sinks.database.target import position_order
from tests.support.chaos import soak_rounds, start_arrowtail, workload_kill_loop
from tests.support.cli import cli
from tests.support.pg_run import fresh_db

HOT = 5
ROUNDS = soak_rounds(36)
INCREMENTS_PER_ROUND = 12


class CounterWorkload:
    """The workload of both tests, in the source engine's SQL; counts the increments it made."""

    def __init__(self, execute: Any, transaction: Any, table: str) -> None:
        self.execute = execute  # (sql, params) -> None, autocommit
        self.transaction = transaction  # list of (sql, params) -> None, in one transaction
        self.table = table  # schema-qualified prefix, e.g. "killx."
        self.increments: Counter[int] = Counter()

    def round(self, r: int) -> None:
        t = self.table
        for i in range(INCREMENTS_PER_ROUND):
            key = (r * INCREMENTS_PER_ROUND + i) % HOT + 1
            self.execute(f"UPDATE {t}hot SET n = n + 1 WHERE id = %s", (key,))
            self.increments[key] += 1
        base = r * 100
        # One transaction: every hot row twice, inserts, and deletes of an earlier round's rows.
        self.transaction(
            [
                (f"UPDATE {t}hot SET n = n + 1", ()),
                *[
                    (f"INSERT INTO {t}events VALUES (%s, %s, %s)", (base + k, k % 7, f"e{r}-{k}"))
                    for k in range(60)
                ],
                (f"UPDATE {t}hot SET n = n + 1 WHERE id <= %s", (HOT,)),
                (f"DELETE FROM {t}events WHERE id BETWEEN %s AND %s", (base - 100, base - 71)),
                (f"UPDATE {t}events SET kind = kind + 100 WHERE id = %s", (base + 1,)),
            ]
        )
        for key in range(1, HOT + 1):
            self.increments[key] += 2


def _run_loop(
    workload: CounterWorkload,
    start: Any,
    state: Any,
    seed: int,
    **delays: float,
) -> list[int]:
    """The shared kill loop; returns the stored positions read after each run."""
    seen: list[int] = []

    def progress() -> Any:
        position = state()
        if position is not None:
            seen.append(position)
        return position

    workload_kill_loop(workload.round, ROUNDS, start, progress, seed, **delays)
    return seen


def _assert_counters(rows: list[tuple[Any, Any]], workload: CounterWorkload) -> None:
    got = {int(k): int(n) for k, n in rows}
    want = {k: workload.increments[k] for k in range(1, HOT + 1)}
    assert got == want, f"target counters {got}, increments made {want}"
    assert sum(want.values()) == ROUNDS * (INCREMENTS_PER_ROUND + 2 * HOT)


def test_postgres_to_mariadb_survives_sigkill(postgres: Any, mariadb: Any, tmp_path: Path) -> None:
    schema, slot, sink = "killx", "killx_slot", "killx"
    conn = fresh_db(postgres, "killx_src")
    conn.execute(
        f"CREATE SCHEMA {schema};"
        f" CREATE TABLE {schema}.hot (id int PRIMARY KEY, n bigint NOT NULL);"
        f" CREATE TABLE {schema}.events (id bigint PRIMARY KEY, kind int, note text);"
        f" INSERT INTO {schema}.hot SELECT g, 0 FROM generate_series(1, {HOT}) g;"
        f" CREATE PUBLICATION killx FOR TABLE {schema}.hot, {schema}.events"
    )
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {schema}")
        if _has_state(cur, mariadb.database):
            cur.execute(
                f"DELETE FROM {mariadb.database}.arrowtail_state WHERE sink_name = %s", (sink,)
            )
    source_url = postgres.dsn_for(postgres.user, None, "killx_src")
    target_url = f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/{mariadb.database}"
    env = dict(os.environ, ARROWTAIL_TARGET_PASSWORD=mariadb.password)
    run = ["run", "--source", source_url, "--slot", slot, "--publication", "killx"]
    run += ["--to", f"{target_url}?sink_name={sink}", "--create-tables"]
    first = start_arrowtail([*run, "--snapshot", "initial", "--idle-exit", "2"], env, tmp_path, "0")
    assert first.wait(timeout=240) == 0, first.output()

    def state() -> int | None:
        with my.cursor() as cur:
            cur.execute(
                f"SELECT position FROM {mariadb.database}.arrowtail_state WHERE sink_name = %s",
                (sink,),
            )
            row = cur.fetchone()
        return position_order(json.loads(row[0])) if row else None

    assert state() is not None, "the snapshot stored no position"

    def transaction(statements: list[tuple[str, tuple]]) -> None:
        with conn.transaction():
            for sql, params in statements:
                conn.execute(sql, params)

    work = CounterWorkload(lambda sql, params: conn.execute(sql, params), transaction, f"{schema}.")
    seen = _run_loop(
        work,
        lambda i: start_arrowtail([*run, "--idle-exit", "600"], env, tmp_path, f"k{i}"),
        state,
        20261124,
    )
    final = start_arrowtail([*run, "--idle-exit", "3"], env, tmp_path, "final")
    assert final.wait(timeout=300) == 0, final.output()
    seen.append(state() or 0)
    assert seen == sorted(seen), f"the stored position went back: {seen}"

    tables = f"{schema}.hot,{schema}.events"
    check = cli(
        "verify", "--source", source_url, "--against", target_url, "--tables", tables, env=env
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{schema}.hot: equal" in check.stdout and f"{schema}.events: equal" in check.stdout
    with my.cursor() as cur:
        cur.execute(f"SELECT id, n FROM {schema}.hot")
        _assert_counters(list(cur.fetchall()), work)
    _assert_counters(conn.execute(f"SELECT id, n FROM {schema}.hot").fetchall(), work)
    conn.execute(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
        " WHERE slot_name = %s AND NOT active",
        (slot,),
    )
    my.close()
    conn.close()


def _has_state(cur: Any, database: str) -> bool:
    cur.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s"
        " AND table_name = 'arrowtail_state'",
        (database,),
    )
    return bool(cur.fetchone()[0])


def test_mariadb_to_postgres_survives_sigkill(postgres: Any, mariadb: Any, tmp_path: Path) -> None:
    db = "killx_my"
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"CREATE TABLE {db}.hot (id int PRIMARY KEY, n bigint NOT NULL)")
        cur.execute(f"CREATE TABLE {db}.events (id bigint PRIMARY KEY, kind int, note text)")
        cur.execute(f"INSERT INTO {db}.hot SELECT seq, 0 FROM {db}.seq_1_to_{HOT}")
    mariadb.grant_capture(db)
    target = fresh_db(postgres, "killx_tgt")
    target_url = postgres.dsn_for(postgres.user, None, "killx_tgt")
    env = dict(os.environ, RUN_MY_PASSWORD=mariadb.capture_password)
    source = ["--source", mariadb.capture_url, "--password-env", "RUN_MY_PASSWORD"]
    tables = f"{db}.hot,{db}.events"
    run = ["run", *source, "--tables", tables, "--server-id", "7412"]
    run += ["--to", f"{target_url}?sink_name=killx", "--create-tables"]
    first = start_arrowtail([*run, "--snapshot", "initial", "--idle-exit", "2"], env, tmp_path, "0")
    assert first.wait(timeout=240) == 0, first.output()

    def state() -> int | None:
        row = target.execute(
            "SELECT position FROM arrowtail_state WHERE sink_name = 'killx'"
        ).fetchone()
        return position_order(row[0]) if row else None

    assert state() is not None, "the snapshot stored no position"
    work_conn = mariadb.connect(database=db)

    def execute(sql: str, params: tuple) -> None:
        with work_conn.cursor() as cur:
            cur.execute(sql, params or None)

    def transaction(statements: list[tuple[str, tuple]]) -> None:
        with work_conn.cursor() as cur:
            cur.execute("BEGIN")
            for sql, params in statements:
                cur.execute(sql, params or None)
            cur.execute("COMMIT")

    work = CounterWorkload(execute, transaction, f"{db}.")
    # A MySQL run needs about a second before its first commit: longer delays (test_kill_mariadb).
    try:
        seen = _run_loop(
            work,
            lambda i: start_arrowtail([*run, "--idle-exit", "600"], env, tmp_path, f"k{i}"),
            state,
            41,
            low=0.5,
            high=4.0,
        )
    finally:
        work_conn.close()
    final = start_arrowtail([*run, "--idle-exit", "3"], env, tmp_path, "final")
    assert final.wait(timeout=300) == 0, final.output()
    seen.append(state() or 0)
    assert seen == sorted(seen), f"the stored position went back: {seen}"

    check = cli("verify", *source, "--against", target_url, "--tables", tables, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{db}.hot: equal" in check.stdout and f"{db}.events: equal" in check.stdout
    _assert_counters(target.execute(f"SELECT id, n FROM {db}.hot").fetchall(), work)
    with my.cursor() as cur:
        cur.execute(f"SELECT id, n FROM {db}.hot")
        _assert_counters(list(cur.fetchall()), work)
    my.close()
    target.close()
