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
TX_TOPIC = "p.transaction"


class FakeProducer:
    """The transactional calls of confluent_kafka.Producer, recording each transaction."""

    #: Every producer made, in order.
    made: list[FakeProducer] = []

    def __init__(self, config: dict[str, Any]) -> None:
        FakeProducer.made.append(self)
        self.config = config
        self.inits = 0
        self.purged = False
        #: Errors the next abort_transaction calls raise, one each.
        self.fail_abort: list[KafkaError] = []
        self.current: list[tuple[str, Any, Any]] | None = None
        self.committed: list[list[tuple[str, Any, Any]]] = []
        self.aborted = 0
        self.fail_commit: list[KafkaError] = []
        #: The produce that would put more than this many messages in the transaction fails
        #: once, with this error.
        self.fail_produce: tuple[int, KafkaError] | None = None

    def init_transactions(self, timeout: float) -> None:
        self.inits += 1

    def purge(self, in_queue: bool = True, in_flight: bool = True, blocking: bool = True) -> None:
        self.purged = True

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
        if self.fail_abort:
            raise KafkaException(self.fail_abort.pop(0))
        self.aborted += 1
        self.current = None


def open_sink(monkeypatch: pytest.MonkeyPatch, **options: Any) -> Any:
    """An open sink on stand-in producers, with ``options`` and the topics' partitions known."""
    monkeypatch.setattr(transactions, "Producer", FakeProducer)
    FakeProducer.made = []
    monkeypatch.setattr(TransactionalKafkaSink, "_ensure_offsets_topic", lambda self: None)
    monkeypatch.setattr(TransactionalKafkaSink, "stored_position", lambda self: None)
    s = TransactionalKafkaSink("127.0.0.1:1", topic_prefix="p", commit_timeout=30, **options)
    s._partitions.update({TOPIC: 3, OFFSETS: 1, TX_TOPIC: 1})
    s._limits[TOPIC] = 1_000_000
    assert s.open() is None
    return s


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Any:
    return open_sink(monkeypatch)


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


def test_an_abort_that_makes_no_progress_replaces_the_producer(sink: Any) -> None:
    first = sink._producer
    sink.stuck_abort_seconds = 0.0
    sink.write("public.t", 1, batch(0, 5, 1))
    first.fail_commit.append(abortable())
    timed_out = KafkaError(KafkaError._TIMED_OUT, "test: coordinator unreachable", retriable=True)
    first.fail_abort = [timed_out, timed_out]
    sink.commit({"lsn": 1})
    # The stuck producer was dropped with its queue; the new one, with the same id, fenced it
    # (init_transactions) and committed the transaction's changes once, with the position.
    assert len(FakeProducer.made) == 2 and first.purged
    second = sink._producer
    assert second is FakeProducer.made[1] and second.inits == 1
    assert second.config["transactional.id"] == first.config["transactional.id"]
    assert first.committed == [] and first.aborted == 0
    [committed] = second.committed
    assert ids(committed) == list(range(5))
    assert positions(committed) == [{"lsn": 1}]
    assert sink.durable_position() == {"lsn": 1}
    # The fenced producer's fatal error is its own, not the sink's.
    first.config["error_cb"](KafkaError(KafkaError._FENCED, "test: fenced", fatal=True))
    sink.write("public.t", 1, batch(5, 2, 2))
    sink.commit({"lsn": 2})
    assert ids(second.committed[1]) == [5, 6]
    # The current producer's fatal error still stops the sink.
    second.config["error_cb"](KafkaError(KafkaError._FENCED, "test: fenced", fatal=True))
    with pytest.raises(SinkError, match="fenced"):
        sink.durable_position()


def test_an_abort_failing_until_the_deadline_stops_without_acknowledging(sink: Any) -> None:
    first = sink._producer
    sink.commit_timeout = 0.2  # shorter than the wait before a replacement
    sink.write("public.t", 1, batch(0, 2, 1))
    first.fail_commit.append(abortable())
    first.fail_abort = [KafkaError(KafkaError._TIMED_OUT, "test", retriable=True)] * 10**6
    with pytest.raises(SinkError, match="cannot abort Kafka transaction"):
        sink.commit({"lsn": 1})
    assert len(FakeProducer.made) == 1
    assert first.committed == []
    assert sink.durable_position() is None


