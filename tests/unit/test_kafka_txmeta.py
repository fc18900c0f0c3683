"""Debezium's transaction metadata in the Kafka sink: the counts kept between batches and the
BEGIN and END events a commit closes (their forms are compared with Debezium's own connector in
tests/integration/test_debezium_golden.py)."""

from __future__ import annotations

import json

import pytest

from arrowtail.exceptions import ConfigError
from arrowtail.sinks import open_sink
from arrowtail.sinks.kafka.txmeta import (
    AVRO_KEY,
    AVRO_VALUE,
    KEY_SCHEMA,
    VALUE_SCHEMA,
    TransactionMetadata,
)
from tests.support.avro_events import decode


def _payloads(events: list[tuple[bytes, bytes]]) -> list[tuple[dict, dict]]:
    return [(json.loads(k), json.loads(v)) for k, v in events]


def test_a_commit_closes_the_transactions_up_to_its_position_in_order() -> None:
    tm = TransactionMetadata(schemas=False)
    # Two batches of public.a and one of public.b; transaction 7 (commit at 500) spans all
    # three, transaction 8 (commit at 900) is only in public.b, 9 (commit 1300) stays open.
    tm.record("public.a", [(500, 7, 1_000_000_123_456, 2, 120, 50, None)])
    assert tm.carry("public.a") == (500, 2)
    tm.record(
        "public.b",
        [(500, 7, 1_000_000_123_456, 1, 100, 50, None), (900, 8, 2_000_000, 1, 700, 0, None)],
    )
    tm.record("public.a", [(500, 7, 1_000_000_123_456, 3, 300, 50, None)])
    tm.record("public.b", [(1300, 9, 3_000_000, 1, 1200, 950, None)])
    events = _payloads(tm.close({"lsn": 900, "end_lsn": 950}))
    assert [v["status"] for _, v in events] == ["BEGIN", "END", "BEGIN", "END"]
    (k1, begin), (_, end) = events[:2]
    # BEGIN: the first event's LSN; END: the end of the commit, the next one's last commit.
    assert k1 == {"id": "7:100"}
    assert begin == {
        "status": "BEGIN",
        "id": "7:100",
        "event_count": None,
        "data_collections": None,
        "ts_ms": 1_000_000_123,
    }
    assert end["id"] == "7:500"  # the next one's last commit unknown (0): its own LSN
    assert end["event_count"] == 4
    assert end["data_collections"] == [
        {"data_collection": "public.a", "event_count": 3},
        {"data_collection": "public.b", "event_count": 1},
    ]
    # The last transaction of the commit ends where the position says.
    assert events[2][1]["id"] == "8:700"
    assert events[3][1]["id"] == "8:950"
    assert events[3][1]["event_count"] == 1
    # The open one is still counted on, and closes at the next commit.
    assert tm.carry("public.b") == (1300, 1)
    assert tm.carry("public.a") == (0, 0)
    later = _payloads(tm.close({"lsn": 1300}))
    assert [v["id"] for _, v in later] == ["9:1200", "9:1300"]
    assert tm.close({"lsn": 1400}) == []


def test_the_end_of_a_transaction_is_the_next_ones_last_commit() -> None:
    tm = TransactionMetadata(schemas=False)
    tm.record("public.a", [(500, 7, 0, 1, 100, 0, None), (900, 8, 0, 1, 600, 550, None)])
    ids = [v["id"] for _, v in _payloads(tm.close({"lsn": 900, "end_lsn": 960}))]
    assert ids == ["7:100", "7:550", "8:600", "8:960"]


