"""PostgreSQL date and time values that Python's ``datetime`` cannot hold (BC dates and timestamps,
years above 9999, ``24:00:00``, ±infinity) captured by ``arrowtail run`` into database targets.

Into PostgreSQL every value arrives exactly, by the snapshot (COPY) and by streamed inserts,
updates and deletes, also where such a column is part of the primary key (with an unchanged
TOASTed column carried over a key change) or of a REPLICA IDENTITY FULL old row; the tables are
compared by their text forms. The sink is also given such Arrow values directly, through both
of its COPY paths (column-wise CSV, and psycopg row by row when a column has no CSV form).

Into MariaDB ``24:00:00`` is a TIME like any other, the years 1 and 9999 arrive as they are, and
a date or timestamp MariaDB cannot hold is one clear error naming the table and the column.

Timestamps above 294247 AD (PostgreSQL goes to 294276) do not fit ``timestamp[us]``, whose
microseconds count from 1970 in 64 bits: the source refuses them, so they are not used here.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
from psycopg import sql

from arrowtail.sinks.database.url import PostgresTargetSink
from tests.support.batches import make_batch
from tests.support.cli import cli, cli_popen
from tests.support.pg_run import fresh_db, wait_slot_active

DAYS = [
    "4714-11-24 BC",  # PostgreSQL's first day
    "0044-03-15 BC",
    "0001-12-31 BC",  # year 0 of the proleptic calendar
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "5874897-12-31",  # PostgreSQL's last day
    "infinity",
    "-infinity",
    "2026-02-28",
]
STAMPS = [
    "4714-11-24 00:00:00 BC",
    "0044-03-15 12:00:00 BC",
    "0001-12-31 23:59:59.999999 BC",
    "0001-01-01 00:00:00",
    "9999-12-31 23:59:59.999999",
    "10000-01-01 00:00:00.000001",
    "294246-12-31 23:59:59.999999",
    "infinity",
    "-infinity",
    "2026-02-28 08:30:01.25",
]
ZONED = [
    "4714-11-24 00:00:00+00 BC",
    "0044-03-15 12:00:00+05:30 BC",
    "0001-01-01 01:00:00+02",  # 1 BC in UTC
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "9999-12-31 23:30:00-01",  # year 10000 in UTC
    "294246-12-31 23:59:59.999999+00",
    "infinity",
    "-infinity",
    "2026-02-28 08:30:01.25+02",
]
TIMES = ["24:00:00", "00:00:00", "23:59:59.999999", "12:34:56.5"]

DDL = """
CREATE TABLE odd (
  id int PRIMARY KEY, d date, ts timestamp, tstz timestamptz, t time, ds date[], tss timestamptz[]
);
CREATE TABLE odd_key (
  d date, ts timestamp, tstz timestamptz, t time, note text, body text,
  PRIMARY KEY (d, ts, tstz, t)
);
ALTER TABLE odd_key ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE TABLE odd_full (
  id int, d date, ts timestamp, tstz timestamptz, t time, PRIMARY KEY (id, tstz)
);
ALTER TABLE odd_full REPLICA IDENTITY FULL;
"""
#: The columns compared (as text) and the order of the rows, per table.
COMPARED = {
    "odd": ("id, d::text, ts::text, tstz::text, t::text, ds::text, tss::text", "id"),
    "odd_key": ("d::text, ts::text, tstz::text, t::text, note, md5(body)", "d, ts, tstz, t"),
    "odd_full": ("id, d::text, ts::text, tstz::text, t::text", "id, tstz"),
}
# 20 kB of text stored out of line: pgoutput sends it as unchanged in a key change.
BODY = "repeat(md5(%s::text), 640)"


def _q(value: str) -> sql.Literal:
    return sql.Literal(value)


def _odd_row(conn: Any, i: int, shift: int) -> None:
    n = len(DAYS)
    conn.execute(
        sql.SQL(
            "INSERT INTO odd VALUES ({}, {}::date, {}::timestamp, {}::timestamptz, {}::time,"
            " ARRAY[{}, {}, NULL]::date[], ARRAY[{}, {}]::timestamptz[])"
        ).format(
            i,
            _q(DAYS[(i + shift) % n]),
            _q(STAMPS[(i + shift) % n]),
            _q(ZONED[(i + shift) % n]),
            _q(TIMES[(i + shift) % len(TIMES)]),
            _q(DAYS[(i + shift + 1) % n]),
            _q(DAYS[(i + shift + 2) % n]),
            _q(ZONED[(i + shift + 3) % n]),
            _q(ZONED[(i + shift + 4) % n]),
        )
    )


def _key_row(conn: Any, key: tuple[str, str, str, str], note: str, seed: int) -> None:
    conn.execute(
        "INSERT INTO odd_key VALUES (%s, %s, %s, %s, %s, " + BODY + ")", (*key, note, seed)
    )


def _full_row(conn: Any, i: int, shift: int) -> None:
    n = len(DAYS)
    conn.execute(
        "INSERT INTO odd_full VALUES (%s, %s, %s, %s, %s)",
        (
            i,
            DAYS[(i + shift) % n],
            STAMPS[(i + shift) % n],
            ZONED[(i + shift) % n],
            TIMES[(i + shift) % len(TIMES)],
        ),
    )


def _initial(conn: Any) -> None:
    for i in range(len(DAYS)):
        _odd_row(conn, i, 0)
        key = (DAYS[i], STAMPS[i], ZONED[i], TIMES[i % len(TIMES)])
        _key_row(conn, key, f"n{i}", i)
        _full_row(conn, i, 0)
    conn.execute("INSERT INTO odd (id) VALUES (100)")  # all NULL
    conn.execute("INSERT INTO odd_full (id, tstz) VALUES (100, '0044-03-15 12:00:00+00 BC')")


def _workload(conn: Any, round_: int) -> None:
    """Inserts, updates (of key columns too) and deletes that set and meet the odd values."""
    base = 1000 * round_
    for i in range(len(DAYS)):
        _odd_row(conn, base + i, round_)
        _full_row(conn, base + i, round_ + 3)
    conn.execute(
        "UPDATE odd SET d = '0044-03-15 BC', ts = '4714-11-24 00:00:00 BC', t = '24:00:00',"
        " tstz = '10000-01-01 00:00:00+00' WHERE id %% 3 = %s",
        (round_ % 3,),
    )
    conn.execute(
        "UPDATE odd SET ts = '294246-12-31 23:59:59.999999', d = 'infinity',"
        " ds = '{-infinity,0001-12-31 BC}' WHERE id = %s",
        (base + 1,),
    )
    conn.execute("DELETE FROM odd WHERE id IN (%s, %s)", (round_ + 2, base + 4))
    # Key changes that leave the TOASTed body alone (it is carried from the old target row),
    # updates by key and deletes by key, each key made of the odd values. Rows are picked by the
    # prefix of their note.
    conn.execute(
        "UPDATE odd_key SET ts = ts - interval '1 day', t = '24:00:00' WHERE note LIKE %s",
        (f"n{round_ + 3}%",),
    )
    conn.execute(
        "UPDATE odd_key SET d = '0100-02-28 BC', tstz = '4000-01-01 00:00:00+00 BC'"
        " WHERE note LIKE %s",
        (f"n{round_ + 5}%",),
    )
    conn.execute(
        "UPDATE odd_key SET note = note || %s"
        " WHERE d IN ('0044-03-15 BC', '10000-01-01', '-infinity', '0100-02-28 BC')",
        (f" r{round_}",),
    )
    conn.execute("DELETE FROM odd_key WHERE note LIKE %s", (f"n{round_ + 7}%",))
    key = (DAYS[round_ + 3], f"{round_:04d}-06-30 00:00:00 BC", ZONED[6], "24:00:00")
    _key_row(conn, key, f"new {round_}", base)
    with conn.transaction():  # a chain of key changes inside one transaction
        picked = (f"n{round_}%",)
        conn.execute("UPDATE odd_key SET ts = '0500-01-01 BC' WHERE note LIKE %s", picked)
        conn.execute("UPDATE odd_key SET t = '24:00:00' WHERE note LIKE %s", picked)
        conn.execute("UPDATE odd_key SET d = '-infinity' WHERE note LIKE %s", picked)
    # REPLICA IDENTITY FULL: the old row, odd values and all, identifies the row.
    conn.execute(
        "UPDATE odd_full SET t = '24:00:00', d = '0001-12-31 BC' WHERE id %% 4 = %s",
        (round_ % 4,),
    )
    conn.execute(
        "UPDATE odd_full SET tstz = '0044-03-15 12:00:00+00 BC' WHERE id = %s", (round_ + 1,)
    )
    conn.execute("DELETE FROM odd_full WHERE id IN (%s, %s)", (round_ + 5, base + 6))


def _rows(conn: Any, table: str) -> list[tuple]:
    columns, order = COMPARED[table]
    query = f"SELECT {columns} FROM public.{table} ORDER BY {order}"
    return [tuple(r) for r in conn.execute(query).fetchall()]


def test_odd_times_reach_a_postgres_target_exactly(postgres: Any) -> None:
    conn = fresh_db(postgres, "odd_times_src")
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute(DDL)
    conn.execute("CREATE PUBLICATION oddp FOR TABLE odd, odd_key, odd_full")
    _initial(conn)
    target = fresh_db(postgres, "odd_times_tgt")
    target.execute("SET TIME ZONE 'UTC'")
    source_url = postgres.dsn_for(postgres.user, None, "odd_times_src")
    target_url = postgres.dsn_for(postgres.user, None, "odd_times_tgt")
    run = ["run", "--source", source_url, "--slot", "odd_times", "--publication", "oddp"]
    run += ["--to", target_url, "--create-tables"]

    proc = cli_popen(*run, "--snapshot", "initial", "--idle-exit", "3", env=dict(os.environ))
    err = _while_streaming(proc, conn, "odd_times", lambda: _workload(conn, 1))
    assert proc.returncode == 0, err
    for table in COMPARED:
        assert _rows(target, table) == _rows(conn, table), table

    _workload(conn, 2)  # streamed by a second run, which resumes from the target's position
    again = cli(*run, "--idle-exit", "2", env=dict(os.environ))
    assert again.returncode == 0, again.stderr
    for table in COMPARED:
        want = _rows(conn, table)
        assert _rows(target, table) == want, table
    got = _rows(target, "odd")
    assert any(r[4] == "24:00:00" for r in got)
    assert any(r[2] == "4714-11-24 00:00:00 BC" for r in got)
    assert any(r[1] == "5874897-12-31" for r in got)
    assert any(r[3] == "10000-01-01 00:00:00+00" for r in got)
    keyed = _rows(target, "odd_key")
    assert any(r[0] == "0100-02-28 BC" and r[2] == "4000-01-01 00:00:00+00 BC" for r in keyed)
    conn.close()
    target.close()
    with postgres.connect(dbname="odd_times_src") as admin:
        admin.execute("SELECT pg_drop_replication_slot('odd_times')")


#: The Arrow values of the decoders, as PostgreSQL itself counts them: days and microseconds
#: since 1970 (±infinity as the sentinels of docs/design.md) and microseconds into the day.
AS_INTEGERS = """
SELECT i, d::text, ts::text, tstz::text, t::text,
  CASE WHEN isfinite(d) THEN d - date '1970-01-01'
       WHEN d > 'epoch' THEN 2147483647 ELSE -2147483648 END,
  CASE WHEN isfinite(ts) THEN (extract(epoch FROM ts) * 1000000)::int8
       WHEN ts > 'epoch' THEN 9223372036854775807 ELSE -9223372036854775808 END,
  CASE WHEN isfinite(tstz) THEN (extract(epoch FROM tstz) * 1000000)::int8
       WHEN tstz > 'epoch' THEN 9223372036854775807 ELSE -9223372036854775808 END,
  (extract(epoch FROM t) * 1000000)::int8
