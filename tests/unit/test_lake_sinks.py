"""The Iceberg and Delta Lake sinks against the libraries themselves (pyiceberg with a SQLite
catalog, delta-rs) and read back by DuckDB: random change streams end as the row-by-row
reference, restarts apply nothing twice, schemas evolve or stop the run with a clear error."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from arrowtail.exceptions import SchemaChangeError, SinkError
from arrowtail.sinks import open_sink
from arrowtail.sinks.lake import delta as delta_lake
from arrowtail.sinks.lake import iceberg as iceberg_lake
from tests.support.batches import make_batch
from tests.support.changegen import NAMES, random_stream, reference, stream_batches
from tests.support.lake import load_duckdb_extensions

FORMATS = ["iceberg", "delta"]


def _read(fmt: str, root: Path, table: str) -> pa.Table | None:
    module = iceberg_lake if fmt == "iceberg" else delta_lake
    return module.read_mirror(str(root), table)


def _rows(table: pa.Table | None, names=NAMES) -> dict:
    if table is None:
        return {}
    cols = [table.column(n).to_pylist() for n in names]
    return {r[0]: tuple(r) for r in zip(*cols, strict=True)}


def _run(fmt: str, root: Path, batches, positions, **opts) -> object:
    query = "&".join(f"{k}={v}" for k, v in {"commit_interval": 0, **opts}.items())
    sink = open_sink(f"{fmt}:{root}?{query}")
    sink.open()
    for batch, pos in zip(batches, positions, strict=True):
        sink.write("public.t", 1, batch)
        sink.commit({"pos": pos})
    sink.close()
    return sink


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("seed", range(4))
def test_random_streams_mirror_the_reference(fmt, seed, tmp_path):
    txns = random_stream(seed, changes=60)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(txns)), k=min(len(txns) - 1, 4)))
    batches = stream_batches(txns, cuts)
    positions = [int(b.column("_pos")[-1].as_py()) for b in batches]
    sink = _run(fmt, tmp_path, batches, positions)
    assert sink.durable_position() == {"pos": positions[-1]}
    assert _rows(_read(fmt, tmp_path, "public.t")) == reference(txns)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_restart_after_a_table_commit_applies_nothing_twice(fmt, tmp_path):
    """The table holds a flush the state does not (a crash between them): the replayed changes
    at or below the table's high-water mark are skipped."""
    txns = random_stream(7, changes=40)
    batches = stream_batches(txns, [len(txns) // 2])
    positions = [int(b.column("_pos")[-1].as_py()) for b in batches]
    _run(fmt, tmp_path, batches[:1], positions[:1])
    sink = open_sink(f"{fmt}:{tmp_path}?commit_interval=0")
    assert sink.open() == {"pos": positions[0]}
    sink.write("public.t", 1, batches[1])
    # The table commit happens, the state write fails: a crash between the two.
    sink._write_state = _fail  # type: ignore[method-assign]
    with pytest.raises(SinkError):
        sink.commit({"pos": positions[1]})
    # The source resumes at the stored state and sends both halves again.
    sink = _run(fmt, tmp_path, batches, positions)
    assert _rows(_read(fmt, tmp_path, "public.t")) == reference(txns)
    if fmt == "delta":
        import deltalake

        history = deltalake.DeltaTable(str(tmp_path / "public.t")).history()
        flushes = [h["arrowtail.high_water"] for h in history if "arrowtail.high_water" in h]
        assert len(flushes) == 2  # the replayed flush was not merged again
    else:
        table = iceberg_lake.load_catalog(str(tmp_path)).load_table(("public", "t"))
        flushes = {s.summary.get("arrowtail.high_water") for s in table.snapshots()}
        assert len(flushes - {None}) == 2


def _fail(_text: str) -> None:
    raise OSError("disk full")


TYPED = [
    pa.field("id", pa.int64()),
    pa.field("u64", pa.uint64()),
    pa.field("small", pa.int8()),
    pa.field("dur", pa.duration("us")),
    pa.field("tm", pa.time64("us")),
    pa.field("ts", pa.timestamp("us")),
    pa.field("tstz", pa.timestamp("us", tz="UTC")),
    pa.field("d", pa.date32()),
    pa.field("dec", pa.decimal128(12, 3)),
    pa.field("iv", pa.month_day_nano_interval()),
    pa.field("tags", pa.list_(pa.string())),
    pa.field("u", pa.binary(16)),
    pa.field("blob", pa.binary()),
    pa.field("txt", pa.string()),
    pa.field("uid", pa.uuid()),
    pa.field("doc", pa.json_()),
]


def _typed_rows():
    ts = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)
    return [
        {
            "id": 1,
            "u64": 2**64 - 1,
            "small": -128,
            "dur": dt.timedelta(hours=-838, microseconds=1),
            "tm": dt.time(23, 59, 59, 999999),
            "ts": ts,
            "tstz": ts.replace(tzinfo=dt.timezone.utc),
            "d": dt.date(1, 1, 1),
            "dec": Decimal("-123456789.123"),
            "iv": pa.scalar((1, 2, 3_000), pa.month_day_nano_interval()).as_py(),
            "tags": ["a", None, "c"],
            "u": uuid.UUID(int=5).bytes,
            "blob": b"\x00\xff",
            "txt": "é",
            "uid": uuid.UUID(int=7).bytes,
            "doc": '{"a": [1, 2]}',
            "_op": "c",
            "_pos": 10,
        },
        {n.name: None for n in TYPED[1:]} | {"id": 2, "_op": "c", "_pos": 10, "_seq": 1},
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_type_reads_back_as_written(fmt, tmp_path):
    rows = _typed_rows()
    batch = make_batch(TYPED, rows)
    _run(fmt, tmp_path, [batch], [10])
    got = _read(fmt, tmp_path, "public.t").sort_by("id")
    want = pa.Table.from_batches([batch]).select([f.name for f in TYPED]).to_pylist()
    have = got.to_pylist()
    for w, h in zip(want, have, strict=True):
        for name in w:
            assert h[name] == w[name], (name, h[name], w[name])


@pytest.mark.parametrize("fmt", FORMATS)
def test_duckdb_reads_the_mirror(fmt, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    txns = random_stream(3, changes=50)
    batches = stream_batches(txns, [10, 20])
    positions = [int(b.column("_pos")[-1].as_py()) for b in batches]
    _run(fmt, tmp_path, batches, positions)
    con = duckdb.connect()
    load_duckdb_extensions(con)
    if fmt == "delta":
        sql = f"SELECT id, a, b FROM delta_scan('{tmp_path / 'public.t'}') ORDER BY id"
    else:
        table = iceberg_lake.load_catalog(str(tmp_path)).load_table(("public", "t"))
        sql = f"SELECT id, a, b FROM iceberg_scan('{table.metadata_location}') ORDER BY id"
    got = {r[0]: tuple(r) for r in con.execute(sql).fetchall()}
    assert got == reference(txns)


@pytest.mark.parametrize("fmt", FORMATS)
def test_changelog_keeps_every_change(fmt, tmp_path):
    txns = random_stream(11, changes=30)
    batches = stream_batches(txns, [5])
    positions = [int(b.column("_pos")[-1].as_py()) for b in batches]
    _run(fmt, tmp_path, batches, positions, mode="changelog")
    if fmt == "delta":
        import deltalake

        got = pa.table(deltalake.DeltaTable(str(tmp_path / "public.t")).to_pyarrow_table())
    else:
        cat = iceberg_lake.load_catalog(str(tmp_path))
        got = cat.load_table(("public", "t")).scan().to_arrow()
    assert got.num_rows == sum(b.num_rows for b in batches)
    assert set(got.column_names) >= {"_op", "_pos", "_seq", "_commit_ts", *NAMES}
    ops = sorted(got.column("_op").to_pylist())
    assert ops == sorted(o for b in batches for o in b.column("_op").to_pylist())


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_added_column_evolves_the_table_and_a_type_change_stops(fmt, tmp_path):
    cols = [pa.field("id", pa.int64()), pa.field("a", pa.int32())]
    first = make_batch(cols, [{"id": 1, "a": 1, "_op": "c", "_pos": 10}])
    wider = cols + [pa.field("extra", pa.string())]
    second = make_batch(wider, [{"id": 2, "a": 2, "extra": "x", "_op": "c", "_pos": 20}])
    _run(fmt, tmp_path, [first, second], [10, 20])
    got = _read(fmt, tmp_path, "public.t").sort_by("id").to_pylist()
    assert got == [{"id": 1, "a": 1, "extra": None}, {"id": 2, "a": 2, "extra": "x"}]
    changed = [pa.field("id", pa.int64()), pa.field("a", pa.string())]
    third = make_batch(changed, [{"id": 3, "a": "three", "_op": "c", "_pos": 30}])
    with pytest.raises(SchemaChangeError, match=r"public\.t column a: type changed"):
        _run(fmt, tmp_path, [third], [30])
    assert _read(fmt, tmp_path, "public.t").num_rows == 2  # nothing of the new shape


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_table_of_the_same_name_made_by_someone_else_is_left_alone(fmt, tmp_path):
    """A lake table at the place a source table would go, created by another writer: the sink
    refuses it by name before writing anything (it used to fail on a missing key, a KeyError's
    bare text), and the table keeps its rows."""
    theirs = pa.table({"id": pa.array([100], pa.int64()), "note": ["their row"]})
    if fmt == "delta":
        from deltalake import write_deltalake

        write_deltalake(str(tmp_path / "public.t"), theirs)
    else:
        catalog = iceberg_lake.load_catalog(str(tmp_path))
        catalog.create_namespace_if_not_exists("public")
        catalog.create_table(("public", "t"), schema=theirs.schema).append(theirs)
    batch = make_batch([pa.field("id", pa.int64())], [{"id": 1, "_op": "c", "_pos": 1}])
    with pytest.raises(SinkError, match=r"public\.t exists but was not created by arrowtail"):
        _run(fmt, tmp_path, [batch], [1])
    if fmt == "delta":
        from deltalake import DeltaTable

        assert DeltaTable(str(tmp_path / "public.t")).to_pyarrow_table().to_pylist() == [
            {"id": 100, "note": "their row"}
        ]
    else:
        table = iceberg_lake.load_catalog(str(tmp_path)).load_table(("public", "t"))
        assert table.scan().to_arrow().to_pylist() == [{"id": 100, "note": "their row"}]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_table_without_primary_key_cannot_be_mirrored(fmt, tmp_path):
    batch = make_batch(
        [pa.field("x", pa.int64())], [{"x": 1, "_op": "c", "_pos": 1}], primary_key=()
    )
    sink = open_sink(f"{fmt}:{tmp_path}")
    sink.open()
    with pytest.raises(SinkError, match=r"public\.t has no primary key.*mode=changelog"):
        sink.write("public.t", 1, batch)


@pytest.mark.parametrize("fmt", FORMATS)
def test_maintain_compacts_and_expires_without_changing_the_tables(fmt, tmp_path):
    from arrowtail.sinks.lake.maintain import maintain

    txns = random_stream(5, changes=60)
    n = len(txns)
    batches = stream_batches(txns, [n // 4, n // 2, 3 * n // 4])
    positions = [int(b.column("_pos")[-1].as_py()) for b in batches]
    mirror, log = tmp_path / "mirror", tmp_path / "log"
    _run(fmt, mirror, batches, positions)
    _run(fmt, log, batches, positions, mode="changelog")
    before = _rows(_read(fmt, mirror, "public.t"))

    # A change log of four appends: four files become one, every change kept.
    compacted = {m.table: m for m in maintain(f"{fmt}:{log}", retain_hours=0)}["public.t"]
    assert compacted.files_before == 4 and compacted.files_after == 1, compacted
    assert _changelog_rows(fmt, log) == sum(b.num_rows for b in batches)

    # A mirror: its old snapshots go, its rows and position stay.
    expired = {m.table: m for m in maintain(f"{fmt}:{mirror}", retain_hours=0)}["public.t"]
    assert expired.expired > 0, expired
    assert _rows(_read(fmt, mirror, "public.t")) == before == reference(txns)
    sink = open_sink(f"{fmt}:{mirror}?commit_interval=0")
    assert sink.open() == {"pos": positions[-1]}
    sink.close()


def _changelog_rows(fmt: str, root: Path) -> int:
    if fmt == "delta":
        import deltalake

        return deltalake.DeltaTable(str(root / "public.t")).to_pyarrow_table().num_rows
    table = iceberg_lake.load_catalog(str(root)).load_table(("public", "t"))
    return table.scan().to_arrow().num_rows


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_slash_in_a_table_name_keeps_each_table_apart_through_maintain(fmt, tmp_path):
    # A Delta table named "public.a/b" lived inside the folder of "public.a", whose vacuum then
    # deleted the inner table's files as unreferenced.
    from arrowtail.sinks.lake.maintain import maintain

    txns = {name: random_stream(seed, changes=40) for seed, name in enumerate(["a", "a/b"])}
    sink = open_sink(f"{fmt}:{tmp_path}?commit_interval=0")
    sink.open()
    pos = 0
    for name, stream in txns.items():
        for batch in stream_batches(stream, [len(stream) // 2]):
            pos = max(pos, int(batch.column("_pos")[-1].as_py()) + 1)
            sink.write(f"public.{name}", 1, batch)
            sink.commit({"pos": pos})
    sink.close()
    for _ in range(2):  # the second pass sees only what the first left
        maintain(f"{fmt}:{tmp_path}", retain_hours=0)
    for name, stream in txns.items():
        assert _rows(_read(fmt, tmp_path, f"public.{name}")) == reference(stream), name
    if fmt == "delta":
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "_arrowtail_state",
            "public.a",
            "public.a~2Fb",
        ]
        assert sorted(delta_lake.mirror_tables(str(tmp_path))) == ["public.a", "public.a/b"]
        for name in ["s.t", "s.a/b\\c", "s.%2F~7E", "~.~~"]:
            assert delta_lake.table_of_folder(delta_lake.folder_name(name)) == name
