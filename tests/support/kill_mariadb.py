"""The database and workload of the MariaDB kill loops (into Parquet and into Kafka): database
``kill_my`` with two tables (``accounts``, ``events``) readable by the capture user, rounds of
about 2500 changes and an XA transaction prepared in each (committed or rolled back in the next,
so a kill mostly finds one prepared), a one-row marker change for a first run to store, and the
source rows to compare a replay with."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

DB = "kill_my"
TABLES = f"{DB}.accounts,{DB}.events"


def kill_database(mariadb: Any) -> Iterator[Any]:
    """Body of the kill loops' module fixture: (re)creates ``DB`` and its tables, lets the capture
    user read it, and yields a connection."""
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
    mariadb.grant_capture(DB)
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {DB}.accounts (id int PRIMARY KEY, v bigint NOT NULL, "
            "s varchar(64), amt decimal(12,3))"
        )
        cur.execute(f"CREATE TABLE {DB}.events (id bigint PRIMARY KEY, kind int, payload text)")
    yield conn
    # A prepared XA transaction holds its locks on the shared server until it ends.
    with conn.cursor() as cur:
        cur.execute("XA RECOVER FORMAT='SQL'")
        for row in cur.fetchall():
            cur.execute(f"XA ROLLBACK {row[3]}")
    conn.close()


def touch_marker(conn: Any, i: int) -> None:
    """A one-row change (the i-th) that gives a first run something to store."""
    with conn.cursor() as cur:
        cur.execute(f"REPLACE INTO {DB}.events VALUES (0, %s, 'marker')", (i,))


def _prepare_xa(conn: Any, r: int) -> None:
    """XA transaction ``'kill<r>'``: ten events and an update of an account of round ``r``,
    prepared on a session of its own that then ends (the transaction stays prepared)."""
    import pymysql

    xa = pymysql.connect(
        host=conn.host, port=conn.port, user=conn.user, password=conn.password, autocommit=True
    )
    base = r * 1000
    try:
        with xa.cursor() as cur:
            cur.execute(f"XA START 'kill{r}'")
            cur.executemany(
                f"INSERT INTO {DB}.events VALUES (%s, 7, 'xa')",
                [(base + 300 + k,) for k in range(10)],
            )
            cur.execute(f"UPDATE {DB}.accounts SET s = 'xa' WHERE id = %s", (base + 5,))
            cur.execute(f"XA END 'kill{r}'")
            cur.execute(f"XA PREPARE 'kill{r}'")
    finally:
        xa.close()


def workload_round(conn: Any, r: int) -> None:
    """About 2500 changes in one transaction plus a few single-row transactions; the XA
    transaction of the round before committed (rolled back every third round), this round's
    prepared."""
    base = r * 1000
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(
            f"INSERT INTO {DB}.accounts SELECT seq, seq % 97, md5(seq), seq / 7 "
            f"FROM seq_{base + 1}_to_{base + 1000}"
        )
        cur.execute(
            f"UPDATE {DB}.accounts SET v = v + 1, s = concat(s, 'u') WHERE id BETWEEN %s AND %s",
            (base - 1500, base - 1001),
        )
        cur.execute(
            f"DELETE FROM {DB}.accounts WHERE id BETWEEN %s AND %s", (base - 3000, base - 2701)
        )
        cur.execute(
            f"INSERT INTO {DB}.events SELECT seq, seq % 5, repeat('p', seq % 50) "
            f"FROM seq_{base + 1}_to_{base + 200}"
        )
        cur.execute("COMMIT")
        for i in range(3):
            cur.execute(f"UPDATE {DB}.events SET kind = kind + 10 WHERE id = %s", (base + 1 + i,))
        cur.execute(f"DELETE FROM {DB}.events WHERE id = %s", (base + 100,))
        if r > 1:
            outcome = "ROLLBACK" if (r - 1) % 3 == 0 else "COMMIT"
            cur.execute(f"XA {outcome} 'kill{r - 1}'")
    _prepare_xa(conn, r)


def source_tables(conn: Any) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    out = {}
    for table in ("accounts", "events"):
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {DB}.{table}")
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        out[f"{DB}.{table}"] = {(r[0],): dict(zip(names, r, strict=True)) for r in rows}
    return out
