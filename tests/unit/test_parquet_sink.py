"""Parquet sink: atomic files, manifest and checkpoint, crash recovery, readability with pyarrow
and DuckDB, type conversions, rolling."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from arrowtail.exceptions import SinkError
from arrowtail.sinks.parquet import ParquetSink
from tests.support.batches import SIMPLE_COLUMNS, change_batch, simple_rows


def manifest(root: Path) -> dict:
    return json.loads((root / "_arrowtail" / "manifest.json").read_text())


def parquet_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))


def ids_duckdb(root: Path, table: str = "public.t") -> list[tuple]:
    return duckdb.sql(
        f"SELECT id, name, _op, _pos FROM read_parquet('{root}/{table}/*.parquet') "
        "ORDER BY _pos, _seq"
    ).fetchall()


def test_committed_rows_read_back_exactly_with_pyarrow_and_duckdb(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path)
    assert sink.open() is None
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 3, pos=10)))
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(4, 2, pos=11)))
    sink.commit({"lsn": 11})
    assert sink.durable_position() == {"lsn": 11}
    sink.close()

    table = ds.dataset(tmp_path / "public.t", format="parquet").to_table()
    assert table.sort_by("id").column("id").to_pylist() == [1, 2, 3, 4, 5]
    assert table.schema.field("_pos").type == pa.uint64()
    assert table.schema.field("_commit_ts").type == pa.timestamp("us", tz="UTC")
    assert table.schema.metadata[b"arrowtail.table"] == b"public.t"
    assert ids_duckdb(tmp_path) == [
        (1, "n1", "c", 10),
        (2, "n2", "c", 10),
        (3, "n3", "c", 10),
        (4, "n4", "c", 11),
        (5, "n5", "c", 11),
    ]
    m = manifest(tmp_path)
    assert m["checkpoint"] == {"lsn": 11}
    assert [f["path"] for f in m["files"]] == parquet_files(tmp_path)
    assert m["files"][0]["rows"] == 5 and m["files"][0]["min_pos"] == 10
    assert not list(tmp_path.rglob("*.tmp"))


def test_uncommitted_rows_are_never_stored(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 2, pos=10)))
    sink.commit({"lsn": 10})
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(3, 2, pos=20)))
    sink.close()  # no commit for lsn 20
    assert [r[0] for r in ids_duckdb(tmp_path)] == [1, 2]
    assert ParquetSink(tmp_path).open() == {"lsn": 10}


def test_crash_before_manifest_removes_files_and_returns_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = ParquetSink(tmp_path)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 2, pos=10)))
    sink.commit({"lsn": 10})
    committed = parquet_files(tmp_path)

    # The next commit dies after its files were renamed into place, before the manifest.
    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(sink, "_write_manifest", crash)
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(3, 2, pos=20)))
    sink.write("public.u", 1, change_batch(SIMPLE_COLUMNS, simple_rows(9, 1, pos=20)))
    with pytest.raises(Exception, match="simulated crash"):
        sink.commit({"lsn": 20})
    assert len(parquet_files(tmp_path)) == 3  # the orphans exist on disk
    assert sink.durable_position() == {"lsn": 10}
    # A temporary file left by a writer killed mid-file.
    (tmp_path / "public.t" / ".part-0000000099-v1.parquet.tmp").write_bytes(b"PAR1")

    restarted = ParquetSink(tmp_path)
    assert restarted.open() == {"lsn": 10}
    assert parquet_files(tmp_path) == committed
    assert not list(tmp_path.rglob("*.tmp"))
    assert [r[0] for r in ids_duckdb(tmp_path)] == [1, 2]
    # Replaying from the checkpoint neither loses nor repeats rows.
    restarted.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(3, 2, pos=20)))
    restarted.commit({"lsn": 20})
    restarted.close()
    assert [r[0] for r in ids_duckdb(tmp_path)] == [1, 2, 3, 4]


def test_deferred_commit_is_not_durable_until_flushed(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path, min_commit_interval=3600)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 2, pos=10)))
    sink.commit({"lsn": 10})
    assert sink.durable_position() is None
    assert parquet_files(tmp_path) == []
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(3, 1, pos=11)))
    sink.commit({"lsn": 11})
    sink.close()
    assert sink.durable_position() == {"lsn": 11}
    assert [r[0] for r in ids_duckdb(tmp_path)] == [1, 2, 3]
    assert len(parquet_files(tmp_path)) == 1


def test_files_roll_by_rows_and_row_groups_are_bounded(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path, max_rows=4, row_group_rows=2, encoders=1)
    sink.open()
    for i in range(5):
        sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(i * 2 + 1, 2, pos=i)))
    sink.commit({"lsn": 5})
    sink.close()
    files = parquet_files(tmp_path)
    assert len(files) == 3
    rows = [pq.ParquetFile(tmp_path / f).metadata.num_rows for f in files]
    assert rows == [4, 4, 2]
    for f in files:
        md = pq.ParquetFile(tmp_path / f).metadata
        assert all(md.row_group(i).num_rows <= 2 for i in range(md.num_row_groups))
    assert [r[0] for r in ids_duckdb(tmp_path)] == list(range(1, 11))


def test_types_parquet_cannot_store_are_written_losslessly(tmp_path: Path) -> None:
    columns = [
        pa.field("id", pa.int64()),
        pa.field("iv", pa.month_day_nano_interval()),
        pa.field("ivs", pa.list_(pa.month_day_nano_interval())),
        pa.field("u", pa.uuid()),
        pa.field("t", pa.duration("us")),
        pa.field("big", pa.uint64()),
        pa.field("dec", pa.decimal128(12, 3)),
    ]
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    mdn = pa.MonthDayNano([14, 3, 3_723_000_000_001])
    rows = [
        {
            "id": 1,
            "iv": mdn,
            "ivs": [mdn, None],
            "u": u.bytes,
            "t": -5_000_000,
            "big": 2**64 - 1,
            "dec": "12.345",
            "_op": "u",
            "_pos": 7,
            "_before": {"id": 1, "iv": pa.MonthDayNano([0, 1, 2])},
        },
        {"id": 2, "_op": "c", "_pos": 7},
    ]
    # Decimal values as strings need the decimal module.
    import decimal

    rows[0]["dec"] = decimal.Decimal("12.345")
    batch = change_batch(columns, rows)
    sink = ParquetSink(tmp_path)
    sink.open()
    sink.write("public.t", 1, batch)
    sink.commit({"lsn": 7})
    sink.close()

    table = ds.dataset(tmp_path / "public.t", format="parquet").to_table().sort_by("id")
    iv = table.column("iv").to_pylist()
    assert iv == [{"months": 14, "days": 3, "nanoseconds": 3_723_000_000_001}, None]
    assert table.schema.field("iv").metadata == {
        b"arrowtail.logical_type": b"interval_month_day_nano"
    }
    assert table.column("ivs").to_pylist()[0] == [
        {"months": 14, "days": 3, "nanoseconds": 3_723_000_000_001},
        None,
    ]
    assert table.column("_before").to_pylist()[0]["iv"] == {
        "months": 0,
        "days": 1,
        "nanoseconds": 2,
    }
    assert table.column("t").type == pa.duration("us")
    assert table.column("big").to_pylist() == [2**64 - 1, None]
    got = duckdb.sql(
        f"SELECT u, iv.months, t, big, dec FROM read_parquet('{tmp_path}/public.t/*.parquet') "
        "WHERE id = 1"
    ).fetchall()
    assert got == [(u, 14, -5_000_000, 2**64 - 1, decimal.Decimal("12.345"))]


def test_a_table_without_columns_is_written_with_a_null_before(tmp_path: Path) -> None:
    # PostgreSQL allows `CREATE TABLE t ()`; its `_before` is a struct without fields, which
    # Parquet cannot store. Such a table cannot be updated, so `_before` is always null.
    batch = change_batch([], [{"_op": "r", "_pos": 5}, {"_op": "c", "_pos": 9}])
    assert batch.schema.field("_before").type == pa.struct([])
    sink = ParquetSink(tmp_path)
    sink.open()
    sink.write("public.empty", 1, batch)
    sink.commit({"lsn": 9})
    sink.close()
    table = ds.dataset(tmp_path / "public.empty", format="parquet").to_table()
    assert table.column("_op").to_pylist() == ["r", "c"]
    assert table.column("_before").type == pa.null()
    assert table.column("_before").null_count == 2
    got = duckdb.sql(
        f"SELECT _op, _pos, _before FROM read_parquet('{tmp_path}/public.empty/*.parquet') "
        "ORDER BY _pos"
    ).fetchall()
    assert got == [("r", 5, None), ("c", 9, None)]


def test_schema_versions_get_their_own_files_and_union_by_name(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 1, pos=1)))
    wider = [*SIMPLE_COLUMNS, pa.field("extra", pa.int32())]
    rows = [{"id": 2, "name": "n2", "extra": 42, "_op": "c", "_pos": 2}]
    sink.write("public.t", 2, change_batch(wider, rows, schema_version=2))
    sink.commit({"lsn": 2})
    sink.close()
    files = parquet_files(tmp_path)
    assert [f.rsplit("-", 1)[1] for f in files] == ["v1.parquet", "v2.parquet"]
    got = duckdb.sql(
        f"SELECT id, extra FROM read_parquet('{tmp_path}/public.t/*.parquet', "
        "union_by_name=true) ORDER BY id"
    ).fetchall()
    assert got == [(1, None), (2, 42)]
    schemas = [pq.read_schema(tmp_path / f) for f in files]
    unified = ds.dataset(
        tmp_path / "public.t", format="parquet", schema=pa.unify_schemas(schemas)
    ).to_table()
    assert sorted(unified.column("extra").to_pylist(), key=lambda v: v is None) == [42, None]


def test_pseudo_tables_and_odd_names_stay_inside_root(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path)
    sink.open()
    sink.write("_ddl", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 1, pos=1), table="_ddl"))
    sink.write("../evil", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 1, pos=1)))
    sink.commit({"lsn": 1})
    sink.close()
    dirs = sorted(p.name for p in tmp_path.iterdir())
    assert dirs == ["%" + b"..%2Fevil".hex(), "_arrowtail", "_ddl"]
    assert (tmp_path / "_ddl").is_dir()
    assert not (tmp_path.parent / "evil").exists()


def test_files_roll_by_bytes(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path, min_commit_interval=3600, max_bytes=1)
    sink.open()
    for i in range(3):
        sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(i, 1, pos=i)))
    sink.commit({"lsn": 2})
    # Every batch filled its file; a roll makes the commit durable at once.
    assert len(parquet_files(tmp_path)) == 3
    assert sink.durable_position() == {"lsn": 2}
    sink.close()
    assert [r[0] for r in ids_duckdb(tmp_path)] == [0, 1, 2]


def test_files_roll_by_age_at_a_later_commit(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path, min_commit_interval=3600, max_seconds=1e-6)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(0, 1, pos=0)))
    sink.commit({"lsn": 0})
    assert sink.durable_position() is None  # deferred, file still open
    wait_until = time.monotonic() + 1e-3
    while time.monotonic() < wait_until:  # let the file outlive max_seconds
        pass
    sink.commit({"lsn": 1})  # nothing new written: the old file is finished anyway
    assert sink.durable_position() == {"lsn": 1}
    assert len(parquet_files(tmp_path)) == 1
    sink.close()


def _encodings(path: Path, column: str) -> set[str]:
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).path for i in range(meta.num_columns)]
    chunk = meta.row_group(0).column(names.index(column))
    return set(chunk.encodings)


@pytest.mark.parametrize(("spec", "dictionary"), [("", False), ("?dictionary=true", True)])
def test_dictionary_pages_only_when_asked(tmp_path: Path, spec: str, dictionary: bool) -> None:
    from arrowtail.sinks import open_sink

    sink = open_sink(f"parquet:{tmp_path}{spec}")
    assert isinstance(sink, ParquetSink) and sink.dictionary is dictionary
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 50, pos=7)))
    sink.commit({"lsn": 7})
    sink.close()
    [path] = (tmp_path / "public.t").glob("*.parquet")
    # Plain pages only by default; RLE_DICTIONARY when dictionaries are on.
    assert ("RLE_DICTIONARY" in _encodings(path, "name")) is dictionary
    assert pq.read_table(path).column("name").to_pylist() == [f"n{i}" for i in range(1, 51)]


def test_only_the_sinks_own_leftovers_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The user's own files, some with the same extension, some in arrowtail's table folder,
    # one named like arrowtail's files but in a folder arrowtail never made.
    (tmp_path / "reports").mkdir()
    (tmp_path / "public.t").mkdir()
    users = {
        "mine.parquet": b"root",
        "reports/mine.parquet": b"sub",
        "reports/part-0000000007-v1.parquet": b"copy",
        "reports/.part-0000000008-v1.parquet.tmp": b"copy",
        "public.t/mine.parquet": b"foreign name",
        "public.t/part-1-v1.parquet": b"not the sink's pattern",
        "public.t/notes.txt": b"text",
    }
    for name, data in users.items():
        (tmp_path / name).write_bytes(data)

    sink = ParquetSink(tmp_path)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 2, pos=10)))
    sink.commit({"lsn": 10})
    sink.close()
    committed = parquet_files(tmp_path)

    # A killed run: one file renamed into place but never committed, one still a temporary,
    # in an old table folder and in a new one.
    killed = ParquetSink(tmp_path)
    assert killed.open() == {"lsn": 10}

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(killed, "_write_manifest", crash)
    killed.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(3, 2, pos=20)))
    killed.write("public.u", 1, change_batch(SIMPLE_COLUMNS, simple_rows(9, 1, pos=20)))
    with pytest.raises(Exception, match="simulated crash"):
        killed.commit({"lsn": 20})
    orphans = sorted(set(parquet_files(tmp_path)) - set(committed))
    assert orphans == ["public.t/part-0000000002-v1.parquet", "public.u/part-0000000003-v1.parquet"]
    (tmp_path / "public.u" / ".part-0000000004-v1.parquet.tmp").write_bytes(b"PAR1")

    restarted = ParquetSink(tmp_path)
    assert restarted.open() == {"lsn": 10}
    for name, data in users.items():
        assert (tmp_path / name).read_bytes() == data, name
    assert not (tmp_path / "public.u" / ".part-0000000004-v1.parquet.tmp").exists()
    for orphan in orphans:
        assert not (tmp_path / orphan).exists(), orphan
    files = [tmp_path / e["path"] for e in manifest(tmp_path)["files"]]
    assert sorted(i for f in files for i in pq.read_table(f).column("id").to_pylist()) == [1, 2]
    restarted.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(3, 2, pos=20)))
    restarted.commit({"lsn": 20})
    restarted.close()

    # A later clean run leaves everything of the user's in place too.
    again = ParquetSink(tmp_path)
    assert again.open() == {"lsn": 20}
    again.close()
    for name, data in users.items():
        assert (tmp_path / name).read_bytes() == data, name
    assert sorted(e["path"] for e in manifest(tmp_path)["files"]) == [
        "public.t/part-0000000001-v1.parquet",
        "public.t/part-0000000002-v1.parquet",
    ]


def test_rows_past_the_uncommitted_limit_go_to_files_and_count_only_at_the_commit(
    tmp_path: Path,
) -> None:
    # One byte: every write moves its rows into the open files. Files roll every 4 rows, so some
    # are finished (renamed) before the commit they belong to.
    sink = ParquetSink(
        tmp_path, max_uncommitted_bytes=1, max_rows=4, row_group_rows=2, min_commit_interval=3600
    )
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 2, pos=10)))
    sink.commit({"lsn": 10})  # deferred: not durable yet
    assert sink.durable_position() is None
    for i in range(3):
        sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(3 + 2 * i, 2, pos=20)))
    # The deferred commit was made durable before rows of the next one went into files.
    assert sink.durable_position() == {"lsn": 10}
    assert manifest(tmp_path)["checkpoint"] == {"lsn": 10}
    assert sorted(r[0] for r in ids_duckdb(tmp_path)) == [1, 2, 3, 4, 5, 6]  # finished, unlisted
    assert sum(f["rows"] for f in manifest(tmp_path)["files"]) == 2
    sink.commit({"lsn": 20})
    sink.close()
    assert sink.durable_position() == {"lsn": 20}
    assert sorted(r[0] for r in ids_duckdb(tmp_path)) == list(range(1, 9))
    assert sum(f["rows"] for f in manifest(tmp_path)["files"]) == 8
    assert [f["path"] for f in manifest(tmp_path)["files"]] == parquet_files(tmp_path)


def test_rows_written_to_files_before_a_commit_that_never_comes_are_removed(
    tmp_path: Path,
) -> None:
    sink = ParquetSink(tmp_path, max_uncommitted_bytes=1, max_rows=2)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 2, pos=10)))
    sink.commit({"lsn": 10})
    committed = parquet_files(tmp_path)
    for i in range(3):
        sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(3 + 2 * i, 2, pos=20)))
    assert len(parquet_files(tmp_path)) > len(committed)
    sink.close()  # no commit for lsn 20
    assert parquet_files(tmp_path) == committed
    assert not list(tmp_path.rglob("*.tmp"))
    assert ParquetSink(tmp_path).open() == {"lsn": 10}

    # Killed instead of closed: the next open removes them.
    killed = ParquetSink(tmp_path, max_uncommitted_bytes=1, max_rows=2)
    killed.open()
    for i in range(3):
        killed.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(3 + 2 * i, 2, pos=20)))
    assert len(parquet_files(tmp_path)) > len(committed)
    restarted = ParquetSink(tmp_path)
    assert restarted.open() == {"lsn": 10}
    assert parquet_files(tmp_path) == committed
    assert [r[0] for r in ids_duckdb(tmp_path)] == [1, 2]


def test_a_table_folder_already_holding_files_named_like_the_sinks_is_not_taken(
    tmp_path: Path,
) -> None:
    # Another run's output whose manifest is gone, in the folder a table's files go to: the
    # first of them used to be replaced by the sink's own file of that name.
    theirs = tmp_path / "public.t" / "part-0000000001-v1.parquet"
    theirs.parent.mkdir()
    pq.write_table(pa.table({"x": [1]}), theirs)
    sink = ParquetSink(tmp_path)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 2, pos=10)))
    with pytest.raises(SinkError, match="already holds files named like this sink's own"):
        sink.commit({"lsn": 10})
    assert pq.read_table(theirs).to_pylist() == [{"x": 1}]
    assert sink.durable_position() is None

    # The same in a table folder that appears after the manifest exists.
    other = tmp_path / "other"
    sink = ParquetSink(other)
    sink.open()
    sink.write("public.a", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 1, pos=10)))
    sink.commit({"lsn": 10})
    late = other / "public.b" / ".part-0000000009-v1.parquet.tmp"
    late.parent.mkdir()
    late.write_bytes(b"theirs")
    sink.write("public.b", 1, change_batch(SIMPLE_COLUMNS, simple_rows(2, 1, pos=20)))
    with pytest.raises(SinkError, match=r"public\.b already holds"):
        sink.commit({"lsn": 20})
    assert late.read_bytes() == b"theirs"
    assert sink.durable_position() == {"lsn": 10}


def test_the_folders_of_many_new_tables_are_recorded_in_one_manifest_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A snapshot of many tables commits the first rows of each at once: one manifest write for
    # all their folders, not one (with its fsyncs) per folder.
    sink = ParquetSink(tmp_path)
    sink.open()
    writes: list[list[str]] = []
    store = sink._store_manifest

    def counted(*args: object) -> None:
        writes.append(sorted(sink._dirs or ()))
        store(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(sink, "_store_manifest", counted)
    tables = [f"db.t{i:03d}" for i in range(200)]
    for i, table in enumerate(tables):
        sink.write(table, 1, change_batch(SIMPLE_COLUMNS, simple_rows(i, 1, pos=10)))
    sink.commit({"lsn": 10})
    assert len(writes) == 2, "the folders, then the commit"
    assert writes[0] == tables
    assert manifest(tmp_path)["dirs"] == tables
    assert len(parquet_files(tmp_path)) == 200


@pytest.mark.parametrize(
    "table",
    ["public.t", 'My Schema.Odd "Table" /x', "a%b.c/d\\e", "%2F.%25", "x.%5C", ".hidden.t", "", ".",
     "..", "_arrowtail", "é.ü"],
)  # fmt: skip
def test_a_table_folder_name_reads_back_as_the_table(table: str) -> None:
    from arrowtail.sinks.parquet import table_dir_name, table_of_dir

    folder = table_dir_name(table)
    assert "/" not in folder and "\\" not in folder and not folder.startswith(".")
    assert table_of_dir(folder) == table


def test_a_large_durable_commit_is_encoded_as_consecutive_files_at_once(tmp_path: Path) -> None:
    """A durable commit of at least a row group of a table is cut into up to ``encoders`` runs
    of about equal rows, at least half a row group each, each encoded into a file of its own on
    a thread: consecutive numbers, the rows in order across them, every row group whole but the
    last of each."""
    sink = ParquetSink(tmp_path, row_group_rows=4, encoders=3)
    sink.open()
    for i in range(5):  # batches of 5 rows: runs cut inside batches
        sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(i * 5 + 1, 5, pos=i)))
    sink.commit({"lsn": 5})
    files = parquet_files(tmp_path)
    assert files == [f"public.t/part-{n:010d}-v1.parquet" for n in (1, 2, 3)]
    rows = [pq.read_table(tmp_path / f).column("id").to_pylist() for f in files]
    assert rows == [list(range(1, 9)), list(range(9, 17)), list(range(17, 26))]
    for f in files:
        md = pq.ParquetFile(tmp_path / f).metadata
        sizes = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
        assert all(n == 4 for n in sizes[:-1]) and sizes[-1] <= 4, (f, sizes)
    entries = manifest(tmp_path)["files"]
    assert [e["path"] for e in entries] == files
    assert [(e["rows"], e["min_pos"], e["max_pos"]) for e in entries] == [
        (8, 0, 1),
        (8, 1, 3),
        (9, 3, 4),
    ]
    # A commit under a row group stays in one file; one of a row group gives two halves.
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(26, 3, pos=6)))
    sink.commit({"lsn": 6})
    assert [e["rows"] for e in manifest(tmp_path)["files"][3:]] == [3]
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(29, 4, pos=7)))
    sink.commit({"lsn": 7})
    sink.close()
    assert [e["rows"] for e in manifest(tmp_path)["files"][3:]] == [3, 2, 2]
    assert len(parquet_files(tmp_path)) == 6
    assert [r[0] for r in ids_duckdb(tmp_path)] == list(range(1, 33))
    # With one encoder, a commit of six row groups stays in one file.
    one = tmp_path / "one"
    single = ParquetSink(one, row_group_rows=4, encoders=1)
    single.open()
    single.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 25, pos=1)))
    single.commit({"lsn": 1})
    single.close()
    assert len(parquet_files(one)) == 1


def test_a_deferred_commit_is_not_cut_into_files(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path, row_group_rows=2, encoders=2, min_commit_interval=3600)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 9, pos=1)))
    sink.commit({"lsn": 1})
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(10, 9, pos=2)))
    sink.commit({"lsn": 2})
    sink.close()
    assert len(parquet_files(tmp_path)) == 1
    assert [r[0] for r in ids_duckdb(tmp_path)] == list(range(1, 19))


def test_a_file_failing_to_encode_stores_none_of_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One of a commit's files fails on its thread: the commit raises, the manifest keeps the
    last durable commit, and neither file stays (the one completed is removed too)."""
    from arrowtail.sinks import parquet

    sink = ParquetSink(tmp_path, row_group_rows=4, encoders=2)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 3, pos=1)))
    sink.commit({"lsn": 1})
    real = parquet._OpenFile.write_queued

    def second_fails(self: parquet._OpenFile) -> None:
        if self.final.name.startswith("part-0000000003"):
            raise OSError(28, "No space left on device")
        real(self)

    monkeypatch.setattr(parquet._OpenFile, "write_queued", second_fails)
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(4, 16, pos=2)))
    with pytest.raises(SinkError, match="No space left on device"):
        sink.commit({"lsn": 2})
    sink.close()
    assert sink.durable_position() == {"lsn": 1}
    assert manifest(tmp_path)["checkpoint"] == {"lsn": 1}
    assert parquet_files(tmp_path) == ["public.t/part-0000000001-v1.parquet"]
    assert not list(tmp_path.rglob("*.tmp"))
    again = ParquetSink(tmp_path)
    assert again.open() == {"lsn": 1}
    again.close()
    assert [r[0] for r in ids_duckdb(tmp_path)] == [1, 2, 3]
