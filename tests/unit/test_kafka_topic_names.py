"""Topic names derived from table names follow Debezium's rule, so that a table Kafka cannot name
as it is goes to the topic Debezium would give it; a prefix that is no valid topic name is
refused before anything connects."""

from __future__ import annotations

import logging

import pytest

from arrowtail.exceptions import ConfigError
from arrowtail.sinks.kafka.sink import MAX_TOPIC_LENGTH, KafkaSink, topic_name


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("shop.public.orders", "shop.public.orders"),
        ("shop.Sales-2024.Order_Items", "shop.Sales-2024.Order_Items"),
        ("shop.My Schema.Order Items", "shop.My_Schema.Order_Items"),
        ("shop.public.ünï", "shop.public._n_"),
        # Beyond the Basic Multilingual Plane a character is two UTF-16 units to Java.
        ("shop.public.t\U0001f600", "shop.public.t__"),
        ("shop.a/b\\c:d", "shop.a_b_c_d"),
        (".", "_"),
        ("..", "__"),
        ("x" * 300, "x" * MAX_TOPIC_LENGTH),
    ],
)
def test_names_are_made_valid_as_debezium_makes_them(name: str, topic: str) -> None:
    assert topic_name(name) == topic


def test_a_derived_topic_is_made_valid_once_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = KafkaSink("127.0.0.1:9", topic_prefix="shop", topics={"public.x y": "chosen"})
    with caplog.at_level(logging.WARNING, logger="arrowtail.sinks.kafka"):
        assert sink.topic_for("public.orders") == "shop.public.orders"
        assert sink.topic_for("public.Order Items") == "shop.public.Order_Items"
        assert sink.topic_for("public.Order Items") == "shop.public.Order_Items"
        # A topic named in `topics` is used as given.
        assert sink.topic_for("public.x y") == "chosen"
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "shop.public.Order Items is no valid Kafka topic name: public.Order Items goes to "
        "shop.public.Order_Items"
    ]


@pytest.mark.parametrize("prefix", ["my shop", "", "shöp", "a/b"])
def test_a_prefix_kafka_cannot_name_is_refused(prefix: str) -> None:
    with pytest.raises(ConfigError, match="topic_prefix"):
        KafkaSink("127.0.0.1:9", topic_prefix=prefix)
