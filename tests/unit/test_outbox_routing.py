"""Outbox routing of the Kafka sink without a broker: which rows become events, their topics,
keys, passed-through payloads and headers, and the configuration forms."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from arrowtail import config
from arrowtail.exceptions import ConfigError
from arrowtail.sinks import open_sink
from arrowtail.sinks.kafka.outbox import (
    OutboxRoute,
    as_bytes,
    outbox_routes,
    route_batch,
    topic_groups,
)
from arrowtail.sinks.kafka.sink import KafkaSink
from tests.support.batches import change_batch

COLUMNS = [
    pa.field("id", pa.uuid()),
    pa.field("aggregatetype", pa.string()),
    pa.field("aggregateid", pa.string()),
    pa.field("type", pa.string()),
    pa.field("payload", pa.json_(pa.string())),
]
IDS = [uuid.UUID(int=i) for i in range(4)]


def outbox_batch() -> pa.RecordBatch:
    def row(i: int, op: str, kind: str | None, agg: str) -> dict[str, object]:
        return {
            "id": IDS[i].bytes,
            "aggregatetype": kind,
            "aggregateid": agg,
            "type": f"Event{i}",
            "payload": f'{{"n": {i}}}',
            "_op": op,
            "_pos": 100 + i,
            "_seq": i,
        }

    rows = [
        row(0, "c", "order", "o-1"),
        row(0, "d", "order", "o-1"),  # the application's clean-up: no event
        row(1, "c", "customer", "c-7"),
        row(2, "u", "order", "o-1"),  # not an insert: no event
        row(3, "c", None, "o-2"),  # no topic: dead letter
    ]
    return change_batch(COLUMNS, rows, table="public.outbox")


def test_only_inserts_become_events_with_topic_key_value_and_headers() -> None:
    route = OutboxRoute("public.outbox")
    messages = route_batch(outbox_batch(), route, "shop")
    assert messages.topics.to_pylist() == ["shop.order", "shop.customer", None]
    assert messages.keys.to_pylist() == [b"o-1", b"c-7", b"o-2"]
    assert messages.values.to_pylist() == [b'{"n": 0}', b'{"n": 1}', b'{"n": 3}']
    rows = list(messages.rows())
    topic, key, value, headers = rows[1]
    assert (topic, key, value) == ("shop.customer", b"c-7", b'{"n": 1}')
    assert headers == [
        ("id", str(IDS[1]).encode()),
        ("type", b"Event1"),
        ("arrowtail.pos", b"101"),
        ("arrowtail.seq", b"1"),
    ]
    groups = {t: list(ix) for t, ix in topic_groups(messages.topics)}
    assert groups == {"shop.order": [0], "shop.customer": [1]}


def test_topic_template_and_column_names_are_configurable() -> None:
    batch = change_batch(
        [pa.field("kind", pa.string()), pa.field("agg", pa.int64()), pa.field("body", pa.binary())],
        [{"kind": "invoice", "agg": 42, "body": b"\x00\x01", "_op": "c", "_pos": 5}],
        table="app.events",
        primary_key=(),
    )
    route = OutboxRoute(
        "app.events",
        topic="events.{aggregatetype}.v1",
        aggregatetype="kind",
        aggregateid="agg",
        payload="body",
    )
    messages = route_batch(batch, route, "ignored")
    assert list(messages.rows()) == [
        (
            "events.invoice.v1",
            b"42",
            b"\x00\x01",
            [("arrowtail.pos", b"5"), ("arrowtail.seq", b"0")],
        )
    ]


def test_missing_column_and_bad_settings_are_config_errors() -> None:
    batch = change_batch([pa.field("x", pa.string())], [], table="public.outbox")
    with pytest.raises(ConfigError, match="no column 'aggregatetype'"):
        route_batch(batch, OutboxRoute("public.outbox"), "p")
    with pytest.raises(ConfigError, match="must contain"):
        OutboxRoute("public.outbox", topic="fixed")
    with pytest.raises(ConfigError, match="unknown outbox setting 'colour'"):
        outbox_routes({"table": "public.outbox", "colour": "red"})
    with pytest.raises(ConfigError, match="schema.table"):
        outbox_routes({"table": "outbox"})


def test_url_and_config_forms_build_the_routes() -> None:
    sink = open_sink("kafka://h:1?outbox=public.outbox,app.box&outbox.payload=body")
    assert isinstance(sink, KafkaSink)
    assert sorted(sink.outbox) == ["app.box", "public.outbox"]
    assert sink.outbox["app.box"].payload == "body"
    sink = open_sink("kafka://h:1", outbox={"table": ["public.outbox"], "type": ""})
    assert isinstance(sink, KafkaSink)
    assert sink.outbox["public.outbox"].type == ""
    with pytest.raises(ConfigError, match="kafka"):
        open_sink("jsonl:-", outbox={"table": "public.outbox"})


def test_uuids_become_their_canonical_text_including_slices_and_nulls() -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    storage = pa.array([u.bytes for u in ids] + [None], pa.binary(16))
    want = [str(u).encode() for u in ids] + [None]
    assert as_bytes(storage).to_pylist() == want
    assert as_bytes(pa.ExtensionArray.from_storage(pa.uuid(), storage)).to_pylist() == want
    assert as_bytes(storage.slice(2, 4)).to_pylist() == want[2:]


def test_the_configuration_file_and_environment_carry_outbox_settings(tmp_path: Path) -> None:
    path = tmp_path / "arrowtail.toml"
    path.write_text(
        '[source]\nurl = "postgresql://cdc@db/shop"\n'
        '[sink]\nurl = "kafka://broker:9092?topic_prefix=shop"\n'
        '[sink.outbox]\ntable = ["public.outbox"]\ntopic = "events.{aggregatetype}"\n'
    )
    cfg = config.load(str(path), environ={})
    sink = open_sink(cfg.sink.url, outbox=cfg.sink.outbox)
    assert isinstance(sink, KafkaSink)
    assert sink.outbox["public.outbox"].topic == "events.{aggregatetype}"
    cfg = config.load(str(path), environ={"ARROWTAIL_SINK_OUTBOX": "app.box"})
    assert cfg.sink.outbox == {"table": "app.box"}
    with pytest.raises(ConfigError, match="only to a kafka"):
        config.load(
            None,
            overrides={
                "source": {"url": "postgresql://cdc@db/shop"},
                "sink": {"url": "parquet:/tmp/x", "outbox": {"table": "public.outbox"}},
            },
            environ={},
        )