def test_a_fatal_error_other_than_fencing_replaces_the_producer(sink: Any) -> None:
    first = sink._producer
    sink.write("public.t", 1, batch(0, 4, 1))
    invalid = KafkaError(KafkaError.INVALID_TXN_STATE, "test: invalid state", fatal=True)
    first.fail_commit.append(invalid)
    sink.commit({"lsn": 1})
    second = sink._producer
    assert len(FakeProducer.made) == 2 and second.inits == 1 and first.purged
    assert first.committed == []
    [committed] = second.committed
    assert ids(committed) == [0, 1, 2, 3] and positions(committed) == [{"lsn": 1}]
    assert sink.durable_position() == {"lsn": 1}


def test_a_fatal_error_reported_between_steps_is_mended_at_the_next(sink: Any) -> None:
    first = sink._producer
    sink.write("public.t", 1, batch(0, 3, 1))
    # The producer's error callback reports it while the sink is idle.
    first.config["error_cb"](
        KafkaError(KafkaError.INVALID_TXN_STATE, "test: invalid state", fatal=True)
    )
    assert sink.durable_position() is None  # nothing lost, nothing claimed
    sink.write("public.t", 1, batch(3, 2, 1))
    sink.commit({"lsn": 1})
    second = sink._producer
    assert second is not first and first.committed == []
    [committed] = second.committed
    assert ids(committed) == [0, 1, 2, 3, 4] and len(committed) == 6


