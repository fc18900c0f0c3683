"""Writes the committed seed corpus of the fuzz targets under fuzz/seeds/ (see its README.md).

    .venv/bin/python scripts/make-fuzz-seeds.py

pgoutput: the real capture tests/fixtures/pgoutput/stream.cap cut into small captures, one per
transaction (or per streamed transaction), each preceded by the Relation messages it needs.
copy_binary: `COPY (SELECT ...) TO STDOUT (FORMAT binary)` of mixed-type rows from a private
PostgreSQL started here (the server the tests and `arrowtail demo` use), behind the header the
target reads (column count, chunk size, type picks). mysql_json: the binary JSON documents of the
real MySQL binlogs tests/fixtures/binlog/json.binlog.000001 and json-opaque.binlog.

Run it again only to refresh the seeds; the output for pgoutput and mysql_json is the same on every
run, the COPY streams differ only if PostgreSQL's binary formats ever did.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
FIXTURES = ROOT / "tests" / "fixtures"

# The OIDs of fuzz/src/lib.rs COPY_TYPES, in the same order: a seed picks a column type by index.
COPY_TYPES = [
    16, 17, 20, 21, 23, 25, 26, 114, 700, 701, 1043, 1082, 1083, 1114, 1184, 1186, 1700, 2950,
    3802, 1007, 1009,
]  # fmt: skip

# -- pgoutput -------------------------------------------------------------------------------------

MAX_CHANGES = 24  # changes kept per transaction (per streamed segment: a third of it)


def _records(data: bytes) -> list[tuple[int, bytes]]:
    out, at = [], 0
    while at < len(data):
        lsn, length = struct.unpack_from(">QI", data, at)
        out.append((lsn, data[at + 12 : at + 12 + length]))
        at += 12 + length
    return out


def _capture(records: list[tuple[int, bytes]]) -> bytes:
    return b"".join(struct.pack(">QI", lsn, len(m)) + m for lsn, m in records)


def pgoutput_seeds() -> dict[str, bytes]:
    """One capture per transaction: BEGIN, the Relation messages seen before it (so that its
    changes decode), at most MAX_CHANGES changes and COMMIT; the streamed transaction as its
    Stream Start/Stop segments, shortened alike, and Stream Commit. Relation and Type messages
    inside a transaction are always kept."""
    records = _records((FIXTURES / "pgoutput" / "stream.cap").read_bytes())
    seeds: dict[str, bytes] = {}
    relations: dict[bytes, bytes] = {}
    unit: list[tuple[int, bytes]] = []
    streamed = False
    changes = limit = 0
    for lsn, msg in records:
        kind = msg[:1]
        if kind == b"B":
            unit = [(lsn, msg)] + [(lsn, r) for r in relations.values()]
            streamed, changes, limit = False, 0, MAX_CHANGES
            continue
        if kind == b"S":
            streamed, changes, limit = True, 0, MAX_CHANGES // 3
        if kind in (b"R", b"Y", b"S", b"E", b"C", b"c", b"A"):
            unit.append((lsn, msg))
        elif changes < limit:
            unit.append((lsn, msg))
            changes += 1
        if kind == b"R" and not streamed:
            relations[msg[1:5]] = msg  # outside a stream: [R][u32 relation oid]...
        if kind in (b"C", b"c"):
            tag = "streamed" if kind == b"c" else f"tx{len(seeds):02d}"
            seeds[f"{tag}.cap"] = _capture(unit)
            unit = []
    return seeds


# -- copy_binary ----------------------------------------------------------------------------------

# (name, chunk size the target feeds the stream in, SELECT whose columns have the listed types)
COPY_QUERIES = [
    (
        "numbers",
        64,
        ["int8", "bool", "int2", "int4", "float4", "float8", "numeric", "oid"],
        """SELECT g::int8, (g % 2 = 0), (g * 1021 % 32767 - 16000)::int2, (g * 7919)::int4 * -1,
              (ARRAY['NaN', 'Infinity', '-Infinity', '1.5', '-0'])[1 + g % 5]::float4,
              g / 7.0::float8 * 1e300,
              (ARRAY['NaN', 'Infinity', '-Infinity', '0', '123456789012345678901234567890.12',
                     '-0.000000000000000000001', '99999999.99'])[1 + g % 7]::numeric,
              (g * 100003)::oid
           FROM generate_series(1, 24) g""",
    ),
    (
        "text_time",
        7,
        ["int4", "text", "varchar", "bytea", "date", "time", "timestamp", "timestamptz"],
        """SELECT g, repeat('t' || chr(233) || chr(128512), g % 5), ('v' || g)::varchar,
              decode(repeat(lpad(to_hex(g), 2, '0'), g % 9), 'hex'),
              (ARRAY['infinity', '-infinity', '2000-02-29', '0044-03-15 BC', '9999-12-31'])
                  [1 + g % 5]::date,
              time '00:00:00' + g * interval '37 minutes 1.000001 seconds',
              (ARRAY['infinity', '-infinity', '1999-12-31 23:59:59.999999', '1970-01-01'])
                  [1 + g % 4]::timestamp,
              timestamptz '2026-01-01 00:00:00+00' - g * interval '400 days 3 hours'
           FROM generate_series(1, 20) g""",
    ),
    (
        "structured",
        200,
        ["int8", "interval", "uuid", "json", "jsonb", "int4[]", "text[]"],
        """SELECT g::int8,
              make_interval(years => g, months => -g, days => g * 3, secs => g / 3.0::float8),
              md5(g::text)::uuid, json_build_object('g', g, 'l', json_build_array(1, null, 's')),
              jsonb_build_object('k', g, 'nested', jsonb_build_object('x', g % 3 = 0)),
              ARRAY[g, NULL, -g]::int4[], CASE WHEN g % 4 = 0 THEN '{}'::text[]
                  ELSE ARRAY['a' || g, NULL, '"quoted", {brace}'] END
           FROM generate_series(1, 16) g""",
    ),
]


def copy_seeds() -> dict[str, bytes]:
    """Each query's COPY BINARY output from a private PostgreSQL, behind the target's header;
    every fifth row keeps its key and is NULL in every other column."""
    from arrowtail.embedded.postgres import PostgresServer

    names = {
        "bool": 16, "bytea": 17, "int8": 20, "int2": 21, "int4": 23, "text": 25, "oid": 26,
        "json": 114, "float4": 700, "float8": 701, "varchar": 1043, "date": 1082, "time": 1083,
        "timestamp": 1114, "timestamptz": 1184, "interval": 1186, "numeric": 1700, "uuid": 2950,
        "jsonb": 3802, "int4[]": 1007, "text[]": 1009,
    }  # fmt: skip
    server = PostgresServer()
    seeds: dict[str, bytes] = {}
    try:
        server.start()
        with server.connect() as conn:
            for name, chunk, types, query in COPY_QUERIES:
                others = range(1, len(types))
                cols = ", ".join(
                    f"CASE WHEN q.c0 % 5 = 4 THEN NULL ELSE q.c{i} END" for i in others
                )
                aliases = ", ".join(f"c{i}" for i in range(len(types)))
                wrapped = f"SELECT q.c0, {cols} FROM ({query}) AS q({aliases}) "
                described = conn.execute(f"SELECT * FROM ({wrapped}) s LIMIT 0").description
                oids = [d.type_code for d in described or []]
                want = [names[t] for t in types]
                assert oids == want, f"{name}: the query gives types {oids}, not {want}"
                stream = bytearray()
                with conn.cursor().copy(f"COPY ({wrapped}) TO STDOUT (FORMAT binary)") as copy:
                    for block in copy:
                        stream += block
                header = bytes([len(types) - 1, chunk]) + bytes(COPY_TYPES.index(o) for o in oids)
                seeds[f"{name}.bin"] = header + bytes(stream)
    finally:
        server.cleanup()
    return seeds


# -- mysql_json -----------------------------------------------------------------------------------


def _varlen(data: bytes, at: int) -> tuple[int, int] | None:
    """MySQL JSON's variable-length size (7 bits a byte): (value, bytes used)."""
    value = 0
    for i in range(5):
        if at + i >= len(data):
            return None
        byte = data[at + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    return None


def _is_document(doc: bytes) -> bool:
    """Whether ``doc`` is, by its own size fields, exactly one binary JSON document: an object or
    array whose header size equals its length, or a string or opaque value filling it."""
    if len(doc) < 3:
        return False
    kind = doc[0]
    if kind in (0x00, 0x02) and len(doc) >= 5:  # small object / array: u16 count, u16 size
        count, size = struct.unpack_from("<HH", doc, 1)
        return size == len(doc) - 1 and count <= size
    if kind in (0x01, 0x03) and len(doc) >= 9:  # large object / array: u32 count, u32 size
        count, size = struct.unpack_from("<II", doc, 1)
        return size == len(doc) - 1 and count <= size
    if kind == 0x0C:  # string
        n = _varlen(doc, 1)
        return n is not None and 1 + n[1] + n[0] == len(doc)
    if kind == 0x0F and len(doc) >= 4:  # opaque: MySQL field type, size, bytes
        n = _varlen(doc, 2)
        return n is not None and 2 + n[1] + n[0] == len(doc)
    return False


def mysql_json_seeds() -> dict[str, bytes]:
    """JSON column values of real MySQL row events. A JSON cell is stored as a 4-byte length
    followed by the document; every position of the file where such a length is followed by a
    document of exactly that size (checked through the document's own size fields) is taken.
    tests/seeds.rs in the fuzz crate checks that each one parses."""
    seeds: dict[str, bytes] = {}
    for fixture in ("json.binlog.000001", "json-opaque.binlog"):
        data = (FIXTURES / "binlog" / fixture).read_bytes()
        found: dict[bytes, None] = {}
        for at in range(4, len(data) - 4):
            (length,) = struct.unpack_from("<I", data, at)
            if 3 <= length <= len(data) - at - 4:
                doc = data[at + 4 : at + 4 + length]
                if _is_document(doc):
                    found.setdefault(doc, None)
        stem = fixture.split(".")[0]
        for doc in found:
            seeds[f"{stem}-{hashlib.sha1(doc).hexdigest()[:12]}.bin"] = doc
    return seeds


def main() -> int:
    made = {
        "pgoutput": pgoutput_seeds(),
        "mysql_json": mysql_json_seeds(),
        "copy_binary": copy_seeds(),
    }
    for target, seeds in made.items():
        directory = SEEDS / target
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for name, data in sorted(seeds.items()):
            (directory / name).write_bytes(data)
        print(f"{target}: {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
