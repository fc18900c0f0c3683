"""Exactly once into Kafka: the changes between two pipeline commits and the source position they
reach are committed in one Kafka transaction, the position as a record of a compacted offsets
topic (as Kafka Connect's exactly-once source connectors store theirs).

- ``kafka://...?exactly_once=true`` selects :class:`TransactionalKafkaSink`. Its producer has a
  ``transactional.id`` (``transactional_id``, default ``arrowtail.<topic_prefix>.<sink_name>``);
  ``init_transactions`` at open fences any earlier producer with that id and aborts the
  transaction it left open, so a killed run's unfinished messages are never committed.
- The position lives in the offsets topic (``offsets_topic``, default
  ``<topic_prefix>.arrowtail-offsets``, created compacted with one partition when missing, with
  the broker's default replication factor), key
  = ``sink_name`` (default ``arrowtail``), value = the position JSON. At open it is read back to
  the end with a ``read_committed`` consumer and returned as the sink's own checkpoint, so the
  pipeline resumes exactly where the committed messages end, whatever a ``--checkpoint`` file
  says.
- The first write after a commit begins a transaction; :meth:`commit` adds the position record
  and commits. A position is durable once ``commit_transaction`` returned: ``durable_position``
  never reports anything else. A commit with nothing written stores the position alone.
- Errors: a retriable one (a broker away for a while) is retried; an abortable one aborts the
  transaction and sends its batches again in a new one (they are kept until the commit, up to
  ``replay_bytes``; a larger transaction stops the run instead, which a restart resumes); a
  fatal one (another producer took over the ``transactional.id``: fenced) stops the run with a
  :class:`~arrowtail.exceptions.SinkError`. Nothing that failed is acknowledged. Retries end
  after ``commit_timeout`` seconds.
- A fatal error other than a fencing (librdkafka's ``INVALID_TXN_STATE`` after an outage longer
  than the messages' timeout), and an abort that makes no progress for
  :data:`STUCK_ABORT_SECONDS` (librdkafka can keep a request queued for a transaction coordinator
  it no longer reaches, after the broker came back), replace the producer: a new one with the
  same ``transactional.id`` runs ``init_transactions``, which fences the old one and has the
  coordinator abort what it left open, and the transaction's batches go again in a new
  transaction.

- With ``transaction_metadata=true`` the ``BEGIN``/``END`` events of the transactions a commit
  passes go into its Kafka transaction before the position record. The counts behind them are
  saved as each Kafka transaction begins and set back before it is sent again, so the committed
  copy counts each event once.

Consumers must read with ``isolation.level=read_committed`` (the librdkafka default, not the Java
client's) to see each change exactly once: ``read_uncommitted`` also shows messages of aborted
transactions.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from enum import Enum
from typing import Any, TypeVar

import pyarrow as pa
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from arrowtail import _core
from arrowtail.exceptions import ConfigError, SinkError
from arrowtail.sinks.base import PositionJSON
from arrowtail.sinks.kafka.sink import KafkaSink, _Group

T = TypeVar("T")

log = logging.getLogger("arrowtail.sinks.kafka")

#: A commit that takes this long (the broker away, say) is logged.
SLOW_COMMIT_SECONDS = 5.0

#: Seconds of retried ``abort_transaction`` calls after which the producer is replaced.
STUCK_ABORT_SECONDS = 30.0

#: Seconds a transaction may stay open before the broker aborts it (librdkafka's default too);
#: ``producer.transaction.timeout.ms`` changes it, up to the broker's
#: ``transaction.max.timeout.ms``.
DEFAULT_TRANSACTION_TIMEOUT_MS = 60_000


def default_offsets_topic(topic_prefix: str) -> str:
    return f"{topic_prefix}.arrowtail-offsets"


def default_transactional_id(topic_prefix: str, sink_name: str) -> str:
    return f"arrowtail.{topic_prefix}.{sink_name}"


def read_stored_position(
    bootstrap: str,
    offsets_topic: str,
    sink_name: str,
    *,
    timeout: float = 30.0,
    consumer_config: dict[str, Any] | None = None,
) -> PositionJSON | None:
    """The last committed position of ``sink_name`` in ``offsets_topic``: every partition read
    to its end with a ``read_committed`` consumer (up to the last stable offset, so a transaction
    still open is not waited for and not seen). None when the topic or the key is absent, or the
    key's last record is a tombstone."""
    consumer = Consumer(
        {
            **(consumer_config or {}),
            "bootstrap.servers": bootstrap,
            "group.id": f"arrowtail-offsets-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "allow.auto.create.topics": False,
            # The end of a partition shows as an empty fetch: do not let the broker hold it.
            "fetch.wait.max.ms": 10,
        }
    )
    try:
        try:
            md = consumer.list_topics(offsets_topic, timeout=timeout).topics.get(offsets_topic)
        except KafkaException as exc:
            raise SinkError(f"cannot read Kafka offsets topic {offsets_topic}: {exc}") from exc
        if md is None or md.error is not None or not md.partitions:
            return None
        parts = sorted(md.partitions)
        consumer.assign([TopicPartition(offsets_topic, p, OFFSET_BEGINNING) for p in parts])
        pending = set(parts)
        key = sink_name.encode()
        found: bytes | None = None
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise SinkError(
                    f"cannot read Kafka offsets topic {offsets_topic} to its end within "
                    f"{timeout:g}s (partitions {sorted(pending)} unfinished)"
                )
            for msg in consumer.consume(10_000, 0.1):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(msg.partition())
                        continue
                    raise SinkError(f"cannot read Kafka offsets topic {offsets_topic}: {err}")
                if msg.key() == key:
                    found = msg.value()
        return None if found is None else json.loads(found)
    finally:
        consumer.close()


