"""Arrow types of change batches in tables the database sinks create (``create_tables=True``), and
schema evolution: a new schema version with an added column adds it to the target table."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pyarrow as pa
import pytest

from arrowtail.exceptions import SinkError
from arrowtail.sinks.database.url import MySqlTargetSink, PostgresTargetSink
from tests.support.batches import make_batch

UID = uuid.UUID("12345678-1234-5678-1234-567812345678")
TS = dt.datetime(2026, 5, 17, 8, 30, 1, 250000)
COLUMNS = [
    ("id", pa.int32()),
    ("flag", pa.bool_()),
    ("small", pa.int8()),
    ("big", pa.uint64()),
    ("f4", pa.float32()),
    ("f8", pa.float64()),
    ("dec", pa.decimal128(12, 3)),
    ("txt", pa.string()),
    ("bin", pa.binary()),
    ("day", pa.date32()),
    ("ts", pa.timestamp("us")),
    ("tstz", pa.timestamp("us", tz="UTC")),
    ("tod", pa.time64("us")),
    ("dur", pa.duration("us")),
    ("uid", pa.uuid()),
    ("tags", pa.list_(pa.string())),
]
ROW = {
    "id": 1,
    "flag": True,
    "small": -7,
    "big": 2**64 - 1,
    "f4": 1.5,
    "f8": -2.25,
    "dec": Decimal("123456789.125"),
    "txt": "zß€😀",
    "bin": b"\x00\xff\x10",
    "day": dt.date(2026, 2, 28),
    "ts": TS,
    "tstz": TS.replace(tzinfo=dt.timezone.utc),
    "tod": dt.time(23, 59, 58, 999999),
    "dur": dt.timedelta(hours=30, microseconds=5),
    "uid": UID.bytes,
    "tags": ["a", "b"],
}


def _batch(table: str, source: str, version: int = 1, columns=COLUMNS, rows=None):
    rows = rows or [{"_op": "c", "_pos": 10, "_seq": 0, **ROW}]
    return make_batch(columns, rows, table=table, source=source, schema_version=version)


@pytest.mark.parametrize("copy_path", ["csv", "rows"])
def test_postgres_created_table_holds_every_type(postgres, copy_path):
    # Without the list column the staging COPY takes the column-wise CSV path.
    columns = COLUMNS if copy_path == "rows" else COLUMNS[:-1]
    row = {"_op": "c", "_pos": 10, "_seq": 0, **{n: ROW[n] for n, _ in columns}}
    with postgres.connect() as conn:
        conn.execute("DROP SCHEMA IF EXISTS typ CASCADE")
    sink = PostgresTargetSink(postgres.dsn, create_tables=True, sink_name=f"types-{copy_path}")
    sink.open()
    sink.write("typ.t", 1, _batch("typ.t", "postgres", 1, columns, [row]))
    sink.commit({"lsn": 10})
    sink.close()
    with postgres.connect() as conn:
        got = conn.execute("SELECT * FROM typ.t").fetchone()
        names = [d.name for d in conn.execute("SELECT * FROM typ.t").description]
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'typ' AND table_name = 't'"
            ).fetchall()
        )
    row = dict(zip(names, got, strict=True))
    assert types["big"] == "numeric" and types["uid"] == "uuid" and types["dur"] == "interval"
    assert types["tstz"] == "timestamp with time zone"
    assert types.get("tags", "ARRAY") == "ARRAY"
    expected = {**ROW, "uid": UID, "big": Decimal(2**64 - 1), "tstz": ROW["tstz"]}
    assert row == {n: expected[n] for n, _ in columns}


@pytest.mark.parametrize("path", ["literals", "escaped"])
def test_mariadb_created_table_holds_every_type(mariadb, path):
    # Without the list column the value lists are rendered column-wise by Arrow.
    columns = COLUMNS if path == "escaped" else COLUMNS[:-1]
    rows = [
        {"_op": "c", "_pos": 10, "_seq": 0, **{n: ROW[n] for n, _ in columns}},
        {"_op": "c", "_pos": 10, "_seq": 1, "id": 2, "dur": -dt.timedelta(hours=838, seconds=1)},
    ]
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS typ")
    sink = MySqlTargetSink(
        mariadb.host,
        mariadb.port,
        mariadb.user,
        mariadb.password,
        mariadb.database,
        create_tables=True,
        sink_name=f"types-{path}",
    )
    sink.open()
    sink.write("typ.t", 1, _batch("typ.t", "mysql", 1, columns, rows))
    sink.commit({"pos": 10, "file": "mariadb-bin.000001"})
    sink.close()
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM typ.t ORDER BY id")
        names = [d[0] for d in cur.description]
        row, other = (dict(zip(names, r, strict=True)) for r in cur.fetchall())
    conn.close()
    expected = {
        **ROW,
        "flag": 1,
        "tstz": TS,  # stored as UTC in DATETIME(6)
        "tod": dt.timedelta(hours=23, minutes=59, seconds=58, microseconds=999999),
        "uid": UID.bytes,
        "tags": '["a", "b"]',  # a list not marked as a SET: a JSON array
    }
    assert row == {n: expected[n] for n, _ in columns}
    assert other["dur"] == -dt.timedelta(hours=838, seconds=1)
    assert other["txt"] is None and other["bin"] is None


@pytest.mark.parametrize("server", ["postgres", "mariadb"])
def test_new_schema_version_adds_the_column(request, server):
    srv = request.getfixturevalue(server)
    v1 = [("id", pa.int64()), ("a", pa.string())]
    v2 = [*v1, ("b", pa.int32())]
    if server == "postgres":
        with srv.connect() as conn:
            conn.execute("DROP SCHEMA IF EXISTS evo CASCADE")
        sink = PostgresTargetSink(srv.dsn, create_tables=True, sink_name="evo")
        source, pos = "postgres", "lsn"
    else:
        conn = srv.connect()
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS evo")
        conn.close()
        sink = MySqlTargetSink(
            srv.host,
            srv.port,
            srv.user,
            srv.password,
            srv.database,
            create_tables=True,
            sink_name="evo",
        )
        source, pos = "mysql", "pos"
    first = [{"_op": "c", "_pos": 5, "_seq": 0, "id": 1, "a": "x"}]
    second = [{"_op": "u", "_pos": 6, "_seq": 0, "id": 1, "a": "y", "b": 3}]
    sink.open()
    sink.write("evo.t", 1, _batch("evo.t", source, 1, v1, first))
    sink.commit({pos: 5})
    sink.write("evo.t", 2, _batch("evo.t", source, 2, v2, second))
    sink.commit({pos: 6})
    sink.close()
    if server == "postgres":
        with srv.connect() as conn:
            assert conn.execute("SELECT id, a, b FROM evo.t").fetchall() == [(1, "y", 3)]
    else:
        conn = srv.connect()
        with conn.cursor() as cur:
            cur.execute("SELECT id, a, b FROM evo.t")
            assert cur.fetchall() == ((1, "y", 3),)
        conn.close()


def test_mariadb_time_out_of_range_names_the_column(mariadb):
    sink = MySqlTargetSink(
        mariadb.host,
        mariadb.port,
        mariadb.user,
        mariadb.password,
        mariadb.database,
        create_tables=True,
        sink_name="range",
    )
    sink.open()
    row = {"_op": "c", "_pos": 1, "_seq": 0, "id": 1, "dur": dt.timedelta(hours=900)}
    batch = _batch("typ.d", "mysql", 1, [("id", pa.int32()), ("dur", pa.duration("us"))], [row])
    with pytest.raises(SinkError, match="column dur"):
        sink.write("typ.d", 1, batch)
    sink.close()
