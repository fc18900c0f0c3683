"""The benchmark workloads: a mixed-type table on PostgreSQL and on MariaDB, tables of growing
width, and pgoutput capture files recorded from replication slots with explicit protocol options.

Every workload runs in transactions of ``TX_ROWS`` rows: inserts of ``rows`` rows, then updates of
a tenth of them and deletes of a twentieth, so inserts, updates and deletes all appear.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TX_ROWS = 1000
SCHEMA = "bench"

PG_MIXED = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE {SCHEMA}.mixed (
    id bigint PRIMARY KEY,
    qty integer NOT NULL,
    small smallint,
    price numeric(12, 2),
    ratio double precision,
    name text,
    note varchar(80),
    active boolean,
    created timestamptz,
    day date,
    doc jsonb,
    uid uuid
)"""

PG_MIXED_INSERT = f"""
INSERT INTO {SCHEMA}.mixed
SELECT g, g %% 1000, (g %% 100)::smallint, (g * 1.37)::numeric(12, 2), g / 7.0, 'name ' || g,
       CASE WHEN g %% 5 = 0 THEN NULL ELSE md5(g::text) END, g %% 2 = 0,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1.000123 second',
       date '2024-01-01' + (g %% 365)::integer,
       jsonb_build_object('k', g, 'tags', jsonb_build_array('a', g %% 3)),
       md5(g::text)::uuid
FROM generate_series(%s::bigint, %s::bigint) AS g"""

PG_MIXED_UPDATE = (
    f"UPDATE {SCHEMA}.mixed SET qty = qty + 1, name = name || ' updated' "
    "WHERE id BETWEEN %s AND %s AND id %% 10 = 0"
)
PG_MIXED_DELETE = f"DELETE FROM {SCHEMA}.mixed WHERE id BETWEEN %s AND %s AND id %% 20 = 1"

# Width tables cycle through these column types (after the bigint key).
_WIDE_TYPES = [
    ("integer", "(g + {i})::integer"),
    ("text", "'value ' || (g + {i})"),
    ("numeric(12, 2)", "((g + {i}) * 1.01)::numeric(12, 2)"),
    ("timestamptz", "timestamptz '2024-01-01 00:00:00+00' + (g + {i}) * interval '1 second'"),
    ("boolean", "(g + {i}) %% 2 = 0"),
]

MY_MIXED = """
CREATE TABLE mixed (
    id BIGINT PRIMARY KEY,
    qty INT NOT NULL,
    small SMALLINT,
    price DECIMAL(12, 2),
    ratio DOUBLE,
    name VARCHAR(64),
    note VARCHAR(80),
    active BOOLEAN,
    created DATETIME(6),
    day DATE,
    doc JSON,
    uid CHAR(36)
) ENGINE=InnoDB"""

MY_MIXED_INSERT = """
INSERT INTO mixed
SELECT seq, seq % 1000, seq % 100, seq * 1.37, seq / 7.0, CONCAT('name ', seq),
       IF(seq % 5 = 0, NULL, MD5(seq)), seq % 2 = 0,
       TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq * 1000123 MICROSECOND,
       DATE '2024-01-01' + INTERVAL (seq % 365) DAY,
       JSON_OBJECT('k', seq, 'tags', JSON_ARRAY('a', seq % 3)), UUID()
FROM seq_{lo}_to_{hi}"""

MY_MIXED_UPDATE = (
    "UPDATE mixed SET qty = qty + 1, name = CONCAT(name, ' updated') "
    "WHERE id BETWEEN %s AND %s AND id %% 10 = 0"
)
MY_MIXED_DELETE = "DELETE FROM mixed WHERE id BETWEEN %s AND %s AND id %% 20 = 1"


@dataclass
class Workload:
    """What a workload produced: changed rows and transactions."""

    changes: int = 0
    transactions: int = 0
    deletes: int = 0


def _chunks(rows: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + TX_ROWS - 1, rows)) for lo in range(1, rows + 1, TX_ROWS)]


def _expected(rows: int) -> Workload:
    chunks = _chunks(rows)
    updates = sum(len([i for i in range(lo, hi + 1) if i % 10 == 0]) for lo, hi in chunks)
    deletes = sum(len([i for i in range(lo, hi + 1) if i % 20 == 1]) for lo, hi in chunks)
    upd_tx = len([c for c in chunks if any(i % 10 == 0 for i in range(c[0], c[1] + 1))])
    del_tx = len([c for c in chunks if any(i % 20 == 1 for i in range(c[0], c[1] + 1))])
    return Workload(rows + updates + deletes, len(chunks) + upd_tx + del_tx, deletes)


def pg_create_mixed(conn: Any) -> None:
    conn.execute(PG_MIXED)


