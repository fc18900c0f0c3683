"""Sink specifications of the command line (``--to``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arrowtail.exceptions import ConfigError
from arrowtail.sinks import open_sink
from arrowtail.sinks.jsonl import JsonlSink
from arrowtail.sinks.kafka.sink import KafkaSink
from arrowtail.sinks.parquet import ParquetSink


def test_parquet_and_jsonl(tmp_path: Path) -> None:
    sink = open_sink(f"parquet:{tmp_path}?max_rows=10&min_commit_interval=2.5")
    assert isinstance(sink, ParquetSink)
    assert (sink.root, sink.max_rows, sink.min_commit_interval) == (tmp_path, 10, 2.5)
    assert isinstance(open_sink("jsonl:-"), JsonlSink)
    assert isinstance(open_sink(f"jsonl:{tmp_path}/x.jsonl"), JsonlSink)


def test_kafka_options() -> None:
    sink = open_sink(
        "kafka://127.0.0.1:9092,127.0.0.1:9093?topic_prefix=srv&schemas=true"
        "&topic.public.t=custom&producer.linger.ms=5&value_format=arrow"
    )
    assert isinstance(sink, KafkaSink)
    assert sink.topic_for("public.t") == "custom"
    assert sink.topic_for("public.u") == "srv.public.u"
    assert sink.value_format == "arrow"
    assert sink._config["bootstrap.servers"] == "127.0.0.1:9092,127.0.0.1:9093"
    assert sink._config["linger.ms"] == "5"
    assert sink._serialize_options["schemas"] is True


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("s3://bucket", "unknown sink"),
        ("parquet:", "needs a directory"),
        ("parquet:/tmp/x?max_rows=many", "must be a number"),
        ("parquet:/tmp/x?max_rows=0", "positive"),
        ("parquet:/tmp/x?colour=red", "unknown parquet sink option"),
        ("jsonl:", "needs a file"),
        ("kafka://", "needs brokers"),
        ("kafka://h:1?schemas=maybe", "true or false"),
        ("kafka://h:1?nope=1", "unknown kafka sink option"),
        ("kafka://h:1?value_format=xml", "value_format"),
        ("kafka://h:1?value_format=avro", "needs a schema registry"),
        ("kafka://h:1?registry=http://r:1", "avro format only"),
    ],
)
def test_bad_specs_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_sink(spec)
