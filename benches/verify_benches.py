"""Verify rate: ``arrowtail verify`` of a PostgreSQL table against its copy in another database of
the same cluster (chunk digests computed by the servers, bisection of mismatching chunks) beside a
naive peer that streams ``SELECT * ... ORDER BY id`` from both sides (server-side cursors) and
compares the rows one by one in Python, merging by key.

Two comparisons on the same table: the copy equal, and the copy with a handful of planted
differences (rows deleted, values changed, a row added), where the time is the time to find them.
Every run checks it found exactly the planted differences. The copies are made with ``CREATE
DATABASE ... TEMPLATE`` outside the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benches.harness import System, interleave, run_worker
from benches.pg_benches import Comparison

TABLE = "bench.items"


def planted(rows: int) -> list[str]:
    """What is planted in the "different" copy of a ``rows``-row table (spread over it)."""
    return [
        f"DELETE FROM {TABLE} WHERE id IN (17, {rows * 2 // 3})",
        f"UPDATE {TABLE} SET name = 'changed' WHERE id = {rows // 5}",
        f"UPDATE {TABLE} SET price = price + 0.01 WHERE id = {rows - 1000}",
        f"INSERT INTO {TABLE} VALUES (2000000000, 1, 'extra', 1.00, now())",
    ]


#: How many of each kind the runs must find in the planted copy.
EXPECT_PLANTED = {"missing": 2, "extra": 1, "different": 2}
#: The source database, its equal copy and its planted copy.
DATABASES = ("verify_src", "verify_equal", "verify_planted")


def _found(a: dict[str, Any], missing: int, extra: int, different: int) -> None:
    got = {"missing": missing, "extra": extra, "different": different}
    if got != a["expect"]:
        raise SystemExit(f"found {got}, planted {a['expect']}")


# -- the worker side (python -m benches.worker verify-...) ----------------------------------------


def verify_arrowtail(a: dict[str, Any]) -> Callable[[], int]:
    """``arrowtail.verify.compare.verify`` with its defaults (no re-checks: nothing streams
    here)."""
    from arrowtail.verify.compare import verify

    def run() -> int:
        report = verify(a["source"], a["against"], [TABLE], recheck_times=0)
        t = report.tables[0]
        _found(a, len(t.missing), len(t.extra), len(t.different))
        return t.source_rows

    return run


def verify_naive(a: dict[str, Any]) -> Callable[[], int]:
    """Both tables streamed in key order and merged row by row in Python."""
    import psycopg

    query = f"SELECT * FROM {TABLE} ORDER BY id"

    def run() -> int:
        missing = extra = different = rows = 0
        with psycopg.connect(a["source"]) as s, psycopg.connect(a["against"]) as t:
            cs, ct = s.cursor(name="src"), t.cursor(name="tgt")
            cs.itersize = ct.itersize = 10_000
            cs.execute(query)
            ct.execute(query)
            left, right = iter(cs), iter(ct)
            rs, rt = next(left, None), next(right, None)
            while rs is not None or rt is not None:
                if rt is None or (rs is not None and rs[0] < rt[0]):
                    missing += 1
                    rows += 1
                    rs = next(left, None)
                elif rs is None or rt[0] < rs[0]:
                    extra += 1
                    rt = next(right, None)
                else:
                    different += rs != rt
                    rows += 1
                    rs, rt = next(left, None), next(right, None)
        _found(a, missing, extra, different)
        return rows

    return run


WORKER_KINDS: dict[str, Callable[[dict[str, Any]], Callable[[], int]]] = {
    "verify-arrowtail": verify_arrowtail,
    "verify-naive": verify_naive,
}


# -- the parent side ---------------------------------------------------------------------------


def _prepare(pg: Any, rows: int) -> tuple[str, str, str]:
    """The source table and two copies (equal, planted); returns their DSNs."""
    conn = pg.connect()
    conn.execute("CREATE DATABASE verify_src")
    src = pg.connect(dbname="verify_src")
    src.execute("CREATE SCHEMA bench")
    src.execute(
        "CREATE TABLE bench.items (id bigint PRIMARY KEY, k int, name text,"
        " price numeric(12,2), ts timestamptz)"
    )
    src.execute(
        "INSERT INTO bench.items SELECT g, g %% 1000, 'item ' || g, g * 0.25,"
        " timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'"
        " FROM generate_series(1, %s) g",
        (rows,),
    )
    src.execute("VACUUM ANALYZE bench.items")
    src.close()
    for copy in DATABASES[1:]:
        conn.execute(f"CREATE DATABASE {copy} TEMPLATE verify_src")
    conn.close()
    diff = pg.connect(dbname="verify_planted")
    for statement in planted(rows):
        diff.execute(statement)
    diff.execute("VACUUM ANALYZE bench.items")
    diff.close()
    src, equal, diff = (pg.dsn_for(pg.user, None, db) for db in DATABASES)
    return src, equal, diff


def _compare(
    title: str, a: dict[str, Any], rows: int, rounds: int, log: Callable[[str], None]
) -> Comparison:
    cmp = Comparison(
        title,
        "rows/s",
        [
            System("arrowtail verify", lambda: run_worker("verify-arrowtail", a)),
            System(
                "naive: ORDER BY id both sides, merged in Python",
                lambda: run_worker("verify-naive", a),
            ),
        ],
        [
            f"{TABLE}: {rows} rows, 5 columns (bigint key, int, text, numeric, timestamptz), "
            "source and copy in two databases of one PostgreSQL cluster; "
            f"each run must find exactly {a['expect']}.",
        ],
    )
    log(cmp.title)
    interleave(cmp.systems, rounds, log)
    return cmp


def verify(rows: int, rounds: int, log: Callable[[str], None]) -> list[Comparison]:
    """Both comparisons on a private PostgreSQL."""
    from tests.servers import PostgresServer

    pg = PostgresServer()
    try:
        pg.start()
        log(f"PostgreSQL on port {pg.port}: a {rows}-row table and two copies")
        src, equal, planted = _prepare(pg, rows)
        none = {"missing": 0, "extra": 0, "different": 0}
        return [
            _compare(
                f"verify a {rows}-row table, PostgreSQL → PostgreSQL, equal (rows/s)",
                {"source": src, "against": equal, "expect": none},
                rows,
                rounds,
                log,
            ),
            _compare(
                f"verify a {rows}-row table with {sum(EXPECT_PLANTED.values())} planted "
                "differences: time to find them (rows/s)",
                {"source": src, "against": planted, "expect": EXPECT_PLANTED},
                rows,
                rounds,
                log,
            ),
        ]
    finally:
        pg.cleanup()