def pg_run_mixed(conn: Any, rows: int) -> Workload:
    """Inserts ``rows`` rows, updates every tenth and deletes every twentieth, one statement per
    transaction (autocommit). Returns the expected change and transaction counts."""
    for lo, hi in _chunks(rows):
        conn.execute(PG_MIXED_INSERT, (lo, hi))
    for lo, hi in _chunks(rows):
        conn.execute(PG_MIXED_UPDATE, (lo, hi))
    for lo, hi in _chunks(rows):
        conn.execute(PG_MIXED_DELETE, (lo, hi))
    return _expected(rows)


def pg_create_wide(conn: Any, width: int) -> str:
    """Creates ``bench.w<width>`` (a bigint key plus ``width - 1`` columns); returns its name."""
    name = f"{SCHEMA}.w{width}"
    cols = ["id bigint PRIMARY KEY"]
    for i in range(1, width):
        cols.append(f"c{i} {_WIDE_TYPES[i % len(_WIDE_TYPES)][0]}")
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(f"CREATE TABLE {name} ({', '.join(cols)})")
    return name


def pg_run_wide(conn: Any, width: int, rows: int, tx_rows: int = TX_ROWS) -> Workload:
    """Inserts ``rows`` rows into ``bench.w<width>`` in transactions of ``tx_rows`` rows."""
    exprs = ["g"]
    for i in range(1, width):
        exprs.append(_WIDE_TYPES[i % len(_WIDE_TYPES)][1].format(i=i))
    sql = (
        f"INSERT INTO {SCHEMA}.w{width} SELECT {', '.join(exprs)} "
        "FROM generate_series(%s::bigint, %s::bigint) AS g"
    )
    txs = 0
    for lo in range(1, rows + 1, tx_rows):
        conn.execute(sql, (lo, min(lo + tx_rows - 1, rows)))
        txs += 1
    return Workload(rows, txs)


def pg_create_slot(conn: Any, slot: str) -> None:
    conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))


def pg_drop_slots(conn: Any, slots: list[str], timeout: float = 30.0) -> None:
    """Drops the slots once their walsenders let go (the server has a limited number of slots)."""
    deadline = time.monotonic() + timeout
    for slot in slots:
        while True:
            row = conn.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            ).fetchone()
            if row is None:
                break
            if not row[0]:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"replication slot {slot} still active")
            time.sleep(0.05)  # polling the condition above, with a deadline


def pg_create_publication(conn: Any, name: str, tables: list[str]) -> None:
    conn.execute(f"CREATE PUBLICATION {name} FOR TABLE {', '.join(tables)}")


@dataclass
class Capture:
    """A recorded capture file and the end LSN of its last commit."""

    path: Path
    messages: int
    end_lsn: int


def pg_capture(
    dsn: str,
    slot: str,
    publication: str,
    out: Path,
    transactions: int,
    *,
    proto_version: int,
    binary: bool,
    timeout: float = 300.0,
) -> Capture:
    """Records the slot's pgoutput messages into ``out`` in ``arrowtail capture``'s format
    (``[u64 BE LSN][u32 BE length][message]``) until ``transactions`` commits were seen.

    ``arrowtail capture`` always picks the server's newest protocol; the benchmark needs protocol 1
    text tuples (what pypgoutput reads) and protocol 2 binary tuples, so it sets them here.
    """
    from arrowtail.sources.postgres.replication import start_replication

    stream = start_replication(dsn, slot, [publication], proto_version=proto_version, binary=binary)
    commits = 0
    messages = 0
    end_lsn = 0
    deadline = time.monotonic() + timeout
    try:
        with open(out, "wb") as f:
            while commits < transactions:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"capture of {slot}: {commits}/{transactions} commits")
                data = stream.read(0.5)
                if data is None or data[:1] != b"w" or len(data) < 25:
                    continue
                lsn = struct.unpack_from(">Q", data, 1)[0]
                payload = data[25:]
                f.write(struct.pack(">QI", lsn, len(payload)))
                f.write(payload)
                messages += 1
                if payload[:1] == b"C":
                    commits += 1
                    # Commit: Int8 flags, Int64 commit LSN, Int64 end LSN (protocol docs).
                    end_lsn = struct.unpack_from(">Q", payload, 10)[0]
            stream.send_status(end_lsn)
    finally:
        stream.close()
    return Capture(out, messages, end_lsn)


def my_create_mixed(conn: Any, database: str) -> None:
    with conn.cursor() as cur:
        cur.execute(f"USE {database}")
        cur.execute(MY_MIXED)


def my_run_mixed(conn: Any, database: str, rows: int) -> Workload:
    """The MariaDB twin of :func:`pg_run_mixed` (autocommit, one statement per transaction)."""
    with conn.cursor() as cur:
        cur.execute(f"USE {database}")
        for lo, hi in _chunks(rows):
            cur.execute(MY_MIXED_INSERT.format(lo=lo, hi=hi))
        for lo, hi in _chunks(rows):
            cur.execute(MY_MIXED_UPDATE, (lo, hi))
        for lo, hi in _chunks(rows):
            cur.execute(MY_MIXED_DELETE, (lo, hi))
    return _expected(rows)


def my_current_binlog(conn: Any) -> str:
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
    return str(row[0])


def my_rotate(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")
