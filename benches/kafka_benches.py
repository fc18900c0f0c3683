"""PostgreSQL → Kafka comparisons on one private broker: ``arrowtail run --to kafka://`` against
Debezium's embedded engine (``benches/debezium``), live from a slot's backlog and as an initial
snapshot (beside a raw binary COPY), and end-to-end latency at a fixed rate.

A run is timed from its process start until the broker holds every expected message of the table's
topic (the sum of the partitions' high watermarks, polled every 20 ms); "first → last" is the time
from the first message to the last. Each run reads its own copy of a template slot created before
the workload (``pg_copy_logical_replication_slot``), so every run sees the same backlog without
using up the server's replication slots.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import threading
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
        "linger 50 ms. Debezium: embedded engine, pgoutput, JSON without inline schemas, "
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


# -- latency ---------------------------------------------------------------------------------

LAT_TABLE = f"{wl.SCHEMA}.lat"


def _lat_prepare(pg) -> None:
    conn = pg.connect()
    conn.execute(f"CREATE TABLE {LAT_TABLE} (id bigserial PRIMARY KEY, kind text, v integer)")
    wl.pg_create_publication(conn, "pub_lat", [LAT_TABLE])
    conn.close()


class _Receiver(threading.Thread):
    """Consumes a topic from its current end; records (receipt - commit) in µs of 'load' rows."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"lat-{topic}",
             "enable.auto.commit": False, "fetch.wait.max.ms": 5, "fetch.min.bytes": 1}
        )  # fmt: skip
        meta = self._consumer.list_topics(topic, timeout=10).topics[topic]
        parts = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        deadline = time.monotonic() + 30
        for tp in parts:  # start at the current end: only what arrives from now on
            while True:
                try:
                    tp.offset = self._consumer.get_watermark_offsets(tp, timeout=5)[1]
                    break
                except KafkaException:  # leader not settled yet: ask again until the deadline
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        self._consumer.assign(parts)
        self.latencies_us: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            msg = self._consumer.poll(0.05)
            if msg is None or msg.error() is not None or msg.value() is None:
                continue
            now_us = time.time_ns() // 1000
            doc = json.loads(msg.value())
            doc = doc.get("payload", doc)
            if (doc.get("after") or {}).get("kind") == "load":
                self.latencies_us.append(now_us - int(doc["source"]["ts_us"]))
        self._consumer.close()


def _latency_run(pg, kafka, argv: list[str], tag: str, rate: int, seconds: float) -> list[int]:
    from arrowtail.embedded.process import spawn, stop_process

    conn = pg.connect()
    counter = TopicCounter(kafka.bootstrap, f"{tag}.{LAT_TABLE}")
    proc = spawn(argv, Path(f"/tmp/arrowtail-bench-{tag}.log"))
    try:
        deadline = time.monotonic() + 180
        while counter.count() == 0:  # ready: a ping row made it through
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} never delivered a ping (tag {tag})")
            conn.execute(f"INSERT INTO {LAT_TABLE} (kind, v) VALUES ('ping', 0)")
            time.sleep(0.2)  # one ping per 0.2 s until the condition above holds
        receiver = _Receiver(kafka.bootstrap, counter.topic)
        receiver.start()
        total = int(rate * seconds)
        t0 = time.monotonic()
        for i in range(total):
            pause = t0 + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # paces the fixed rate; not a synchronisation
            conn.execute(f"INSERT INTO {LAT_TABLE} (kind, v) VALUES ('load', %s)", (i,))
        deadline = time.monotonic() + 120
        while len(receiver.latencies_us) < total and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the receiver's count, with a deadline
        receiver.stop.set()
        receiver.join(10)
        if len(receiver.latencies_us) < total:
            raise RuntimeError(f"latency run {tag}: {len(receiver.latencies_us)}/{total} rows")
        return receiver.latencies_us
    finally:
        stop_process(proc, timeout=30)
        counter.close()
        conn.close()


def latency(pg, kafka, work: Path, rounds: int, rate: int, seconds: float, classpath, log):
    """p50/p99 commit → message-in-Kafka latency at ``rate`` single-row commits per second."""
    _lat_prepare(pg)
    runs: dict[str, Callable[[str], list[str]]] = {
        "arrowtail": lambda tag: (
            _arrowtail_argv()
            + [
                "run",
                "--source",
                pg.dsn,
                "--slot",
                tag,
                "--publication",
                "pub_lat",
                "--snapshot",
                "never",
                "--tables",
                LAT_TABLE,
                "--to",
                f"kafka://{kafka.bootstrap}?topic_prefix={tag}",
                "--checkpoint",
                str(work / f"{tag}.checkpoint"),
            ]
        ),  # fmt: skip
    }
    if classpath:
        runs[f"Debezium {debezium.version()}"] = lambda tag: debezium.argv(
            classpath,
            debezium.write_config(
                work / f"{tag}.properties", pg, name=tag, slot=tag, publication="pub_lat",
                tables=[LAT_TABLE], snapshot="no_data", bootstrap=kafka.bootstrap,
                expected=0, ready=work / f"{tag}.ready",
            ),
        )  # fmt: skip
    found: dict[str, list[int]] = {name: [] for name in runs}
    log(f"latency at {rate} commits/s for {seconds:.0f} s")
    for r in range(rounds):
        for name, argv in runs.items():
            tag = f"lat{next(_SERIAL)}"
            conn = pg.connect()
            wl.pg_create_slot(conn, tag)
            conn.close()
            try:
                lat = _latency_run(pg, kafka, argv(tag), tag, rate, seconds)
            finally:
                _drop_slot(pg, tag)
            found[name] += lat
            log(f"  round {r + 1}/{rounds} {name}: p50 {_pct(lat, 50) / 1000:.1f} ms")
    return LatencyResult(rate, seconds, rounds, found)


def _pct(values: list[int], p: float) -> float:
    s = sorted(values)
    return float(s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]) if s else 0.0


class LatencyResult:
    """Latencies (µs) per system, pooled over rounds."""

    def __init__(self, rate: int, seconds: float, rounds: int, found: dict[str, list[int]]):
        self.rate, self.seconds, self.rounds, self.found = rate, seconds, rounds, found

    def rows(self) -> list[tuple[str, int, float, float, float]]:
        """(system, messages, p50 ms, p99 ms, max ms)."""
        return [
            (name, len(v), _pct(v, 50) / 1000, _pct(v, 99) / 1000, max(v, default=0) / 1000)
            for name, v in self.found.items()
        ]
