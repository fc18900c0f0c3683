"""The Kafka sink: Debezium-compatible messages, outbox routing."""

from arrowtail.sinks.kafka.sink import (
    KafkaSink,
)

__all__ = ["KafkaSink"]
