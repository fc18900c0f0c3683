"""PostgreSQL → Kafka comparisons on one private broker: ``arrowtail run --to kafka://`` against
Debezium's embedded engine (``benches/debezium``), live from a slot's backlog and as an initial
snapshot (beside a raw binary COPY). Latency is in :mod:`benches.latency_benches`.

A run is timed from its process start until the broker holds every expected message of the table's
topic (the sum of the partitions' high watermarks, polled every 20 ms); "first → last" is the time
from the first message to the last. Each run reads its own copy of a template slot created before
the workload (``pg_copy_logical_replication_slot``), so every run sees the same backlog without
using up the server's replication slots.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from benches import debezium
from benches import workloads as wl
from benches.harness import Sample, System, _spawn, run_worker
from benches.pg_benches import Comparison, _arrowtail_argv

POLL = 0.02  # seconds between high-watermark polls
_SERIAL = itertools.count()  # run tags (topic prefixes, slot names) unique within the process
TIMEOUT = 900.0


class TopicCounter:
    """Counts the messages of one topic by its partitions' high watermarks."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Consumer

        self.topic = topic
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "arrowtail-bench-count"}
        )
        self._partitions: list = []
        self._last = 0

    def count(self) -> int:
        """The topic's message count; while a new topic's leader is still being elected (an
        error from the broker), the last count seen, so the caller simply polls again."""
        from confluent_kafka import KafkaException, TopicPartition

        try:
            if not self._partitions:
                meta = self._consumer.list_topics(self.topic, timeout=5)
                t = meta.topics.get(self.topic)
                if t is None or t.error is not None or not t.partitions:
                    return self._last
                self._partitions = [TopicPartition(self.topic, p) for p in sorted(t.partitions)]
            self._last = sum(
                self._consumer.get_watermark_offsets(p, timeout=5)[1] for p in self._partitions
            )
        except KafkaException:
            self._partitions = []
        return self._last

    def close(self) -> None:
        self._consumer.close()


def _exited(pid: int) -> bool:
    """True once ``pid`` has exited, without reaping it (the harness reaps it for its RSS)."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None


def timed_to_topic(argv: list[str], counter: TopicCounter, n: int) -> tuple[Sample, Sample]:
    """Runs ``argv`` until ``counter`` reaches ``n``, then lets it finish by itself.

    Returns (whole run: process start → n-th message, first → n-th message); both carry the
    process's peak RSS."""
    start = time.perf_counter()
    child = _spawn(argv, stdout=subprocess.PIPE, new_session=True)
    first = None
    seen = 0
    while True:
        seen = counter.count()
        now = time.perf_counter()
        if seen and first is None:
            first = now
        if seen >= n:
            break
        if _exited(child.proc.pid) or now - start > TIMEOUT:
            if not _exited(child.proc.pid):
                os.killpg(child.proc.pid, signal.SIGKILL)  # GNU time and the command under it
            _, code, _, err = child.finish()
            raise RuntimeError(f"{argv[0]} stopped at {seen}/{n} messages ({code}): {err}")
        time.sleep(POLL)  # polling the broker's count, with the deadline above
    _, code, rss, err = child.finish()
    if code != 0:
        raise RuntimeError(f"{argv[0]} failed after {seen} messages ({code}): {err}")
    assert first is not None
    return Sample(now - start, seen, rss), Sample(max(now - first, 1e-6), seen, rss)


def _copy_slot(pg, template: str, slot: str) -> None:
    conn = pg.connect()
    conn.execute("SELECT pg_copy_logical_replication_slot(%s, %s)", (template, slot))
    conn.close()


def _drop_slot(pg, slot: str) -> None:
    conn = pg.connect()
    wl.pg_drop_slots(conn, [slot])
    conn.close()


class Contender:
    """One system of a Kafka comparison: ``argv(tag)`` is its command for the run named ``tag``
    (also its topic prefix); its samples go to a whole-run and a first → last :class:`System`."""

    def __init__(self, name: str, argv: Callable[[str], list[str]]) -> None:
        self.argv = argv
        self.whole = System(name, lambda: Sample(0, 0, 0))
        self.steady = System(name, lambda: Sample(0, 0, 0))


def arrowtail_kafka_argv(pg, work: Path, kafka, slot: str, snapshot: str) -> Callable[[str], list]:
    def argv(tag: str) -> list[str]:
        return _arrowtail_argv() + [
            "run", "--source", pg.dsn, "--slot", slot.format(tag=tag), "--publication",
            "pub_mixed", "--snapshot", snapshot, "--tables", f"{wl.SCHEMA}.mixed",
            "--to", f"kafka://{kafka.bootstrap}?topic_prefix={tag}",
            "--checkpoint", str(work / f"{tag}.checkpoint"), "--idle-exit", "0.5",
        ]  # fmt: skip

    return argv