def test_a_commit_that_landed_before_the_replacement_is_not_sent_again(
    sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = sink._producer
    sink.write("public.t", 1, batch(0, 4, 1))
    # The commit request reached the coordinator, which completes it when the new producer
    # initialises: the offsets topic then holds the position being committed.
    first.fail_commit.append(
        KafkaError(KafkaError.INVALID_TXN_STATE, "test: invalid state", fatal=True)
    )
    monkeypatch.setattr(TransactionalKafkaSink, "stored_position", lambda self: {"lsn": 1})
    sink.commit({"lsn": 1})
    second = sink._producer
    assert len(FakeProducer.made) == 2 and second.committed == [] and second.current is None
    assert sink.durable_position() == {"lsn": 1}
    sink.write("public.t", 1, batch(4, 2, 2))
    sink.commit({"lsn": 2})
    [committed] = second.committed
    assert ids(committed) == [4, 5] and positions(committed) == [{"lsn": 2}]


# -- transaction metadata (transaction_metadata=true) in a transaction sent again -------------


@pytest.fixture
def meta_sink(monkeypatch: pytest.MonkeyPatch) -> Any:
    return open_sink(monkeypatch, transaction_metadata=True)


def tx_batch(start: int, count: int, pos: int, xid: int, first_seq: int = 0) -> Any:
    """Rows ``start..`` of transaction ``xid``, the first of them its change ``first_seq``."""
    rows = simple_rows(start, count, pos=pos)
    rows = [{**row, "_xid": xid, "_seq": first_seq + i} for i, row in enumerate(rows)]
    return change_batch(SIMPLE_COLUMNS, rows)


def blocks(messages: list[tuple[str, Any, Any]]) -> list[tuple[int, str, int, int]]:
    """``(row id, transaction id, total_order, data_collection_order)`` of each data event."""
    out = []
    for topic, key, value in messages:
        if topic == TOPIC and value is not None:
            tx = json.loads(value)["transaction"]
            out.append(
                (json.loads(key)["id"], tx["id"], tx["total_order"], tx["data_collection_order"])
            )
    return sorted(out)


def tx_events(messages: list[tuple[str, Any, Any]]) -> list[tuple[str, str, int | None]]:
    """``(status, id, event_count)`` of each transaction event, in the order produced."""
    out = []
    for topic, _key, value in messages:
        if topic == TX_TOPIC:
            v = json.loads(value)
            out.append((v["status"], v["id"], v["event_count"]))
    return out


def test_metadata_of_a_transaction_sent_again_counts_each_event_once(meta_sink: Any) -> None:
    producer = meta_sink._producer
    meta_sink.write("public.t", 1, tx_batch(0, 3, 100, 7))
    meta_sink.write("public.t", 1, tx_batch(3, 2, 100, 7, first_seq=3))
    producer.fail_commit.append(abortable())
    meta_sink.commit({"lsn": 100})
    assert producer.aborted == 1
    [committed] = producer.committed
    # As if nothing had failed: orders 1..5, one BEGIN and one END that counts five.
    assert [b[2:] for b in blocks(committed)] == [(n, n) for n in range(1, 6)]
    assert [(s, n) for s, _, n in tx_events(committed)] == [("BEGIN", None), ("END", 5)]
    assert positions(committed) == [{"lsn": 100}]
    # The position record comes after the events that close its transactions.
    assert [t for t, _, _ in committed][-3:] == [TX_TOPIC, TX_TOPIC, OFFSETS]
    # The next transaction counts from one again, and nothing of the first is closed twice.
    meta_sink.write("public.t", 1, tx_batch(5, 2, 200, 8))
    meta_sink.commit({"lsn": 200})
    assert [b[2:] for b in blocks(producer.committed[1])] == [(1, 1), (2, 2)]
    assert [(s, n) for s, _, n in tx_events(producer.committed[1])] == [
        ("BEGIN", None),
        ("END", 2),
    ]


def test_metadata_after_a_write_failing_part_way_counts_each_event_once(
    meta_sink: Any,
) -> None:
    producer = meta_sink._producer
    meta_sink.write("public.t", 1, tx_batch(0, 4, 100, 7))
    producer.fail_produce = (6, KafkaError(KafkaError._STATE, "test: abortable state"))
    meta_sink.write("public.t", 1, tx_batch(4, 4, 100, 7, first_seq=4))
    meta_sink.commit({"lsn": 100})
    assert producer.aborted == 1
    [committed] = producer.committed
    assert [b[2:] for b in blocks(committed)] == [(n, n) for n in range(1, 9)]
    assert [(s, n) for s, _, n in tx_events(committed)] == [("BEGIN", None), ("END", 8)]


def test_a_failure_among_the_transaction_events_sends_the_transaction_again(
    meta_sink: Any,
) -> None:
    producer = meta_sink._producer
    meta_sink.write("public.t", 1, tx_batch(0, 3, 100, 7))
    meta_sink.write("public.t", 1, tx_batch(3, 1, 200, 8))
    # Three data events and the first transaction's BEGIN get in, then the producer refuses.
    producer.fail_produce = (4, KafkaError(KafkaError._STATE, "test: abortable state"))
    meta_sink.commit({"lsn": 200})
    assert producer.aborted == 1
    [committed] = producer.committed
    assert [(s, n) for s, _, n in tx_events(committed)] == [
        ("BEGIN", None),
        ("END", 3),
        ("BEGIN", None),
        ("END", 1),
    ]
    assert ids(committed) == [0, 1, 2, 3] and positions(committed) == [{"lsn": 200}]
    assert [b[2:] for b in blocks(committed)] == [(1, 1), (2, 2), (3, 3), (1, 1)]


def test_a_fatal_error_between_transactions_keeps_the_counts_of_the_last_commit(
    meta_sink: Any,
) -> None:
    first = meta_sink._producer
    meta_sink.write("public.t", 1, tx_batch(0, 2, 100, 7))
    # Transaction 8's first changes go in the same Kafka transaction, before its commit.
    meta_sink.write("public.t", 1, tx_batch(2, 2, 200, 8))
    meta_sink.commit({"lsn": 100})
    first.config["error_cb"](
        KafkaError(KafkaError.INVALID_TXN_STATE, "test: invalid state", fatal=True)
    )
    meta_sink.write("public.t", 1, tx_batch(4, 1, 200, 8, first_seq=2))
    meta_sink.commit({"lsn": 200})
    second = meta_sink._producer
    assert second is not first
    [committed] = second.committed
    # Transaction 7 is not closed again, and 8 counts the events the last commit stored.
    assert [(s, n) for s, _, n in tx_events(committed)] == [("BEGIN", None), ("END", 3)]
    assert [b[2:] for b in blocks(committed)] == [(3, 3)]