FROM unnest(%s::int[], %s::date[], %s::timestamp[], %s::timestamptz[], %s::time[])
  AS v(i, d, ts, tstz, t)
ORDER BY i
"""
SINK_COLUMNS = [
    ("id", pa.int32()),
    ("d", pa.date32()),
    ("ts", pa.timestamp("us")),
    ("tstz", pa.timestamp("us", tz="UTC")),
    ("t", pa.time64("us")),
    ("ds", pa.list_(pa.date32())),
]
#: A struct column has no COPY CSV form: the staging COPY goes row by row (psycopg).
STRUCT = ("s", pa.struct([("a", pa.int64())]))


@pytest.mark.parametrize("copy_path", ["csv", "rows"])
def test_odd_times_written_by_the_sink_in_both_copy_paths(postgres: Any, copy_path: str) -> None:
    conn = fresh_db(postgres, f"odd_sink_{copy_path}")
    conn.execute("SET TIME ZONE 'UTC'")
    n = len(DAYS)
    rows = conn.execute(
        AS_INTEGERS,
        (
            list(range(2 * n)),
            DAYS + DAYS[::-1],
            STAMPS + STAMPS[::-1],
            ZONED + ZONED[::-1],
            [TIMES[i % len(TIMES)] for i in range(2 * n)],
        ),
    ).fetchall()
    text = {r[0]: r[1:5] for r in rows}
    ints = {r[0]: r[5:] for r in rows}
    columns = SINK_COLUMNS + ([STRUCT] if copy_path == "rows" else [])
    keyed = [("ts", pa.timestamp("us")), ("t", pa.time64("us")), ("d", pa.date32())]
    keyed += [("note", pa.string())] + ([STRUCT] if copy_path == "rows" else [])

    def row(op: str, pos: int, i: int, key: int | None = None) -> dict[str, Any]:
        d, ts, tstz, t = ints[i]
        ds = [ints[(i + 1) % n][0], None, ints[(i + 2) % n][0]]
        values = {"id": i if key is None else key, "d": d, "ts": ts, "tstz": tstz, "t": t}
        return {"_op": op, "_pos": pos, **values, "ds": ds, "s": {"a": i}}

    def keyed_row(op: str, pos: int, i: int, before: int | None = None) -> dict[str, Any]:
        d, ts, _, t = ints[i]
        out = {"_op": op, "_pos": pos, "ts": ts, "t": t, "d": d, "note": f"n{i}", "s": {"a": i}}
        if before is not None:
            out["_before"] = {"ts": ints[before][1], "t": ints[before][3], "d": ints[before][0]}
        return out

    target_url = postgres.dsn_for(postgres.user, None, f"odd_sink_{copy_path}")
    sink = PostgresTargetSink(target_url, create_tables=True)
    sink.open()
    sink.write("odd.v", 1, make_batch(columns, [row("c", 10, i) for i in range(n)], table="odd.v"))
    first = [keyed_row("c", 10, i) for i in range(n)]
    sink.write("odd.k", 1, make_batch(keyed, first, table="odd.k", primary_key=("ts", "t", "d")))
    sink.commit({"lsn": 10})
    # Updates to other odd values, deletes, key changes onto and off odd keys.
    changes = [row("u", 20, n + i, key=i) for i in range(0, n, 2)]
    changes += [{"_op": "d", "_pos": 20, "id": 3}, row("c", 20, n + 1, key=n + 1)]
    sink.write("odd.v", 1, make_batch(columns, changes, table="odd.v"))
    moved = [keyed_row("u", 20, n + i, before=i) for i in (1, 4, 6)]
    moved += [{"_op": "d", "_pos": 20, "ts": ints[7][1], "t": ints[7][3], "d": ints[7][0]}]
    moved += [keyed_row("u", 20, 2)]
    sink.write("odd.k", 1, make_batch(keyed, moved, table="odd.k", primary_key=("ts", "t", "d")))
    sink.commit({"lsn": 20})
    sink.close()

    def days_text(i: int) -> str:
        return (
            "{"
            + f"{_array_text(text[(i + 1) % n][0])},NULL,{_array_text(text[(i + 2) % n][0])}"
            + "}"
        )

    want = {i: (i, *text[i], days_text(i)) for i in range(n)}
    for i in range(0, n, 2):
        want[i] = (i, *text[n + i], days_text(n + i))
    del want[3]
    want[n + 1] = (n + 1, *text[n + 1], days_text(n + 1))
    got = conn.execute(
        "SELECT id, d::text, ts::text, tstz::text, t::text, ds::text FROM odd.v ORDER BY id"
    ).fetchall()
    assert [tuple(r) for r in got] == [want[i] for i in sorted(want)]
    keys = {i: (text[i][1], text[i][3], text[i][0], f"n{i}") for i in range(n)}
    for i in (1, 4, 6):
        del keys[i]
        keys[n + i] = (text[n + i][1], text[n + i][3], text[n + i][0], f"n{n + i}")
    del keys[7]
    got_keys = conn.execute("SELECT ts::text, t::text, d::text, note FROM odd.k").fetchall()
    assert sorted(tuple(r) for r in got_keys) == sorted(keys.values())
    conn.close()


def _array_text(value: str) -> str:
    """An element of a date[]'s text: quoted when it has a space (``0044-03-15 BC``)."""
    return f'"{value}"' if " " in value else value