def debezium_argv(
    pg, work: Path, kafka, classpath: str, slot: str, snapshot: str, expected: int
) -> Callable[[str], list]:
    def argv(tag: str) -> list[str]:
        config = debezium.write_config(
            work / f"{tag}.properties", pg, name=tag, slot=slot.format(tag=tag),
            publication="pub_mixed", tables=[f"{wl.SCHEMA}.mixed"], snapshot=snapshot,
            bootstrap=kafka.bootstrap, expected=expected, ready=work / f"{tag}.ready",
        )  # fmt: skip
        return debezium.argv(classpath, config)

    return argv


def _interleave(
    contenders: list[Contender],
    rounds: int,
    n: int,
    kafka,
    before: Callable[[str], None],
    after: Callable[[str], None],
    log,
    extra: list[System] = (),  # type: ignore[assignment]
) -> None:
    for r in range(rounds):
        for c in contenders:
            tag = f"{c.whole.name.split()[0].lower()}{next(_SERIAL)}"
            before(tag)
            counter = TopicCounter(kafka.bootstrap, f"{tag}.{wl.SCHEMA}.mixed")
            try:
                whole, steady = timed_to_topic(c.argv(tag), counter, n)
            finally:
                counter.close()
                after(tag)
            c.whole.samples.append(whole)
            c.steady.samples.append(steady)
            log(
                f"  round {r + 1}/{rounds} {c.whole.name}: {whole.seconds:.3f} s whole, "
                f"{steady.seconds:.3f} s first → last, {whole.rows} events, "
                f"{whole.peak_rss / 2**20:.0f} MiB"
            )
        for s in extra:
            s.samples.append(s.run())


def live(pg, kafka, work: Path, prep: dict, rounds: int, classpath: str | None, log):
    """Live PostgreSQL → Kafka from a backlog: arrowtail vs Debezium (when ``classpath``)."""
    n = prep["mixed"].changes + prep["mixed"].deletes  # a tombstone follows each delete
    contenders = [Contender("arrowtail", arrowtail_kafka_argv(pg, work, kafka, "{tag}", "never"))]
    if classpath:
        contenders.append(
            Contender(
                f"Debezium {debezium.version()}",
                debezium_argv(pg, work, kafka, classpath, "{tag}", "no_data", n),
            )
        )
    log("live PostgreSQL → Kafka")
    _interleave(
        contenders, rounds, n, kafka,
        lambda tag: _copy_slot(pg, prep["kafka_template"], tag),
        lambda tag: _drop_slot(pg, tag),
        log,
    )  # fmt: skip
    note = (
        "Each run reads the same backlog (a copy of a slot created before the workload) into "
        "its own topic on the same broker; both producers run idempotent, acks=all, zstd, "
        "linger 5 ms. Debezium: embedded engine, pgoutput, JSON without inline schemas, "
        "snapshot.mode=no_data, default batch/queue sizes, its logging off (no slf4j binding). "
        "Events are messages: a delete's "
        "tombstone counts (both systems send one, their default)."
    )
    return [
        Comparison(
            "live PostgreSQL → Kafka, process start → last event in the topic (events/s)",
            "events/s", [c.whole for c in contenders],
            [note, "Includes each process's start-up (Python or JVM) and connection set-up."],
        ),
        Comparison(
            "live PostgreSQL → Kafka, first → last event in the topic (events/s)",
            "events/s", [c.steady for c in contenders],
            [note, "Timed from the first message in the topic to the last: start-up excluded."],
        ),
    ]  # fmt: skip


def snapshot(pg, kafka, work: Path, rounds: int, classpath: str | None, log):
    """Initial snapshot of the mixed table → Kafka: arrowtail vs Debezium vs a raw COPY."""
    conn = pg.connect()
    n = conn.execute(f"SELECT count(*) FROM {wl.SCHEMA}.mixed").fetchone()[0]
    conn.close()
    contenders = [Contender("arrowtail", arrowtail_kafka_argv(pg, work, kafka, "{tag}", "initial"))]
    if classpath:
        contenders.append(
            Contender(
                f"Debezium {debezium.version()}",
                debezium_argv(pg, work, kafka, classpath, "{tag}", "initial", n),
            )
        )
    query = f"SELECT * FROM {wl.SCHEMA}.mixed"
    copy = System(
        "psycopg COPY binary → /dev/null",
        lambda: run_worker("copy-binary", {"dsn": pg.dsn, "query": query, "rows": n}),
    )
    log("snapshot → Kafka")
    _interleave(
        contenders, rounds, n, kafka, lambda tag: None, lambda tag: _drop_slot(pg, tag), log,
        [copy],
    )  # fmt: skip
    for c in contenders:
        c.whole.name += " snapshot → Kafka"
    return Comparison(
        "snapshot of the table → Kafka, process start → last row in the topic (rows/s)",
        "rows/s",
        [c.whole for c in contenders] + [copy],
        [
            "Each snapshot creates its own slot and topic. Whole process for arrowtail and "
            "Debezium (start-up, slot, COPY/SELECT, encoding, delivery); psycopg: the COPY "
            "alone inside a running process."
        ],
    )