class _Recovery(Enum):
    """What :meth:`TransactionalKafkaSink._recover` did about a failed step."""

    #: Nothing: the error is retriable, the step goes again as it was.
    RETRY = "retry"
    #: The transaction was aborted and its batches sent again in a new one.
    RESENT = "resent"
    #: The producer was replaced during a commit whose transaction had committed after all.
    COMMITTED = "committed"


class _TransactionGroup(_Group):
    """The messages of the open transaction. Their delivery reports are not needed (the
    transaction's commit tells whether all arrived), so the producer is asked for none."""

    __slots__ = ()
    on_delivery = None  # type: ignore[assignment]


class TransactionalKafkaSink(KafkaSink):
    """The Kafka sink with each commit in one Kafka transaction (see the module documentation).

    ``producer_config`` may set ``transaction.timeout.ms``; ``transactional.id`` comes from
    ``transactional_id``."""

    #: The sink keeps its own position: ``--checkpoint`` is optional.
    stores_position = True

    def __init__(
        self,
        bootstrap: str,
        *,
        transactional_id: str | None = None,
        offsets_topic: str | None = None,
        sink_name: str = "arrowtail",
        commit_timeout: float = 300.0,
        replay_bytes: int = 256 * 1024 * 1024,
        **options: Any,
    ) -> None:
        super().__init__(bootstrap, **options)
        if not sink_name:
            raise ConfigError("kafka sink option sink_name must not be empty")
        self.sink_name = sink_name
        self.transactional_id = transactional_id or default_transactional_id(
            self.topic_prefix, sink_name
        )
        self.offsets_topic = offsets_topic or default_offsets_topic(self.topic_prefix)
        self.commit_timeout = commit_timeout
        self.replay_bytes = replay_bytes
        self._config.setdefault("transaction.timeout.ms", DEFAULT_TRANSACTION_TIMEOUT_MS)
        self._config["transactional.id"] = self.transactional_id
        #: Which producer instance is current: errors reported by a replaced one are ignored.
        self._generation = 0
        self._config["error_cb"] = self._error_callback(self._generation)
        self.stuck_abort_seconds = STUCK_ABORT_SECONDS
        self._fatal: KafkaError | None = None
        self._in_transaction = False
        #: Batches of the open transaction, to send again after an abort (None: too large).
        self._sent: list[tuple[str, int, pa.RecordBatch]] | None = []
        self._sent_bytes = 0
        #: The transaction metadata's counts as the open transaction began, to count its
        #: events once when it is sent again.
        self._counts_at_begin: object | None = None

    # -- the Sink protocol ---------------------------------------------------------------------

    def open(self) -> PositionJSON | None:
        try:
            self._producer = Producer(self._config)
        except KafkaException as exc:
            raise SinkError(f"cannot create Kafka producer: {exc}") from exc
        self._current = _TransactionGroup(self)
        self._ensure_offsets_topic()
        # Fences every earlier producer with this id and aborts what it left open, so that the
        # read below is final: no transaction of ours can still commit before it.
        self._call(lambda t: self._producer_or_fail().init_transactions(t), "initialise")
        self._durable = self.stored_position()
        return self._durable

    def stored_position(self) -> PositionJSON | None:
        """The last committed position in the offsets topic, read without a producer (so it
        fences nothing): ``arrowtail status`` uses it."""
        return read_stored_position(
            self._config["bootstrap.servers"],
            self.offsets_topic,
            self.sink_name,
            timeout=self.metadata_timeout,
            consumer_config=_client_settings(self._config),
        )

    def write(self, table: str, schema_version: int, batch: pa.RecordBatch) -> None:
        with self._errors():
            self._write(table, schema_version, batch)

    def commit(self, position: PositionJSON) -> None:
        with self._errors():
            self._commit(position)

    def durable_position(self) -> PositionJSON | None:
        with self._errors():
            if self._producer is not None:
                self._producer.poll(0)
            self._raise_if_fatal()
            return self._durable

    def _write(self, table: str, schema_version: int, batch: pa.RecordBatch) -> None:
        self._mend_fatal("produce")
        if batch.num_rows == 0:
            return
        self._begin()
        self._remember(table, schema_version, batch)
        try:
            super().write(table, schema_version, batch)
        except SinkError as exc:
            # Part of the batch may be in the transaction already: never produce it twice into
            # one transaction, abort and send the whole transaction again (this batch too).
            self._recover(exc, time.monotonic() + self.commit_timeout, "produce")

    def _commit(self, position: PositionJSON) -> None:
        self._mend_fatal("commit")
        self._begin()
        record = json.dumps(position, separators=(",", ":")).encode()
        started = time.monotonic()
        deadline = started + self.commit_timeout
        stored = False
        while True:
            if not stored:
                try:
                    producer, group = self._ready()
                    self._produce_transaction_events(producer, group, position)
                    self._produce_position(record)
                    stored = True
                except (KafkaException, SinkError) as exc:
                    # Part of what closes the transaction may be in it: as for a failed write,
                    # the transaction is aborted and sent again, and this step goes again.
                    self._recover(exc, deadline, "produce")
                    continue
            try:
                remaining = max(0.1, deadline - time.monotonic())
                self._producer_or_fail().commit_transaction(remaining)
                break
            except (KafkaException, SinkError) as exc:
                outcome = self._recover(exc, deadline, "commit", committing=position)
                if outcome is _Recovery.COMMITTED:
                    break  # the old producer's commit reached the coordinator after all
                if outcome is _Recovery.RESENT:
                    stored = False  # a new transaction: the position record goes again
        self._end_transaction()
        self._counts_at_begin = None
        self._durable = position
        took = time.monotonic() - started
        if took >= SLOW_COMMIT_SECONDS:
            log.info("Kafka commit took %.1fs: the broker was slow or away", took)

    def close(self) -> None:
        producer = self._producer
        if producer is None:
            return
        try:
            if self._in_transaction and self._fatal is None:
                # What was written after the last commit belongs to no stored position.
                try:
                    producer.abort_transaction(self.close_timeout)
                except KafkaException:
                    pass  # a transaction left open is aborted by the next run's open
            producer.flush(self.close_timeout)
        finally:
            self._in_transaction = False
            self._producer = None

    # -- internals -----------------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Any Kafka error leaving a step of the sink as a SinkError: fenced and other fatal
        errors stop the run with their own message."""
        try:
            yield
        except KafkaException as exc:
            err = _kafka_error(exc)
            if self._fatal is not None or (err is not None and _is_fatal(err)):
                raise self._fatal_error(self._fatal or err) from exc
            raise SinkError(
                f"Kafka transaction failed: {exc}; nothing after position {self._durable} is stored"
            ) from exc

    def _producer_or_fail(self) -> Any:
        if self._producer is None:
            raise SinkError("KafkaSink used before open() or after close()")
        return self._producer

    def _error_callback(self, generation: int) -> Callable[[KafkaError], None]:
        def on_error(err: KafkaError) -> None:
            # A replaced producer learns that the new one fenced it: not this sink's failure.
            if generation == self._generation and err.fatal() and self._fatal is None:
                self._fatal = err

        return on_error

    def _raise_if_fatal(self) -> None:
        """Raises the producer's fatal error unless a new producer mends it (see
        :meth:`_mend_fatal`)."""
        if self._fatal is not None and self._mendable_fatal(None) is None:
            raise self._fatal_error(self._fatal)

    def _mend_fatal(self, what: str) -> None:
        """Before a step: a fatal error the producer reported since the last one either stops
        the sink or, when a new producer mends it, is mended (the open transaction's batches
        are sent again through the new producer)."""
        self._raise_if_fatal()
        if self._fatal is not None:
            deadline = time.monotonic() + self.commit_timeout
            self._recover(KafkaException(self._fatal), deadline, what)

    def _begin(self) -> None:
        if self._in_transaction:
            return
        self._call(lambda _t: self._producer_or_fail().begin_transaction(), "begin")
        self._in_transaction = True
        if self.transactions is not None:
            self._counts_at_begin = self.transactions.save()

    def _remember(self, table: str, schema_version: int, batch: pa.RecordBatch) -> None:
        if self._sent is None:
            return
        self._sent_bytes += batch.nbytes
        if self._sent_bytes > self.replay_bytes:
            self._sent = None  # too large to keep: an abort then stops the run
        else:
            self._sent.append((table, schema_version, batch))

    def _produce_position(self, record: bytes) -> None:
        producer = self._producer_or_fail()
        n = self._partition_count(self.offsets_topic)
        key = self.sink_name.encode()
        part = (_core.murmur2(key) & 0x7FFFFFFF) % n
        while True:
            try:
                producer.produce(self.offsets_topic, record, key, part)
                return
            except BufferError:
                producer.poll(0.1)

    def _recover(
        self,
        exc: Exception,
        deadline: float,
        what: str,
        *,
        committing: PositionJSON | None = None,
    ) -> _Recovery:
        """Handles a failed transactional step. Raises for a fenced producer, an error that no
        retry mends, a transaction too large to send again, or once ``deadline`` passed.

        ``committing`` is the position a failed ``commit_transaction`` was storing: its
        retriable errors give :attr:`_Recovery.RETRY`, and when the producer had to be replaced
        and the old transaction committed after all, :attr:`_Recovery.COMMITTED`. Otherwise (a
        failed write, or an abortable or other fatal error) the transaction is aborted (after a
        fatal error, by replacing the producer), its batches go again in a new one and the
        result is :attr:`_Recovery.RESENT`."""
        abort = committing is None
        while True:
            fatal = self._mendable_fatal(_kafka_error(exc))
            if fatal is not None and time.monotonic() <= deadline:
                sent = self._sent
                self._replace_producer(f"it failed: {fatal.str()}")
                self._forget_transaction()
                if self._committed_before_replacement(committing):
                    return _Recovery.COMMITTED
                cause = fatal
            else:
                err = self._check(exc, deadline, what)
                abortable = err.txn_requires_abort() or err.code() == KafkaError._STATE
                if not abort and not abortable:
                    if err.retriable() or err.code() == KafkaError._TIMED_OUT:
                        self._producer_or_fail().poll(0.1)
                        return _Recovery.RETRY
                    raise SinkError(
                        f"Kafka transaction failed to {what}: {err.str()}; nothing after "
                        f"position {self._durable} is stored"
                    ) from exc
                if abort and not abortable:
                    raise SinkError(
                        f"Kafka transaction failed to {what}: {err.str()}; nothing after "
                        f"position {self._durable} is stored"
                    ) from exc
                sent = self._sent
                if self._abort(deadline) and self._committed_before_replacement(committing):
                    return _Recovery.COMMITTED
                cause = err
            if sent is None:
                raise SinkError(
                    f"Kafka transaction aborted ({cause.str()}), and it is larger than "
                    f"replay_bytes ({self.replay_bytes}) to send again: stopping; nothing after "
                    f"position {self._durable} is stored, a restart resumes from there"
                ) from exc
            log.warning(
                "Kafka transaction aborted (%s): sending its %d batches again in a new one",
                cause.str(),
                len(sent),
            )
            try:
                if self.transactions is not None and self._counts_at_begin is not None:
                    # The aborted transaction's events (and any BEGIN/END it held) are counted
                    # again as they go again.
                    self.transactions.restore(self._counts_at_begin)
                self._begin()
                for table, version, batch in sent:
                    self._remember(table, version, batch)
                    KafkaSink.write(self, table, version, batch)
                return _Recovery.RESENT
            except (KafkaException, SinkError) as again:
                exc, abort = again, True

    def _check(self, exc: Exception, deadline: float, what: str) -> KafkaError:
        """The KafkaError behind ``exc``; raises when there is none, when it is fatal or when
        ``deadline`` passed."""
        err = _kafka_error(exc)
        if self._fatal is not None or (err is not None and _is_fatal(err)):
            raise self._fatal_error(self._fatal or err) from exc
        if err is None:
            raise exc
        if time.monotonic() > deadline:
            raise SinkError(
                f"Kafka transaction failed to {what} for {self.commit_timeout:g}s: "
                f"{err.str()}; nothing after position {self._durable} is stored"
            ) from exc
        return err

    def _mendable_fatal(self, err: KafkaError | None) -> KafkaError | None:
        """The fatal error of the current producer (``err``, or what its error callback
        reported) when a new producer mends it: its cause is known and is not a fencing
        (another run took over, or the broker timed the transaction out). Otherwise None."""
        producer = self._producer
        if self._fatal is None and err is not None and _is_fatal(err) and producer is not None:
            with suppress(KafkaException):
                producer.poll(0)  # the error callback names the fatal error's cause
        fatal = self._fatal or (err if err is not None and _is_fatal(err) else None)
        if fatal is None or fatal.code() in _FENCED or fatal.code() == KafkaError._FATAL:
            return None
        return fatal

    def _committed_before_replacement(self, committing: PositionJSON | None) -> bool:
        """After the producer was replaced during a commit of ``committing``: whether the old
        one's transaction committed after all (its commit request reached the coordinator, which
        then completes it rather than abort it), read back from the offsets topic. Its batches
        must then not go again."""
        if committing is None or self.stored_position() != committing:
            return False
        log.warning("the replaced Kafka producer's transaction was committed: nothing goes again")
        return True

    def _abort(self, deadline: float) -> bool:
        """Aborts the open transaction; True when that took a new producer."""
        producer = self._producer_or_fail()
        replaced = False
        stuck = time.monotonic() + self.stuck_abort_seconds
        while True:
            try:
                limit = min(deadline, stuck)
                producer.abort_transaction(max(0.1, limit - time.monotonic()))
                break
            except KafkaException as exc:
                err = exc.args[0]
                if _is_fatal(err) or self._fatal is not None:
                    fatal = self._mendable_fatal(err)
                    if fatal is None:
                        raise self._fatal_error(self._fatal or err) from exc
                    del producer
                    self._replace_producer(f"its abort failed: {fatal.str()}")
                    replaced = True
                    break
                if time.monotonic() > deadline or not err.retriable():
                    raise SinkError(
                        f"cannot abort Kafka transaction: {err.str()}; nothing after position "
                        f"{self._durable} is stored"
                    ) from exc
                if time.monotonic() >= stuck:
                    del producer
                    self._replace_producer(
                        f"its abort made no progress for {self.stuck_abort_seconds:g}s "
                        f"({err.str()})"
                    )
                    replaced = True
                    break
        self._forget_transaction()
        return replaced

    def _end_transaction(self) -> None:
        """The transaction ended (committed or aborted): the next write begins a new one."""
        self._in_transaction = False
        self._sent = []
        self._sent_bytes = 0

    def _forget_transaction(self) -> None:
        """Forgets the aborted transaction and any delivery failure of its messages."""
        self._end_transaction()
        self._current = _TransactionGroup(self)
        self._failure = None

    def _replace_producer(self, why: str) -> None:
        """Drops the current producer and starts a new one with the same ``transactional.id``:
        its ``init_transactions`` fences the old one and has the coordinator abort the
        transaction the old one left open (so nothing of it can be committed any more)."""
        log.warning(
            "replacing the Kafka producer of transactional.id %r: %s", self.transactional_id, why
        )
        old, self._producer = self._producer, None
        self._generation += 1
        self._fatal = None
        if old is not None:
            with suppress(KafkaException, RuntimeError):
                # Its undelivered messages belong to the aborted transaction.
                old.purge(blocking=False)
            del old
        config = dict(self._config)
        config["error_cb"] = self._error_callback(self._generation)
        try:
            self._producer = Producer(config)
        except KafkaException as exc:
            raise SinkError(f"cannot create Kafka producer: {exc}") from exc
        self._call(lambda t: self._producer_or_fail().init_transactions(t), "initialise")

    def _call(self, step: Callable[[float], T], what: str) -> T:
        """Runs one transactional call, retrying retriable errors until ``commit_timeout``."""
        deadline = time.monotonic() + self.commit_timeout
        while True:
            try:
                return step(max(0.1, deadline - time.monotonic()))
            except KafkaException as exc:
                err = exc.args[0]
                if _is_fatal(err) or self._fatal is not None:
                    raise self._fatal_error(self._fatal or err) from exc
                if not err.retriable() or time.monotonic() > deadline:
                    raise SinkError(
                        f"cannot {what} a Kafka transaction (transactional.id "
                        f"{self.transactional_id!r}): {err.str()}"
                    ) from exc

    def _fatal_error(self, err: KafkaError | None) -> SinkError:
        """The error a fatal producer error stops the run with; from now on every call of the
        sink raises it."""
        if self._fatal is None and self._producer is not None:
            with suppress(KafkaException):
                self._producer.poll(0)  # the error callback names the fatal error's cause
        if self._fatal is None and err is not None and err.code() != KafkaError._FATAL:
            self._fatal = err
        err = self._fatal or err
        text = err.str() if err is not None else "fatal producer error"
        fenced = err is not None and err.code() in _FENCED
        if fenced:
            return SinkError(
                f"Kafka producer fenced: another run took over transactional.id "
                f"{self.transactional_id!r}, or the broker aborted a transaction open longer than "
                f"transaction.timeout.ms ({self._config['transaction.timeout.ms']} ms); this run "
                f"stops and writes nothing more (last stored position {self._durable})"
            )
        return SinkError(
            f"Kafka transactional producer failed ({text}); this run stops, nothing after "
            f"position {self._durable} is stored"
        )

    def _ensure_offsets_topic(self) -> None:
        """Creates the offsets topic, compacted with one partition, when it is missing."""
        admin = AdminClient(_client_settings(self._config))
        topic = NewTopic(
            self.offsets_topic,
            num_partitions=1,
            replication_factor=-1,  # the broker's default.replication.factor
            # Compaction only cleans closed segments: roll them hourly so the topic stays short
            # and reading it back at open stays quick.
            config={"cleanup.policy": "compact", "segment.ms": "3600000"},
        )
        try:
            admin.create_topics([topic])[self.offsets_topic].result(timeout=self.metadata_timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise SinkError(
                    f"cannot create Kafka offsets topic {self.offsets_topic}: {exc}"
                ) from exc


#: Fatal errors that mean this producer lost its ``transactional.id`` (another run took over,
#: or the broker aborted a transaction open longer than its timeout): the run stops.
_FENCED = (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)


def _is_fatal(err: KafkaError) -> bool:
    return bool(err.fatal()) or err.code() == KafkaError._FATAL


def _kafka_error(exc: BaseException) -> KafkaError | None:
    """The KafkaError behind ``exc`` (directly, or as the cause of a SinkError)."""
    for e in (exc, exc.__cause__):
        if isinstance(e, KafkaException) and e.args and isinstance(e.args[0], KafkaError):
            return e.args[0]
    return None


#: Producer settings that are about the connection, so that consumers and admin clients of the
#: sink reach the same brokers the same way.
_CLIENT_PREFIXES = ("bootstrap.servers", "security.", "ssl.", "sasl.", "client.", "socket.")


def _client_settings(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k.startswith(_CLIENT_PREFIXES)}
