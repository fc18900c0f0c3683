"""Schema versions are numbered once per run, where batches are made: decoders sharing one
``SchemaVersions`` agree, and the pipeline takes the numbers as they come."""

from __future__ import annotations

import struct
from typing import Any

import pyarrow as pa

from arrowtail import _core
from arrowtail.pipeline import Pipeline
from arrowtail.sources.base import Chunk

INT4, TEXT = 23, 25
SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def _copy_bytes(rows: list[list[bytes]]) -> bytes:
    """COPY BINARY output: header, one tuple per row, trailer."""
    out = SIGNATURE + struct.pack(">ii", 0, 0)
    for row in rows:
        out += struct.pack(">h", len(row))
        for value in row:
            out += struct.pack(">i", len(value)) + value
    return out + struct.pack(">h", -1)


def _snapshot(columns: list[tuple[str, int, int]], versions: Any) -> list[Any]:
    decoder = _core.CopyDecoder(
        "public.t", columns, ["id"], position=1, snapshot_ts_us=0, versions=versions
    )
    values = {INT4: struct.pack(">i", 7), TEXT: b"x"}
    decoder.feed(_copy_bytes([[values[oid] for _, oid, _ in columns]]))
    decoder.finish()
    return decoder.flush()


NARROW = [("id", INT4, -1)]
WIDE = [("id", INT4, -1), ("note", TEXT, -1)]


def test_decoders_sharing_versions_number_layouts_once() -> None:
    versions = _core.SchemaVersions()
    # Each decoder alone calls its table version 1; shared, the wider layout is version 2.
    (first,) = _snapshot(NARROW, versions)
    (second,) = _snapshot(WIDE, versions)
    (again,) = _snapshot(NARROW, versions)
    assert [b[1] for b in (first, second, again)] == [1, 2, 1]
    assert second[2].schema.metadata[b"arrowtail.schema_version"] == b"2"
    assert again[2].schema.metadata[b"arrowtail.schema_version"] == b"1"
    # A batch built elsewhere joins the same numbering.
    version, batch = versions.assign("public.t", second[2])
    assert version == 2
    assert batch.schema.metadata[b"arrowtail.schema_version"] == b"2"
    assert versions.assign("public.other", second[2])[0] == 1


def test_a_decoder_without_shared_versions_keeps_its_own_numbers() -> None:
    (narrow,) = _snapshot(NARROW, None)
    (wide,) = _snapshot(WIDE, None)
    assert (narrow[1], wide[1]) == (1, 1)


def test_assign_renumbers_metadata_and_keeps_values() -> None:
    versions = _core.SchemaVersions()
    a = pa.RecordBatch.from_pydict({"id": [1]}).replace_schema_metadata(
        {"arrowtail.schema_version": "9", "arrowtail.table": "s.t"}
    )
    b = pa.RecordBatch.from_pydict({"id": ["x"], "v": [2]})
    assert versions.assign("s.t", a)[0] == 1
    version, out = versions.assign("s.t", b)
    assert version == 2
    assert out.to_pydict() == {"id": ["x"], "v": [2]}
    version, out = versions.assign("s.t", a)
    assert version == 1
    assert out.schema.metadata == {b"arrowtail.schema_version": b"1", b"arrowtail.table": b"s.t"}


class _Source:
    kind = "test"

    def __init__(self, batches: list[tuple[str, int, pa.RecordBatch]], shared: bool) -> None:
        self.chunks = [Chunk(batches, {"lsn": 1})]
        if shared:
            self.schema_versions = _core.SchemaVersions()

    def open(self, start: Any) -> None:
        pass

    def poll(self, timeout: float) -> Chunk:
        return self.chunks.pop(0) if self.chunks else Chunk(exhausted=True)

    def acknowledge(self, position: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {}


class _Sink:
    def __init__(self) -> None:
        self.versions: list[int] = []
        self.position: Any = None

    def open(self) -> None:
        return None

    def write(self, table: str, schema_version: int, batch: pa.RecordBatch) -> None:
        self.versions.append(schema_version)
        assert batch.schema.metadata[b"arrowtail.schema_version"] == str(schema_version).encode()

    def commit(self, position: Any) -> None:
        self.position = position

    def durable_position(self) -> Any:
        return self.position

    def close(self) -> None:
        pass


def _batch(columns: dict[str, list[Any]], version: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {**columns, "_op": ["c"], "_pos": pa.array([1], pa.uint64())}
    ).replace_schema_metadata({"arrowtail.schema_version": str(version)})


def test_pipeline_takes_versions_of_a_source_that_numbers_them() -> None:
    # Numbered by the source (here: already run-wide), so the pipeline passes them on as they are.
    batches = [("s.t", 5, _batch({"id": [1]}, 5)), ("s.t", 6, _batch({"id": [1], "v": [2]}, 6))]
    sink = _Sink()
    Pipeline(_Source(batches, shared=True), sink).run()  # type: ignore[arg-type]
    assert sink.versions == [5, 6]


def test_pipeline_numbers_batches_of_a_source_without_versions() -> None:
    batches = [
        ("s.t", 1, _batch({"id": [1]}, 1)),
        ("s.t", 1, _batch({"id": [1], "v": [2]}, 1)),
        ("s.t", 1, _batch({"id": [1]}, 1)),
    ]
    sink = _Sink()
    Pipeline(_Source(batches, shared=False), sink).run()  # type: ignore[arg-type]
    assert sink.versions == [1, 2, 1]