def _mariadb_run(postgres: Any, mariadb: Any, name: str, ddl: str, rows: str) -> Any:
    """A source database ``name`` with table ``name`` and its rows, and the ``arrowtail run``
    arguments (slot ``name``) into the session MariaDB."""
    conn = fresh_db(postgres, name)
    conn.execute(ddl)
    conn.execute(rows)
    conn.execute(f"CREATE PUBLICATION oddmy FOR TABLE {name}")
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS public." + name)
    my.close()
    source_url = postgres.dsn_for(postgres.user, None, name)
    target_url = f"mysql://{mariadb.user}@{mariadb.host}:{mariadb.port}/{mariadb.database}"
    # A state row of its own: other tests' sinks write to the same target database.
    target_url += f"?sink_name={name}"
    env = dict(os.environ, ARROWTAIL_TARGET_PASSWORD=mariadb.password)
    run = ["run", "--source", source_url, "--slot", name, "--publication", "oddmy"]
    run += ["--to", target_url, "--create-tables", "--snapshot", "initial", "--idle-exit", "2"]
    return conn, run, env


def _while_streaming(
    proc: subprocess.Popen[str], conn: Any, slot: str, changes: Callable[[], None]
) -> str:
    """Makes ``changes`` once ``proc`` streams from ``slot``, waits for it to end and returns
    its stderr; a run still alive after a failure is killed."""
    try:
        wait_slot_active(conn, slot, proc)
        changes()
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return err


