"""PgOutputDecoder.use_schema: batches of a registered schema come out with the schema given
for them (the catalog facts a PostgreSQL source adds), holding the same rows; any other schema
comes out as the decoder's own. And the source's annotation stays exact when its facts change
after a decoder was given a pair."""

from __future__ import annotations

import struct
from typing import Any

import pyarrow as pa
import pytest

from arrowtail import PgOutputDecoder
from arrowtail.sources.postgres.keys import CatalogKeys, TableFacts
from tests.support.pgoutput_messages import REL, begin, commit, cstr, insert, relation, xlogdata


def _frames(lsn: int, messages: list[bytes]) -> bytes:
    out = b""
    for i, m in enumerate(messages):
        payload = xlogdata(lsn + i, m)
        out += b"d" + struct.pack(">I", len(payload) + 4) + payload
    return out


def _txn(lsn: int, xid: int, *messages: bytes) -> bytes:
    return _frames(lsn, [begin(lsn + 50, xid), *messages, commit(lsn + 50)])


def _two_columns() -> bytes:
    """``public.t`` after a column was dropped: ``id`` and ``note`` only."""
    body = struct.pack(">I", REL) + cstr("public") + cstr("t") + b"d" + struct.pack(">h", 2)
    body += bytes([1]) + cstr("id") + struct.pack(">Ii", 23, -1)
    body += bytes([0]) + cstr("note") + struct.pack(">Ii", 25, -1)
    return b"R" + body


def _annotated(schema: pa.Schema) -> pa.Schema:
    meta = {**(schema.metadata or {}), b"arrowtail.not_null": b"id"}
    fields = [f.with_metadata({"arrowtail.logical_type": "numeric"}) if f.name == "amount" else f
              for f in schema]  # fmt: skip
    return pa.schema(fields, metadata=meta)


def test_batches_of_the_registered_schema_come_with_the_given_one() -> None:
    plain, given = PgOutputDecoder(), PgOutputDecoder()
    first = _txn(0x100, 7, relation(), insert([b"1", b"a", b"1.50"]))
    plain.feed_wire(first)
    given.feed_wire(first)
    [(table, _, batch)] = given.flush()
    plain.flush()
    after = _annotated(batch.schema)
    given.use_schema(table, batch.schema, after)

    later = _txn(0x200, 8, insert([b"2", None, b"2.25"]), insert([b"3", b"c", None]))
    plain.feed_wire(later)
    given.feed_wire(later)
    [(_, _, own)] = plain.flush()
    [(_, _, annotated)] = given.flush()

    assert annotated.schema.equals(after, check_metadata=True)
    assert not own.schema.equals(after, check_metadata=True)
    assert annotated.to_pylist() == own.to_pylist()
    assert annotated.column("id").to_pylist() == [2, 3]
    assert annotated.schema.field("amount").metadata == {b"arrowtail.logical_type": b"numeric"}


def test_a_batch_of_another_schema_keeps_its_own() -> None:
    decoder = PgOutputDecoder()
    decoder.feed_wire(_txn(0x100, 7, relation(), insert([b"1", b"a", b"1.50"])))
    [(table, _, batch)] = decoder.flush()
    decoder.use_schema(table, batch.schema, _annotated(batch.schema))

    decoder.feed_wire(_txn(0x200, 8, _two_columns(), insert([b"2", b"b"])))
    [(_, _, narrower)] = decoder.flush()

    assert narrower.schema.names[:2] == ["id", "note"] and "amount" not in narrower.schema.names
    assert b"arrowtail.not_null" not in (narrower.schema.metadata or {})
    assert narrower.column("note").to_pylist() == ["b"]


