"""The Kafka sink: Debezium-compatible JSON messages, partitioned by primary key like Kafka's Java
producer, produced idempotently; the checkpoint advances from delivery reports.

- Topic per table: ``<topic_prefix>.<schema>.<table>`` (pseudo-tables: ``<prefix>._ddl``), or
  the name given in ``topics`` for that table. Kafka allows only ``[a-zA-Z0-9._-]`` in a topic
  name, at most 249 of them: a derived name is made valid as Debezium makes it
  (:func:`topic_name`, with a warning), and ``topic_prefix`` must be valid as it is.
- Keys and values are written by the core a slice of a batch at a time (``SLICE_BYTES`` of Arrow
  rows, :class:`arrowtail._core.DebeziumSerializer`, made once per sink), so that a batch of
  hundreds of megabytes is never held as messages whole; the partition of every message is
  computed there with Kafka's murmur2 rule and passed to the producer explicitly, because
  librdkafka's default partitioner does not match the Java one. Keyless rows and truncates go to
  partition 0. A slice of up to ``SMALL_ROWS`` rows (a live stream's transactions) comes back as
  Python lists the producer takes as they are, larger ones as Arrow arrays (Avro alike).
- The producer runs with ``enable.idempotence=true`` (so ``acks=all``, at most 5 requests in
  flight, retries without duplicates or reordering), zstd compression and a linger that fills
  batches. A full local queue (``BufferError``) is served by polling and retrying; nothing is
  dropped.
- Delivery accounting: messages belong to the commit they were written before; a commit's
  position becomes durable when it and every earlier commit have no undelivered message left
  (reports come back out of order across partitions). Any failed delivery makes ``write``,
  ``commit`` and ``durable_position`` raise :class:`~arrowtail.exceptions.SinkError`, and the
  durable position never moves past it.
- A message larger than the limit goes to the dead-letter topic (default
  ``<topic_prefix>.dlq``) with its key, no value, and headers ``arrowtail.reason``,
  ``arrowtail.topic``, ``arrowtail.table``, ``arrowtail.pos``, ``arrowtail.seq`` and
  ``arrowtail.size``. The limit of a topic is ``max_message_bytes`` or, when smaller, the topic's
  own ``max.message.bytes`` (read once per topic with the admin API), so rows the broker would
  refuse are routed before they can fail delivery.

With ``value_format="arrow"`` a batch is sent instead as Arrow IPC stream messages (no key): the
partition of each row is computed from its Debezium key bytes alone (the sink's serializer's
:meth:`~arrowtail._core.DebeziumSerializer.keys`, no JSON value is written; a key-changing update
goes with its new key), the batch is reordered once so that each partition's rows are contiguous
(a stable ``take``, so row order holds within a partition), and each partition's slice is sent as
one or more IPC messages of at most ``max_message_bytes``, with headers ``arrowtail.table``,
``arrowtail.schema_version``, ``arrowtail.first_pos`` and ``arrowtail.last_pos``. A single row
larger than the limit goes to the dead-letter topic like a Debezium message does.

With ``value_format="avro"`` keys and values are the same Debezium events in Avro, in the Confluent
wire format, their schemas registered in the schema registry at ``registry``
(:mod:`arrowtail.sinks.kafka.avro`); a batch whose schema the registry refuses stops the run before
any of its messages is written, or goes to the dead-letter topic as Debezium JSON with
``on_incompatible="dead_letter"``.

Tables named in ``outbox`` are routed as outbox tables instead
(:mod:`arrowtail.sinks.kafka.outbox`):
their inserts become events on the topic of their ``aggregatetype``, keyed by ``aggregateid``,
the payload passed through.

The per-message ``produce`` call is the one Python loop here: confluent-kafka has no batch produce
API. Everything per row before it (JSON, partitions, sizes) is done on the batch.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from arrowtail import _core
from arrowtail.exceptions import ConfigError, SinkError
from arrowtail.sinks.base import PositionJSON
from arrowtail.sinks.kafka.avro import AvroFormat, SchemaRefused
from arrowtail.sinks.kafka.outbox import OutboxRoute, outbox_routes, route_batch, topic_groups
from arrowtail.sinks.kafka.txmeta import TransactionMetadata

log = logging.getLogger("arrowtail.sinks.kafka")

DEFAULT_PRODUCER_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "zstd",
    "linger.ms": 5,
    # librdkafka leaves Nagle's algorithm on: a small produce request written while the one
    # before is unacknowledged then waits for that acknowledgement (Kafka's Java clients set
    # TCP_NODELAY). Off, a lingered batch goes out when the linger ends.
    "socket.nagle.disable": True,
    "batch.size": 1_000_000,
    # The local queue of messages not yet delivered counts against the process's memory: a
    # transaction of millions of rows is produced faster than the broker acknowledges it, so the
    # queue fills up to this bound and then write() waits (BufferError, served by polling).
    "queue.buffering.max.kbytes": 64 * 1024,
}


#: What Kafka accepts in a topic name, and how long a name may be.
TOPIC_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_TOPIC_LENGTH = 249


def topic_name(name: str) -> str:
    """``name`` as a valid Kafka topic, by Debezium's rule, so that both name a table's topic
    alike: each character Kafka does not accept becomes ``_`` (two for a character beyond the
    Basic Multilingual Plane, which is two UTF-16 units to Java), the name is cut to
    :data:`MAX_TOPIC_LENGTH`, and ``.`` and ``..``, which Kafka reserves, become ``_`` and
    ``__``."""
    valid = "".join(c if c in TOPIC_CHARACTERS else "__" if ord(c) > 0xFFFF else "_" for c in name)
    out = valid[:MAX_TOPIC_LENGTH]
    return "_" * len(out) if out in (".", "..") else out


#: Bytes of Arrow rows serialized at once (their JSON is about twice as large, and Python holds
#: the messages once more while it produces them).
SLICE_BYTES = 4 << 20

#: Rows of a slice up to which the serializer hands back its messages as Python lists rather
#: than Arrow arrays: for a few rows, arrays crossing back cost far more than the messages.
SMALL_ROWS = 256


def _slice_rows(batch: pa.RecordBatch, limit: int) -> int:
    """Rows of ``batch`` in a slice of about ``limit`` bytes (at least one). The whole buffers'
    size (no walk, and never less than the rows' bytes) settles the common small batch."""
    if batch.num_rows <= 1 or batch.get_total_buffer_size() <= limit or batch.nbytes <= limit:
        return max(batch.num_rows, 1)
    return max(1, batch.num_rows * limit // batch.nbytes)


class _Group:
    """Messages written between two commits."""

    __slots__ = ("failure", "outstanding", "position", "sink")

    def __init__(self, sink: KafkaSink) -> None:
        self.sink = sink
        self.position: PositionJSON | None = None
        self.outstanding = 0
        self.failure: str | None = None

    def on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        self.outstanding -= 1
        if err is not None:
            where = f"{msg.topic()} [{msg.partition()}]" if msg is not None else "Kafka"
            self.failure = f"delivery to {where} failed: {err.str()}"
            if self.sink._failure is None:
                self.sink._failure = self.failure


class KafkaSink:
    """Produces change batches to Kafka (see the module documentation)."""

    @property
    def wants_row_lsn(self) -> bool:
        """The Debezium encoders (JSON and Avro) name each PostgreSQL change's own WAL position
        in ``source.lsn`` and ``source.sequence``; the runner has the source add ``_lsn`` for
        them (left out of the event's columns). Arrow IPC values carry the batch as it is."""
        return self.value_format != "arrow"

    def __init__(
        self,
        bootstrap: str,
        *,
        topic_prefix: str = "arrowtail",
        topics: Mapping[str, str] | None = None,
        dead_letter_topic: str | None = None,
        max_message_bytes: int = 1_000_000,
        producer_config: Mapping[str, Any] | None = None,
        value_format: str = "debezium",
        metadata_timeout: float = 30.0,
        close_timeout: float = 30.0,
        outbox: Mapping[str, Any] | None = None,
        registry: str | None = None,
        subject_strategy: str = "topic",
        on_incompatible: str = "stop",
        transaction_metadata: bool = False,
        transaction_topic: str | None = None,
        **serialize_options: Any,
    ) -> None:
        if value_format not in ("debezium", "arrow", "avro"):
            raise ConfigError(
                f"value_format must be 'debezium', 'arrow' or 'avro', not {value_format!r}"
            )
        self._avro: AvroFormat | None = None
        if value_format == "avro":
            if not registry:
                raise ConfigError("the avro format needs a schema registry: registry=http://...")
            # With a schema at hand, decimals travel exact by default (Connect's Decimal).
            serialize_options.setdefault("decimals", "precise")
            self._avro = AvroFormat(
                registry,
                subject_strategy=subject_strategy,
                on_incompatible=on_incompatible,
                options={"topic_prefix": topic_prefix, **serialize_options},
            )
        elif registry:
            raise ConfigError("registry applies to the avro format only (format=avro)")
        if not topic_prefix or topic_name(topic_prefix) != topic_prefix:
            raise ConfigError(
                f"topic_prefix {topic_prefix!r} is no valid Kafka topic name: use the letters "
                "a-z and A-Z, digits, '.', '_' and '-'"
            )
        if transaction_metadata and value_format == "arrow":
            raise ConfigError(
                "transaction_metadata is written in the JSON and Avro formats, not in arrow"
            )
        if transaction_topic is not None and not transaction_metadata:
            raise ConfigError("transaction_topic applies only with transaction_metadata=true")
        self.value_format = value_format
        self.topic_prefix = topic_prefix
        #: Debezium's transaction metadata (:mod:`arrowtail.sinks.kafka.txmeta`), when asked for.
        self.transactions: TransactionMetadata | None = None
        self.transaction_topic = transaction_topic or f"{topic_prefix}.transaction"
        if transaction_metadata:
            if topic_name(self.transaction_topic) != self.transaction_topic:
                raise ConfigError(
                    f"transaction_topic {self.transaction_topic!r} is no valid Kafka topic name"
                )
            avro = self._avro
            register = None
            if avro is not None:
                topic = self.transaction_topic

                def register(schema: dict[str, Any], key: bool) -> int:
                    return avro.register_schema(topic, schema, key=key)

            self.transactions = TransactionMetadata(
                bool(serialize_options.get("schemas")), register
            )
        self.topics = dict(topics or {})
        #: Topics derived from table names, made valid once per table.
        self._derived: dict[str, str] = {}
        self.dead_letter_topic = dead_letter_topic or f"{topic_prefix}.dlq"
        self.max_message_bytes = max_message_bytes
        self.metadata_timeout = metadata_timeout
        self.close_timeout = close_timeout
        self._serialize_options = {"topic_prefix": topic_prefix, **serialize_options}
        #: The Debezium JSON serializer, its options checked once: the JSON format's messages, the
        #: Arrow format's keys.
        self._json: _core.DebeziumSerializer | None = None
        if value_format in ("debezium", "arrow"):
            self._json = _core.DebeziumSerializer(**self._serialize_options)
        #: Outbox tables by ``schema.table``: settings as in :func:`outbox_routes`.
        self.outbox: dict[str, OutboxRoute] = outbox_routes(outbox)
        self._config: dict[str, Any] = {
            **DEFAULT_PRODUCER_CONFIG,
            # Room for the protocol overhead above the largest message we let through.
            "message.max.bytes": max_message_bytes + 64 * 1024,
            **(producer_config or {}),
            "bootstrap.servers": bootstrap,
        }
        self._producer: Producer | None = None
        self._partitions: dict[str, int] = {}
        self._limits: dict[str, int] = {}
        self._groups: deque[_Group] = deque()
        self._current: _Group | None = None
        self._durable: PositionJSON | None = None
        self._failure: str | None = None

    # -- Sink interface ---------------------------------------------------------------------

    def open(self) -> PositionJSON | None:
        try:
            self._producer = Producer(self._config)
        except KafkaException as exc:
            raise SinkError(f"cannot create Kafka producer: {exc}") from exc
        self._current = _Group(self)
        self._groups.append(self._current)
        # Kafka keeps no checkpoint for us: the pipeline's checkpoint store does.
        return None

    def topic_for(self, table: str) -> str:
        """The topic of a ``schema.table``."""
        topic = self.topics.get(table) or self._derived.get(table)
        if topic is None:
            wanted = f"{self.topic_prefix}.{table}"
            topic = self._derived[table] = topic_name(wanted)
            if topic != wanted:
                log.warning("%s is no valid Kafka topic name: %s goes to %s", wanted, table, topic)
        return topic

    def write(self, table: str, schema_version: int, batch: pa.RecordBatch) -> None:
        producer, group = self._ready()
        if batch.num_rows == 0:
            return
        route = self.outbox.get(table)
        if route is not None:
            self._write_outbox(producer, group, table, route, batch)
            producer.poll(0)
            return
        topic = self.topic_for(table)
        n = self._partition_count(topic)
        if self.value_format == "arrow":
            self._write_arrow(producer, group, table, schema_version, topic, n, batch)
            producer.poll(0)
            return
        # A source may hand on a transaction's rows as one batch of hundreds of megabytes (a
        # spill read back); its messages are written and queued a slice at a time, so that the
        # serialized keys and values of the whole batch are never held at once.
        step = _slice_rows(batch, SLICE_BYTES)
        for offset in range(0, batch.num_rows, step):
            self._write_messages(producer, group, table, topic, n, batch.slice(offset, step))
            producer.poll(0)

    def _write_messages(
        self,
        producer: Producer,
        group: _Group,
        table: str,
        topic: str,
        n: int,
        batch: pa.RecordBatch,
    ) -> None:
        """Debezium messages (JSON or Avro) of ``batch``, dead letters for the ones too large."""
        try:
            if batch.num_rows <= SMALL_ROWS:
                key_list, value_list, part_list, largest = self._messages(table, topic, batch, n)
                if largest <= self._limit(topic):
                    self._produce_many(producer, group, topic, key_list, value_list, part_list)
                    self._count_transactions(table)
                    return
                # Some message is too large (rare): the Arrow path below sorts them out.
            keys, values, rows, parts = self._arrays(table, topic, batch, n)
            self._count_transactions(table)
        except SchemaRefused as refused:
            assert self._avro is not None
            if self._avro.on_incompatible != "dead_letter":
                raise
            letters = self._avro.dead_letters(batch, topic, table, refused)
            for key, value, headers in letters:
                self._dead_letter(group, key, headers, value)
            return
        limit = self._limit(topic)
        # No message can pass the limit when all of them together do not: the sizes of single
        # messages are only worked out otherwise (a batch of one commit's rows seldom needs it).
        # The buffers' whole sizes bound the messages' bytes, and cost no walk over them.
        if keys.get_total_buffer_size() + values.get_total_buffer_size() <= limit:
            self._produce_arrays(producer, group, topic, keys, values, parts)
            return
        sizes = pc.add(
            pc.fill_null(pc.binary_length(keys), 0), pc.fill_null(pc.binary_length(values), 0)
        )
        too_large = pc.greater(sizes, limit)
        if pc.any(too_large).as_py():
            self._dead_letters(table, topic, batch, keys, rows, sizes, too_large, group, limit)
            keep = pc.invert(too_large)
            keys, values, parts = keys.filter(keep), values.filter(keep), parts.filter(keep)
        self._produce_arrays(producer, group, topic, keys, values, parts)

    def _messages(
        self, table: str, topic: str, batch: pa.RecordBatch, n: int
    ) -> tuple[list[bytes | None], list[bytes | None], list[int], int]:
        """The batch's messages as lists and the largest one's size (JSON or Avro)."""
        carry = self.transactions.carry(table) if self.transactions is not None else None
        if self._avro is not None:
            return self._avro.messages(table, topic, batch, n, carry)
        assert self._json is not None
        return self._json.messages(batch, partitions=n, transactions=carry)

    def _arrays(
        self, table: str, topic: str, batch: pa.RecordBatch, n: int
    ) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
        """The batch's messages as Arrow arrays ``(keys, values, rows, partitions)``."""
        carry = self.transactions.carry(table) if self.transactions is not None else None
        if self._avro is not None:
            return self._avro.encode(table, topic, batch, n, carry)
        assert self._json is not None
        keys, values, rows, parts = self._json.serialize(batch, partitions=n, transactions=carry)
        if parts is None:  # cannot happen: partitions=n was given
            raise SinkError("serializer returned no partitions")
        return keys, values, rows, parts

    def _count_transactions(self, table: str) -> None:
        """Keeps the transaction counts of the batch of ``table`` just serialized."""
        if self.transactions is not None:
            serializer = self._avro if self._avro is not None else self._json
            assert serializer is not None
            self.transactions.record(table, serializer.take_transactions())

    def commit(self, position: PositionJSON) -> None:
        producer, group = self._ready()
        self._produce_transaction_events(producer, group, position)
        group.position = position
        self._current = _Group(self)
        self._groups.append(self._current)
        producer.poll(0)
        self._advance()

    def _produce_transaction_events(
        self, producer: Producer, group: _Group, position: PositionJSON
    ) -> None:
        """The ``BEGIN`` and ``END`` events of the transactions committed up to ``position``,
        when transaction metadata is written."""
        if self.transactions is None:
            return
        events = self.transactions.close(position)
        if events:
            topic = self.transaction_topic
            n = self._partition_count(topic)
            keys: list[bytes | None] = [k for k, _ in events]
            parts = _core.partitions(keys, n).to_pylist()
            self._produce_many(producer, group, topic, keys, [v for _, v in events], parts)

    def durable_position(self) -> PositionJSON | None:
        if self._producer is not None:
            self._producer.poll(0)
        self._advance()
        return self._durable

    def close(self) -> None:
        if self._producer is None:
            return
        try:
            self._producer.flush(self.close_timeout)
        finally:
            self._advance(raise_failure=False)
            self._producer = None

    # -- internals -----------------------------------------------------------------------------

    def _ready(self) -> tuple[Producer, _Group]:
        if self._producer is None or self._current is None:
            raise SinkError("KafkaSink used before open() or after close()")
        self._raise_failure()
        return self._producer, self._current

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise SinkError(
                f"Kafka sink stopped: {self._failure}; nothing after position "
                f"{self._durable} is acknowledged"
            )

    def _advance(self, *, raise_failure: bool = True) -> None:
        """Moves the durable position over every leading commit whose messages all arrived."""
        while self._groups:
            g = self._groups[0]
            if g.position is None or g.outstanding > 0 or g.failure is not None:
                break
            self._durable = g.position
            self._groups.popleft()
        if raise_failure:
            self._raise_failure()

    def _limit(self, topic: str) -> int:
        """The largest message (key + value bytes) sent to ``topic``."""
        limit = self._limits.get(topic)
        if limit is None:
            limit = self.max_message_bytes
            topic_limit = self._topic_max_message_bytes(topic)
            if topic_limit is not None:
                # Leave room for the record and batch headers the broker counts too.
                limit = min(limit, topic_limit - 512)
            self._limits[topic] = limit
        return limit

    def _topic_max_message_bytes(self, topic: str) -> int | None:
        """The topic's ``max.message.bytes``, or None when it cannot be read."""
        admin = AdminClient({"bootstrap.servers": self._config["bootstrap.servers"]})
        resource = ConfigResource(ResourceType.TOPIC, topic)
        try:
            configs = admin.describe_configs([resource])[resource].result(
                timeout=self.metadata_timeout
            )
            return int(configs["max.message.bytes"].value)
        except (KafkaException, KeyError, ValueError, TypeError):
            return None

    def _partition_count(self, topic: str) -> int:
        n = self._partitions.get(topic)
        if n is not None:
            return n
        assert self._producer is not None
        deadline = time.monotonic() + self.metadata_timeout
        last_error = "no metadata"
        while time.monotonic() < deadline:
            try:
                md = self._producer.list_topics(topic, timeout=min(5.0, self.metadata_timeout))
            except KafkaException as exc:
                last_error = str(exc)
                continue
            t = md.topics.get(topic)
            if t is not None and t.error is None and t.partitions:
                self._partitions[topic] = len(t.partitions)
                return len(t.partitions)
            last_error = str(t.error) if t is not None and t.error else "topic has no partitions"
            self._producer.poll(0.1)  # lets a just auto-created topic elect leaders
        raise SinkError(f"cannot get partitions of Kafka topic {topic}: {last_error}")

    def _produce_arrays(
        self,
        producer: Producer,
        group: _Group,
        topic: str,
        keys: pa.Array,
        values: pa.Array,
        parts: pa.Array,
    ) -> None:
        """:meth:`_produce_many` of messages given as Arrow arrays."""
        self._produce_many(
            producer, group, topic, keys.to_pylist(), values.to_pylist(), parts.to_pylist()
        )

    def _produce_many(
        self,
        producer: Producer,
        group: _Group,
        topic: str,
        keys: list[bytes | None],
        values: list[bytes | None],
        parts: list[int],
    ) -> None:
        """The hot loop: one ``produce`` per row with nothing else per row in Python. The count
        of messages in flight is added before any wait, since a wait serves delivery reports."""
        produce = producer.produce
        on_delivery = group.on_delivery
        sent = 0
        try:
            for key, value, part in zip(keys, values, parts, strict=True):
                while True:
                    try:
                        produce(topic, value, key, part, on_delivery)
                        break
                    except BufferError:
                        # The local queue is full: serve delivery reports until there is room.
                        group.outstanding += sent
                        sent = 0
                        producer.poll(0.1)
                        self._raise_failure()
                sent += 1
        except KafkaException as exc:
            raise SinkError(f"cannot produce to {topic}: {exc}") from exc
        finally:
            group.outstanding += sent

    def _produce(
        self,
        producer: Producer,
        group: _Group,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int,
        on_delivery: Any,
        headers: list[tuple[str, str | bytes | None]] | None,
    ) -> None:
        while True:
            try:
                producer.produce(
                    topic,
                    value=value,
                    key=key,
                    partition=partition,
                    on_delivery=on_delivery,
                    headers=headers,
                )
                group.outstanding += 1
                return
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                producer.poll(0.1)
                self._raise_failure()
            except KafkaException as exc:
                raise SinkError(f"cannot produce to {topic}: {exc}") from exc

    def _write_arrow(
        self,
        producer: Producer,
        group: _Group,
        table: str,
        schema_version: int,
        topic: str,
        n: int,
        batch: pa.RecordBatch,
    ) -> None:
        assert self._json is not None
        keys = self._json.keys(batch)
        parts = _core.partitions(keys, n).to_numpy()
        # One stable reorder puts each partition's rows together, in their original order; the
        # slices of the reordered batch are then zero-copy views, one per partition.
        order = np.argsort(parts, kind="stable")
        sorted_parts = parts[order]
        bounds = [0, *(np.flatnonzero(np.diff(sorted_parts)) + 1).tolist(), len(order)]
        indices = pa.array(order)
        grouped, grouped_keys = batch.take(indices), keys.take(indices)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            self._send_arrow(
                producer,
                group,
                table,
                schema_version,
                topic,
                int(sorted_parts[lo]),
                grouped.slice(lo, hi - lo),
                grouped_keys.slice(lo, hi - lo),
            )

    def _send_arrow(
        self,
        producer: Producer,
        group: _Group,
        table: str,
        schema_version: int,
        topic: str,
        part: int,
        batch: pa.RecordBatch,
        keys: pa.Array,
    ) -> None:
        data = _ipc_bytes(batch)
        limit = self._limit(topic)
        if len(data) > limit and batch.num_rows > 1:
            half = batch.num_rows // 2
            for lo, hi in ((0, half), (half, batch.num_rows)):
                self._send_arrow(
                    producer,
                    group,
                    table,
                    schema_version,
                    topic,
                    part,
                    batch.slice(lo, hi - lo),
                    keys.slice(lo, hi - lo),
                )
            return
        if len(data) > limit:
            sizes = pa.array([len(data)], pa.int64())
            self._dead_letters(
                table,
                topic,
                batch,
                keys,
                pa.array([0], pa.uint32()),
                sizes,
                pa.array([True]),
                group,
                limit,
            )
            return
        pos = batch.column("_pos")
        headers: list[tuple[str, str | bytes | None]] = [
            ("arrowtail.table", table.encode()),
            ("arrowtail.schema_version", str(schema_version).encode()),
            ("arrowtail.first_pos", str(pos[0].as_py()).encode()),
            ("arrowtail.last_pos", str(pos[-1].as_py()).encode()),
        ]
        self._produce(producer, group, topic, None, data, part, group.on_delivery, headers)

    def _write_outbox(
        self,
        producer: Producer,
        group: _Group,
        table: str,
        route: OutboxRoute,
        batch: pa.RecordBatch,
    ) -> None:
        """Produces the events of the inserts into an outbox table (module documentation)."""
        messages = route_batch(batch, route, self.topic_prefix)
        if len(messages) == 0:
            return
        # Partitions per topic: Kafka's Java rule over the aggregate id bytes. A topic Kafka
        # cannot name (an aggregate type with a space, a slash, ...) is not asked about.
        parts = np.zeros(len(messages), dtype=np.int32)
        unnamable = set()
        for name, index in topic_groups(messages.topics):
            if not name or topic_name(name) != name:
                unnamable.add(name)
                continue
            n = self._partition_count(name)
            keys = messages.keys.take(pa.array(index))
            parts[index] = _core.partitions(keys, n).to_numpy()
        on_delivery = group.on_delivery
        for (topic, key, value, headers), part in zip(messages.rows(), parts.tolist(), strict=True):
            if topic is None or topic in unnamable:
                reason = (
                    f"outbox row of {table} has no {route.aggregatetype}"
                    if topic is None
                    else f"outbox row of {table}: {topic!r} (from its {route.aggregatetype}) is"
                    " not a valid Kafka topic name"
                )
                self._dead_letter(
                    group, key, [("arrowtail.reason", reason.encode()), *headers], value
                )
                continue
            self._produce(producer, group, topic, key, value, part, on_delivery, headers)

    def _dead_letter(
        self,
        group: _Group,
        key: bytes | None,
        headers: list[tuple[str, str | bytes | None]],
        value: bytes | None = None,
    ) -> None:
        """Sends one dead letter (the key, no value unless given, the reason and position in
        headers) to the Java partition of its key (keyless: partition 0). A value given is kept
        when it fits the topic's message size. Dead letters are rare: one at a time."""
        assert self._producer is not None
        dlq = self.dead_letter_topic
        if value is not None and len(value) + len(key or b"") > self._limit(dlq):
            value = None
        n = self._partition_count(dlq)
        part = 0 if key is None else (_core.murmur2(key) & 0x7FFFFFFF) % n
        self._produce(self._producer, group, dlq, key, value, part, group.on_delivery, headers)

    def _dead_letters(
        self,
        table: str,
        topic: str,
        batch: pa.RecordBatch,
        keys: pa.Array,
        rows: pa.Array,
        sizes: pa.Array,
        too_large: pa.Array,
        group: _Group,
        limit: int,
    ) -> None:
        big_keys = keys.filter(too_large)
        big_rows = rows.filter(too_large)
        pos = batch.column("_pos").take(big_rows).to_pylist()
        seq = batch.column("_seq").take(big_rows).to_pylist()
        big_sizes = sizes.filter(too_large).to_pylist()
        for key, p, s, size in zip(big_keys.to_pylist(), pos, seq, big_sizes, strict=True):
            headers: list[tuple[str, str | bytes | None]] = [
                (
                    "arrowtail.reason",
                    f"message of {size} bytes exceeds the limit of {limit} bytes".encode(),
                ),
                ("arrowtail.topic", topic.encode()),
                ("arrowtail.table", table.encode()),
                ("arrowtail.pos", str(p).encode()),
                ("arrowtail.seq", str(s).encode()),
                ("arrowtail.size", str(size).encode()),
            ]
            self._dead_letter(group, key, headers)


def _ipc_bytes(batch: pa.RecordBatch) -> bytes:
    """One Arrow IPC stream (schema + batch + end marker); Kafka compresses it."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()
