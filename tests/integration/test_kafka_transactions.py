"""The exactly-once Kafka sink against a real broker: the offsets topic read back, one transaction
per commit (what follows the last commit is never visible to ``read_committed`` consumers), a
killed producer's open transaction aborted by the next open, and fencing of a second producer
with the same ``transactional.id``."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer

from arrowtail.exceptions import ConfigError, SinkError
from arrowtail.sinks import open_sink
from arrowtail.sinks.kafka.sink import KafkaSink
from arrowtail.sinks.kafka.transactions import (
    TransactionalKafkaSink,
    read_stored_position,
)
from tests.support.batches import SIMPLE_COLUMNS, change_batch, simple_rows
from tests.support.cli import cli
from tests.support.kafka_exactly_once import read_to_end
from tests.support.kafka_topics import create_topic


@pytest.fixture
def prefix() -> str:
    return f"x{uuid.uuid4().hex[:10]}"


def ids(messages: list[Any]) -> list[int]:
    return sorted(json.loads(m.key())["id"] for m in messages if m.value() is not None)


def batch(start: int, count: int, pos: int) -> Any:
    return change_batch(SIMPLE_COLUMNS, simple_rows(start, count, pos=pos))


def test_url_options_select_the_transactional_sink() -> None:
    sink = open_sink(
        "kafka://127.0.0.1:1?topic_prefix=shop&exactly_once=true&sink_name=eu"
        "&offsets_topic=shop.pos&producer.transaction.timeout.ms=30000"
    )
    assert isinstance(sink, TransactionalKafkaSink)
    assert (sink.transactional_id, sink.offsets_topic, sink.sink_name) == (
        "arrowtail.shop.eu",
        "shop.pos",
        "eu",
    )
    assert sink._config["transactional.id"] == "arrowtail.shop.eu"
    assert sink._config["transaction.timeout.ms"] == "30000"
    named = open_sink("kafka://127.0.0.1:1?exactly_once=1&transactional_id=cdc-1")
    assert isinstance(named, TransactionalKafkaSink)
    assert named.transactional_id == "cdc-1"
    assert named.offsets_topic == "arrowtail.arrowtail-offsets"
    plain = open_sink("kafka://127.0.0.1:1?exactly_once=false")
    assert type(plain) is KafkaSink
    with pytest.raises(ConfigError, match="transactional_id applies only with exactly_once"):
        open_sink("kafka://127.0.0.1:1?transactional_id=x")


def test_offsets_topic_read_back(kafka: Any, prefix: str) -> None:
    topic = f"{prefix}.offsets"
    # No topic yet: no position.
    assert read_stored_position(kafka.bootstrap, topic, "a") is None
    create_topic(kafka.bootstrap, topic, 3, {"cleanup.policy": "compact"})
    assert read_stored_position(kafka.bootstrap, topic, "a") is None
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "transactional.id": f"{prefix}-p"})
    producer.init_transactions(30)

    def store(key: str, value: bytes | None, partition: int, *, commit: bool = True) -> None:
        producer.begin_transaction()
        producer.produce(topic, value, key.encode(), partition)
        if commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)

    # A key always goes to one partition (the sink puts it in the Java partition of the key).
    store("a", b'{"lsn":1}', 2)
    store("b", b'{"lsn":50}', 1)
    store("a", b'{"lsn":2}', 2)  # the last record of a key wins
    store("a", b'{"lsn":3}', 2, commit=False)  # aborted: never read
    assert read_stored_position(kafka.bootstrap, topic, "a") == {"lsn": 2}
    assert read_stored_position(kafka.bootstrap, topic, "b") == {"lsn": 50}
    assert read_stored_position(kafka.bootstrap, topic, "c") is None
    # A transaction still open is not waited for and not seen.
    producer.begin_transaction()
    producer.produce(topic, b'{"lsn":4}', b"a", 2)
    producer.flush(30)
    assert read_stored_position(kafka.bootstrap, topic, "a") == {"lsn": 2}
    producer.commit_transaction(30)
    assert read_stored_position(kafka.bootstrap, topic, "a") == {"lsn": 4}
    store("a", None, 2)  # a tombstone forgets the position
    assert read_stored_position(kafka.bootstrap, topic, "a") is None


def test_each_commit_is_one_transaction_with_its_position(kafka: Any, prefix: str) -> None:
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 3)
    sink = TransactionalKafkaSink(kafka.bootstrap, topic_prefix=prefix)
    assert sink.open() is None
    sink.write("public.t", 1, batch(0, 50, 10))
    sink.commit({"lsn": 10})
    assert sink.durable_position() == {"lsn": 10}
    sink.write("public.t", 1, batch(50, 50, 20))
    sink.write("public.t", 1, batch(100, 50, 20))
    sink.commit({"lsn": 20})
    sink.commit({"lsn": 25})  # a position with no changes is stored on its own
    sink.write("public.t", 1, batch(150, 50, 30))
    # Written, not committed: in the log, invisible to read_committed, not durable.
    sink._producer.flush(30)
    assert sink.durable_position() == {"lsn": 25}
    assert ids(read_to_end(kafka.bootstrap, [topic])) == list(range(150))
    assert len(read_to_end(kafka.bootstrap, [topic], committed=False)) == 200
    assert sink.stored_position() == {"lsn": 25}
    # A clean close aborts what no commit covers.
    sink.close()
    assert ids(read_to_end(kafka.bootstrap, [topic])) == list(range(150))

    offsets = read_to_end(kafka.bootstrap, [f"{prefix}.arrowtail-offsets"])
    assert [(m.key(), json.loads(m.value())) for m in offsets] == [
        (b"arrowtail", {"lsn": 10}),
        (b"arrowtail", {"lsn": 20}),
        (b"arrowtail", {"lsn": 25}),
    ]
    again = TransactionalKafkaSink(kafka.bootstrap, topic_prefix=prefix)
    assert again.open() == {"lsn": 25}
    again.close()
    # `status` reads the stored position without a producer: it fences no running run.
    url = f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&exactly_once=true"
    done = cli("status", "--to", url, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["sink_checkpoint"] == {"lsn": 25}


def test_open_aborts_what_a_killed_run_left_open(kafka: Any, prefix: str) -> None:
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 3)
    first = TransactionalKafkaSink(kafka.bootstrap, topic_prefix=prefix)
    first.open()
    first.write("public.t", 1, batch(0, 20, 10))
    first.commit({"lsn": 10})
    first.write("public.t", 1, batch(20, 20, 20))
    first._producer.flush(30)
    # Killed here: no close, no commit. The transaction stays open in the broker, and holds
    # read_committed consumers back, until a producer with the same id opens.
    restarted = TransactionalKafkaSink(kafka.bootstrap, topic_prefix=prefix)
    assert restarted.open() == {"lsn": 10}
    assert ids(read_to_end(kafka.bootstrap, [topic])) == list(range(20))
    restarted.write("public.t", 1, batch(20, 20, 20))
    restarted.commit({"lsn": 20})
    restarted.close()
    assert ids(read_to_end(kafka.bootstrap, [topic])) == list(range(40))
    assert len(read_to_end(kafka.bootstrap, [topic], committed=False)) == 60


def test_a_second_producer_with_the_same_id_fences_the_first(kafka: Any, prefix: str) -> None:
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 3)
    zombie = TransactionalKafkaSink(kafka.bootstrap, topic_prefix=prefix, sink_name="a")
    zombie.open()
    zombie.write("public.t", 1, batch(0, 10, 10))
    zombie.commit({"lsn": 10})
    # Another sink name, same transactional id: the newcomer takes the id over.
    newcomer = TransactionalKafkaSink(
        kafka.bootstrap,
        topic_prefix=prefix,
        sink_name="b",
        transactional_id=zombie.transactional_id,
    )
    assert newcomer.open() is None
    with pytest.raises(SinkError, match="fenced: another run took over transactional.id"):
        zombie.write("public.t", 1, batch(10, 10, 20))
        zombie.commit({"lsn": 20})
    with pytest.raises(SinkError, match="fenced"):
        zombie.commit({"lsn": 30})
    assert zombie.stored_position() == {"lsn": 10}
    zombie.close()
    newcomer.write("public.t", 1, batch(100, 10, 40))
    newcomer.commit({"lsn": 40})
    newcomer.close()
    assert ids(read_to_end(kafka.bootstrap, [topic])) == [*range(10), *range(100, 110)]
    offsets = f"{prefix}.arrowtail-offsets"
    assert read_stored_position(kafka.bootstrap, offsets, "a") == {"lsn": 10}
    assert read_stored_position(kafka.bootstrap, offsets, "b") == {"lsn": 40}