def test_a_schema_with_other_columns_is_refused_and_none_forgets() -> None:
    decoder = PgOutputDecoder()
    decoder.feed_wire(_txn(0x100, 7, relation(), insert([b"1", b"a", b"1.50"])))
    [(table, _, batch)] = decoder.flush()
    other = pa.schema([pa.field("id", pa.int64())])
    with pytest.raises(ValueError, match="does not have the decoder's columns"):
        decoder.use_schema(table, batch.schema, other)

    decoder.use_schema(table, batch.schema, _annotated(batch.schema))
    decoder.use_schema(table, batch.schema, None)
    decoder.feed_wire(_txn(0x200, 8, insert([b"2", b"b", b"2.00"])))
    [(_, _, again)] = decoder.flush()
    assert again.schema.equals(batch.schema, check_metadata=True)


def _keys(facts: TableFacts) -> CatalogKeys:
    keys = CatalogKeys("host=unused", "pub")
    keys._facts = {"public.t": facts}
    return keys


def test_annotation_follows_new_facts_of_a_batch_annotated_with_the_old() -> None:
    """A decoder given a pair hands on batches annotated with the facts of that time. Once the
    facts are read again, such a batch is annotated as its decoder's own schema would be."""
    decoder = PgOutputDecoder()
    decoder.feed_wire(_txn(0x100, 7, relation(), insert([b"1", b"a", b"1.50"])))
    keys = _keys(TableFacts("id", "id", {"amount": {"arrowtail.logical_type": "numeric"}}))
    [(table, version, first)] = keys.annotate(decoder.flush(), lookup=False)
    [(_, before, after)] = keys.take_learnt()
    decoder.use_schema(table, before, after)
    assert first.schema.metadata[b"arrowtail.not_null"] == b"id"
    assert first.schema.field("amount").metadata == {b"arrowtail.logical_type": b"numeric"}

    decoder.feed_wire(_txn(0x200, 8, insert([b"2", b"b", b"2.00"])))
    [(_, _, same)] = decoder.flush()
    assert same.schema.equals(after, check_metadata=True)
    assert keys.annotate([(table, version, same)], lookup=False)[0][2] is same
    assert keys.take_learnt() == []

    # Read again: ``note`` became NOT NULL, ``amount`` got a typmod (no field facts any more).
    keys._facts = {"public.t": TableFacts("id", "id,note")}
    decoder.feed_wire(_txn(0x300, 9, insert([b"3", b"c", b"3.00"])))
    [(_, _, stale)] = decoder.flush()
    [(_, _, fresh)] = keys.annotate([(table, version, stale)], lookup=False)
    expected = keys._annotate_once(keys._facts["public.t"], first.cast(before))
    assert fresh.schema.equals(expected.schema, check_metadata=True)
    assert fresh.schema.metadata[b"arrowtail.not_null"] == b"id,note"
    assert not fresh.schema.field("amount").metadata
    assert fresh.column("id").to_pylist() == [3]
    [(_, again_before, again_after)] = keys.take_learnt()
    assert again_before.equals(before, check_metadata=True)
    assert again_after.equals(fresh.schema, check_metadata=True)


def test_catalog_reads_take_only_the_tables_they_are_for(monkeypatch: Any) -> None:
    """The facts read as the source opens stand for the initial snapshot's tables; a table new
    to the stream, or a new version of one, has its own facts read, not every table's (a
    snapshot of thousands of tables read them all once per table)."""
    keys = CatalogKeys("host=unused", "pub")
    keys._facts = {f"public.t{i}": TableFacts("id", "id") for i in range(3)}
    reads: list[list[str] | None] = []

    def load(conn: Any = None, tables: list[str] | None = None) -> None:
        reads.append(tables)
        for t in tables or []:
            keys._facts[t] = TableFacts("id", "id")

    monkeypatch.setattr(keys, "load", load)
    batch = pa.RecordBatch.from_pydict({"id": [1]})
    for i in range(3):
        keys.annotate([(f"public.t{i}", 1, batch)], settled=True)
    assert reads == []
    keys.annotate([("public.t0", 1, batch), ("public.new", 1, batch)], settled=True)
    assert reads == [["public.new"]]
    keys.annotate([("public.t1", 2, batch), ("public.t2", 1, batch)])
    assert reads == [["public.new"], ["public.t1"]]
