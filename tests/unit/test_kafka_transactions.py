"""The exactly-once Kafka sink's handling of transactional errors, against a stand-in producer
that records what each transaction holds: an abortable error sends the whole transaction again
(each message once in the committed one), a retriable one retries the step alone, a fatal one
stops the sink for good, and a transaction too large to keep stops it without acknowledging."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from arrowtail.exceptions import SinkError
from arrowtail.sinks.kafka import transactions
from arrowtail.sinks.kafka.transactions import TransactionalKafkaSink
from tests.support.batches import SIMPLE_COLUMNS, change_batch, simple_rows

TOPIC = "p.public.t"
OFFSETS = "p.arrowtail-offsets"


class FakeProducer:
    """The transactional calls of confluent_kafka.Producer, recording each transaction."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.current: list[tuple[str, Any, Any]] | None = None
        self.committed: list[list[tuple[str, Any, Any]]] = []
        self.aborted = 0
        self.fail_commit: list[KafkaError] = []
        #: The produce that would put more than this many messages in the transaction fails
        #: once, with this error.
        self.fail_produce: tuple[int, KafkaError] | None = None

    def init_transactions(self, timeout: float) -> None:
        pass

    def begin_transaction(self) -> None:
        assert self.current is None, "a transaction is open already"
        self.current = []

    def produce(self, topic: str, value: Any = None, key: Any = None, *_: Any, **__: Any) -> None:
        assert self.current is not None, "produce outside a transaction"
        if self.fail_produce is not None and len(self.current) >= self.fail_produce[0]:
            err, self.fail_produce = self.fail_produce[1], None
            raise KafkaException(err)
        self.current.append((topic, key, value))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0

    def commit_transaction(self, timeout: float = -1) -> None:
        assert self.current is not None
        if self.fail_commit:
            raise KafkaException(self.fail_commit.pop(0))
        self.committed.append(self.current)
        self.current = None

    def abort_transaction(self, timeout: float = -1) -> None:
        self.aborted += 1
        self.current = None


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(transactions, "Producer", FakeProducer)
    monkeypatch.setattr(TransactionalKafkaSink, "_ensure_offsets_topic", lambda self: None)
    monkeypatch.setattr(TransactionalKafkaSink, "stored_position", lambda self: None)
    s = TransactionalKafkaSink("127.0.0.1:1", topic_prefix="p", commit_timeout=30)
    s._partitions.update({TOPIC: 3, OFFSETS: 1})
    s._limits[TOPIC] = 1_000_000
    assert s.open() is None
    return s


def batch(start: int, count: int, pos: int) -> Any:
    return change_batch(SIMPLE_COLUMNS, simple_rows(start, count, pos=pos))


def ids(messages: list[tuple[str, Any, Any]]) -> list[int]:
    return sorted(json.loads(k)["id"] for t, k, v in messages if t == TOPIC and v is not None)


def positions(messages: list[tuple[str, Any, Any]]) -> list[Any]:
    return [json.loads(v) for t, _, v in messages if t == OFFSETS]


def abortable(code: int = KafkaError.INVALID_PRODUCER_EPOCH) -> KafkaError:
    return KafkaError(code, "test: abortable", txn_requires_abort=True)


def test_an_abortable_commit_sends_the_transaction_again(sink: Any) -> None:
    producer = sink._producer
    sink.write("public.t", 1, batch(0, 5, 1))
    sink.write("public.t", 1, batch(5, 5, 1))
    producer.fail_commit.append(abortable())
    sink.commit({"lsn": 1})
    assert producer.aborted == 1
    [committed] = producer.committed
    assert ids(committed) == list(range(10))
    assert len(committed) == 11  # ten changes and the position, nothing twice
    assert positions(committed) == [{"lsn": 1}]
    assert sink.durable_position() == {"lsn": 1}
    # The next transaction starts clean: nothing of the first is sent again.
    sink.write("public.t", 1, batch(10, 3, 2))
    sink.commit({"lsn": 2})
    assert ids(producer.committed[1]) == [10, 11, 12]
    assert positions(producer.committed[1]) == [{"lsn": 2}]


def test_a_retriable_commit_is_retried_alone(sink: Any) -> None:
    producer = sink._producer
    sink.write("public.t", 1, batch(0, 4, 1))
    producer.fail_commit.append(KafkaError(KafkaError._TIMED_OUT, "test", retriable=True))
    sink.commit({"lsn": 1})
    assert producer.aborted == 0
    [committed] = producer.committed
    assert ids(committed) == [0, 1, 2, 3]
    assert positions(committed) == [{"lsn": 1}]


def test_a_write_failing_in_an_abortable_state_sends_everything_once(sink: Any) -> None:
    producer = sink._producer
    sink.write("public.t", 1, batch(0, 5, 1))
    # Part of the next batch gets in before the producer refuses the rest.
    producer.fail_produce = (7, KafkaError(KafkaError._STATE, "test: abortable state"))
    sink.write("public.t", 1, batch(5, 5, 1))
    sink.commit({"lsn": 1})
    assert producer.aborted == 1
    [committed] = producer.committed
    assert ids(committed) == list(range(10))


def test_a_fatal_error_stops_the_sink_for_good(sink: Any) -> None:
    producer = sink._producer
    sink.write("public.t", 1, batch(0, 2, 1))
    producer.fail_commit.append(KafkaError(KafkaError._FENCED, "test: fenced", fatal=True))
    with pytest.raises(SinkError, match="Kafka producer fenced: another run took over"):
        sink.commit({"lsn": 1})
    with pytest.raises(SinkError, match="fenced"):
        sink.write("public.t", 1, batch(2, 2, 2))
    with pytest.raises(SinkError, match="fenced"):
        sink.durable_position()
    assert producer.committed == []


def test_a_transaction_too_large_to_keep_stops_without_acknowledging(sink: Any) -> None:
    producer = sink._producer
    sink.replay_bytes = 10
    sink.write("public.t", 1, batch(0, 50, 1))
    producer.fail_commit.append(abortable())
    with pytest.raises(SinkError, match="larger than replay_bytes"):
        sink.commit({"lsn": 1})
    assert producer.committed == []
    assert sink.durable_position() is None


def test_an_abortable_error_past_the_deadline_stops(sink: Any) -> None:
    producer = sink._producer
    sink.commit_timeout = 0.0
    sink.write("public.t", 1, batch(0, 2, 1))
    producer.fail_commit.append(abortable())
    with pytest.raises(SinkError, match="failed to commit"):
        sink.commit({"lsn": 1})
    assert sink.durable_position() is None