def test_in_avro_the_events_are_framed_records_of_the_registered_schemas() -> None:
    registered: list[tuple[str, bool]] = []

    def register(schema: dict, key: bool) -> int:
        registered.append((schema["name"], key))
        return 7 if key else 8

    tm = TransactionMetadata(schemas=False, register=register)
    tm.record("public.a", [(500, 7, 1_000_000, 2, 100, 0, None)])
    (bkey, bvalue), (ekey, evalue) = tm.close({"lsn": 500, "end_lsn": 560})
    assert ("TransactionMetadataKey", True) in registered
    assert ("TransactionMetadataValue", False) in registered
    # Key: magic byte, id 7, the string "7:100" (length 5 zig-zagged is 10).
    assert bkey == b"\x00\x00\x00\x00\x07" + b"\x0a7:100"
    # BEGIN: status, id, null event_count, null data_collections, ts_ms 1000 (zig-zag 2000).
    assert (
        bvalue == b"\x00\x00\x00\x00\x08" + b"\x0aBEGIN" + b"\x0a7:100" + b"\x00\x00" + b"\xd0\x0f"
    )
    assert ekey == b"\x00\x00\x00\x00\x07" + b"\x0a7:560"
    # END: event_count 2, one collection (record branch), the block's end, ts_ms.
    assert evalue == (
        b"\x00\x00\x00\x00\x08"
        + b"\x06END"
        + b"\x0a7:560"
        + b"\x02\x04"
        + b"\x02\x02"
        + b"\x02\x10public.a\x04"
        + b"\x00"
        + b"\xd0\x0f"
    )
    # fastavro reads them back with the schemas.
    assert decode(evalue, json.dumps(AVRO_VALUE)) == {
        "status": "END",
        "id": "7:560",
        "event_count": 2,
        "data_collections": [{"data_collection": "public.a", "event_count": 2}],
        "ts_ms": 1000,
    }
    assert decode(bvalue, json.dumps(AVRO_VALUE))["data_collections"] is None
    assert decode(ekey, json.dumps(AVRO_KEY)) == {"id": "7:560"}


def test_a_transaction_of_messages_only_has_no_events_but_ends_the_one_before() -> None:
    tm = TransactionMetadata(schemas=False)
    tm.record("public.a", [(500, 7, 0, 1, 100, 0, None)])
    # Transaction 8 holds only a logical message: no events, but its last commit (560) is
    # where transaction 7's commit record ended; 9's last commit is 8's end.
    tm.record("_messages", [(600, 8, 0, 0, 580, 560, None)])
    tm.record("public.a", [(900, 9, 0, 1, 800, 640, None)])
    ids = [v["id"] for _, v in _payloads(tm.close({"lsn": 900, "end_lsn": 960}))]
    assert ids == ["7:100", "7:560", "9:800", "9:960"]


def test_with_schemas_the_events_carry_debeziums_schemas() -> None:
    tm = TransactionMetadata(schemas=True)
    tm.record("public.a", [(500, 7, 0, 1, 100, 0, None)])
    (key, value), _ = _payloads(tm.close({"lsn": 500}))
    assert key == {"schema": KEY_SCHEMA, "payload": {"id": "7:100"}}
    assert value["schema"] == VALUE_SCHEMA
    assert value["payload"]["status"] == "BEGIN"


@pytest.mark.parametrize(
    "options, wanted",
    [
        ("transaction_metadata=true&format=arrow", "not in arrow"),
        ("transaction_topic=tx", "only with transaction_metadata=true"),
        ("transaction_metadata=true&transaction_topic=a%20b", "no valid Kafka topic name"),
    ],
)
def test_unsupported_combinations_are_refused(options: str, wanted: str) -> None:
    with pytest.raises(ConfigError, match=wanted):
        open_sink(f"kafka://127.0.0.1:9092?{options}")


def test_the_transaction_topic_follows_the_prefix() -> None:
    sink = open_sink("kafka://127.0.0.1:9092?topic_prefix=srv&transaction_metadata=true")
    assert sink.transaction_topic == "srv.transaction"
    sink = open_sink("kafka://127.0.0.1:9092?transaction_metadata=true&transaction_topic=tx.meta")
    assert sink.transaction_topic == "tx.meta"


def test_binlog_transactions_keep_their_id_in_both_events() -> None:
    tm = TransactionMetadata(schemas=False)
    tm.record("shop.a", [(4096, 18, 5_000_000, 2, 0, 0, "0-1-18")])
    tm.record("shop.b", [(4096, 18, 5_000_000, 1, 0, 0, "0-1-18")])
    events = _payloads(tm.close({"pos": 4096, "file": "mysql-bin.000001", "offset": 4096}))
    assert [(k["id"], v["id"], v["status"]) for k, v in events] == [
        ("0-1-18", "0-1-18", "BEGIN"),
        ("0-1-18", "0-1-18", "END"),
    ]
    assert events[1][1]["event_count"] == 3