def _drop_slot(postgres: Any, db: str) -> None:
    with postgres.connect(dbname=db) as admin:
        admin.execute("SELECT pg_drop_replication_slot(%s)", (db,))


def test_midnight_24_and_the_years_1_to_9999_reach_mariadb(postgres: Any, mariadb: Any) -> None:
    name = "odd_my_t"
    ddl = f"CREATE TABLE {name} (id int PRIMARY KEY, t time, ts time[], d date, st timestamp)"
    rows = (
        f"INSERT INTO {name} VALUES"
        " (1, '24:00:00', '{24:00:00,00:00:01.5}', '0001-01-01', '0001-01-01 00:00:00'),"
        " (2, '00:00:00', NULL, '9999-12-31', '9999-12-31 23:59:59.999999'),"
        " (3, '23:59:59.999999', '{}', '0044-03-15', '0099-12-31 23:59:59'),"
        " (4, NULL, '{NULL}', NULL, NULL)"
    )
    conn, run, env = _mariadb_run(postgres, mariadb, name, ddl, rows)

    def changes() -> None:
        conn.execute(f"INSERT INTO {name} VALUES (5, '24:00:00', '{{24:00:00}}', NULL, NULL)")
        conn.execute(f"UPDATE {name} SET t = '24:00:00' WHERE id = 2")
        conn.execute(f"UPDATE {name} SET t = '12:00:00' WHERE id = 1")
        conn.execute(f"UPDATE {name} SET id = 6 WHERE id = 5")

    proc = cli_popen(*run, env=env)
    err = _while_streaming(proc, conn, name, changes)
    assert proc.returncode == 0, err
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(
            "SELECT id, CAST(t AS CHAR), ts, CAST(d AS CHAR), CAST(st AS CHAR)"
            f" FROM public.{name} ORDER BY id"
        )
        got = [tuple(r) for r in cur.fetchall()]
    my.close()
    assert got == [
        (
            1,
            "12:00:00.000000",
            '["24:00:00", "00:00:01.500000"]',
            "0001-01-01",
            "0001-01-01 00:00:00.000000",
        ),
        (2, "24:00:00.000000", None, "9999-12-31", "9999-12-31 23:59:59.999999"),
        (3, "23:59:59.999999", "[]", "0044-03-15", "0099-12-31 23:59:59.000000"),
        (4, None, "[null]", None, None),
        (6, "24:00:00.000000", '["24:00:00"]', None, None),
    ]
    conn.close()
    _drop_slot(postgres, name)


@pytest.mark.parametrize(
    ("name", "ddl", "value"),
    [
        ("odd_my_d", "d date", "'0044-03-15 BC'"),
        ("odd_my_ts", "ts timestamp", "'10000-01-01 00:00:00'"),
        ("odd_my_tz", "tz timestamptz", "'0001-01-01 01:00:00+02'"),
        ("odd_my_ds", "ds date[]", "'{2026-01-01,0001-12-31 BC}'"),
    ],
)
def test_date_mariadb_cannot_hold_is_one_clear_error(
    postgres: Any, mariadb: Any, name: str, ddl: str, value: str
) -> None:
    column = ddl.split()[0]
    conn, run, env = _mariadb_run(
        postgres,
        mariadb,
        name,
        f"CREATE TABLE {name} (id int PRIMARY KEY, {ddl})",
        f"INSERT INTO {name} VALUES (1, NULL), (2, {value})",
    )
    done = cli(*run, env=env)
    assert done.returncode == 3, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("arrowtail: error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"public.{name}" in errors[0] and f"column {column}" in errors[0], errors[0]
    assert "MySQL/MariaDB" in errors[0], errors[0]
    conn.close()
    _drop_slot(postgres, name)
