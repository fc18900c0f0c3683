"""Commit → consumer latency at fixed commit rates: arrowtail (PostgreSQL → Kafka), Debezium
(when its jars resolve) and two floors: PostgreSQL's own ``pg_recvlogical`` receiving the same
commits through a ``test_decoding`` slot — what any logical-replication client could see at best —
and a bare producer sending one message per commit through the same broker to the same consumer
while the same load runs — what any Kafka system could see at best on this machine.

Each system gets a fresh slot on the same table; a ping row proves it is streaming before the
timed load starts. The load is single-row INSERT commits from ``pgbench`` at a given mean rate
(a Poisson schedule) over one or more connections (one per 1,000 commits/s), each with
``synchronous_commit = on``: the test server
runs with it off, which leaves a commit unsent until the WAL writer flushes it (up to three
``wal_writer_delay`` periods, 600 ms by default) and would measure the server's setting, not the
reader. Latency is the time the receiver here got the change minus the commit time the change
carries (the server's clock, on the same machine): for Kafka systems the consumer's receipt of the
message (``fetch.wait.max.ms`` 5, reading from the topic's end), for the floor the moment
``pg_recvlogical`` printed the transaction's COMMIT line.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from benches import debezium
from benches import workloads as wl
from benches.kafka_benches import TopicCounter, _drop_slot
from benches.pg_benches import _arrowtail_argv

LAT_TABLE = f"{wl.SCHEMA}.lat"
FLOOR = "pg_recvlogical (floor)"
#: The other floor: a bare producer with the Kafka sink's producer settings sending one message
#: per commit of the same load (run beside it), stamped with its own send time, to the same
#: consumer — the broker and consumer leg every Kafka system shares, with no reader in front.
BROKER_FLOOR = "bare producer → consumer (broker floor)"
#: Suffix of the rows that stop the clock at the producer's ``produce``/``send`` call (the
#: message's CreateTime, whole milliseconds): the part of the latency the system itself adds,
#: before the shared path of broker and consumer.
PRODUCED = " → produce call"
#: Debezium's ``poll.interval.ms`` in the latency runs: its queue hands on what it has after
#: this long (500 ms by default, which waits for a batch of 2,048 changes to fill).
DEBEZIUM_POLL_MS = 5
#: Seconds of Kafka load before the measured rounds (at most as long as a round).
WARM_UP_SECONDS = 10.0
#: Single-row commits per second one load connection is asked for at most.
PER_CONNECTION = 1000

_SERIAL = itertools.count()


def _prepare(pg) -> None:
    conn = pg.connect()
    conn.execute(f"CREATE TABLE {LAT_TABLE} (id bigserial PRIMARY KEY, kind text, v integer)")
    wl.pg_create_publication(conn, "pub_lat", [LAT_TABLE])
    conn.close()


class _Receiver(threading.Thread):
    """Collects latencies in µs of the 'load' rows; ``ready`` once any row (a ping) arrived."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.latencies_us: list[int] = []
        #: Commit → the producer's call, per message (Kafka receivers only).
        self.produced_us: list[int] = []
        self.ready = threading.Event()
        self.stop = threading.Event()


class _KafkaReceiver(_Receiver):
    """Consumes a topic from its current end (the Debezium JSON of arrowtail or Debezium)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__()
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
        self.ready.set()  # the caller saw a ping in the topic before creating this receiver

    def run(self) -> None:
        while not self.stop.is_set():
            msg = self._consumer.poll(0.05)
            if msg is None or msg.error() is not None or msg.value() is None:
                continue
            now_us = time.time_ns() // 1000
            doc = json.loads(msg.value())
            doc = doc.get("payload", doc)
            if (doc.get("after") or {}).get("kind") == "load":
                commit_us = int(doc["source"]["ts_us"])
                self.latencies_us.append(now_us - commit_us)
                self.produced_us.append(msg.timestamp()[1] * 1000 - commit_us)
        self._consumer.close()


_COMMIT = re.compile(rb"^COMMIT \d+ \(at (.+)\)$")


def _commit_us(text: bytes) -> int:
    """``2026-12-02 07:47:59.123456+00`` (test_decoding's commit time) in µs since the epoch."""
    stamp = text.decode()
    if re.search(r"[+-]\d\d$", stamp):
        stamp += ":00"
    when = datetime.fromisoformat(stamp)
    return int(when.timestamp()) * 1_000_000 + when.microsecond


class _RecvlogicalReceiver(_Receiver):
    """Reads ``pg_recvlogical``'s output (test_decoding with commit times) line by line."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        super().__init__()
        self._proc = proc

    def run(self) -> None:
        assert self._proc.stdout is not None
        load = False
        for line in self._proc.stdout:
            if self.stop.is_set():
                break
            line = line.rstrip(b"\n")
            if line.startswith(b"table "):
                self.ready.set()
                load = load or b"kind[text]:'load'" in line
            elif (m := _COMMIT.match(line)) is not None:
                if load:
                    self.latencies_us.append(time.time_ns() // 1000 - _commit_us(m.group(1)))
                load = False


def _load(pg, rate: int, seconds: float) -> int:
    """The timed load: ``pgbench`` (PostgreSQL's own load driver, one thread in C, so the
    driver's cost stays small beside the systems measured) running single-row INSERT commits at
    ``rate`` per second for about ``seconds`` over one connection per :data:`PER_CONNECTION`
    commits/s, each with ``synchronous_commit = on``. pgbench spaces the commits as a Poisson
    process of that rate. Returns the number of commits."""
    clients = max(1, -(-rate // PER_CONNECTION))
    per_client = max(1, int(rate * seconds) // clients)
    script = Path(tempfile.mkdtemp(prefix="arrowtail-lat-")) / "insert.sql"
    script.write_text(f"INSERT INTO {LAT_TABLE} (kind, v) VALUES ('load', :client_id);\n")
    argv = [
        str(pg.bin_dir / "pgbench"), "--no-vacuum", "--client", str(clients), "--jobs", "1",
        "--transactions", str(per_client), "--rate", str(rate), "--file", str(script), pg.dsn,
    ]  # fmt: skip
    env = {**os.environ, "PGOPTIONS": "-c synchronous_commit=on"}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    finally:
        shutil.rmtree(script.parent, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"latency load failed: {(done.stderr or done.stdout).strip()[-2000:]}")
    return clients * per_client


def _ping_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], pg, name: str) -> None:
    """One ping row per 0.2 s until ``ready()`` says one made it through."""
    conn = pg.connect()
    deadline = time.monotonic() + 180
    try:
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} never delivered a ping")
            conn.execute(f"INSERT INTO {LAT_TABLE} (kind, v) VALUES ('ping', 0)")
            time.sleep(0.2)  # the pace of the pings; the condition above ends the wait
    finally:
        conn.close()


def _finish(receiver: _Receiver, total: int, name: str) -> list[int]:
    deadline = time.monotonic() + 120
    while len(receiver.latencies_us) < total and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the receiver's count, with a deadline
    receiver.stop.set()
    if len(receiver.latencies_us) < total:
        raise RuntimeError(f"latency run {name}: {len(receiver.latencies_us)}/{total} rows")
    return receiver.latencies_us


def _kafka_run(
    pg, kafka, argv: list[str], tag: str, rate: int, seconds: float
) -> tuple[list[int], list[int]]:
    """Latencies to the consumer and to the produce call (µs)."""
    from arrowtail.embedded.process import spawn, stop_process

    counter = TopicCounter(kafka.bootstrap, f"{tag}.{LAT_TABLE}")
    proc = spawn(argv, Path(f"/tmp/arrowtail-bench-{tag}.log"))
    try:
        _ping_until(lambda: counter.count() > 0, proc, pg, argv[0])
        receiver = _KafkaReceiver(kafka.bootstrap, counter.topic)
        receiver.start()
        total = _load(pg, rate, seconds)
        found = _finish(receiver, total, tag)
        receiver.join(10)
        return found, receiver.produced_us
    finally:
        stop_process(proc, timeout=30)
        counter.close()


def _produce_here(bootstrap: str, topic: str, rate: int, seconds: float) -> int:
    """``rate`` messages/s for ``seconds`` to ``topic`` from one producer with the Kafka sink's
    producer settings, each shaped as the receiver reads an event and stamped with its send
    time as the commit time; returns the number of messages."""
    from confluent_kafka import Producer

    from arrowtail.sinks.kafka.sink import DEFAULT_PRODUCER_CONFIG

    producer = Producer({**DEFAULT_PRODUCER_CONFIG, "bootstrap.servers": bootstrap})
    # Ready as the systems are once their ping went through: the producer id acquired, the
    # topic's leader known.
    producer.produce(topic, b"{}")
    if producer.flush(60) > 0:
        raise RuntimeError("broker floor: the warm-up message was not delivered")
    print("ready", flush=True)
    total = int(rate * seconds)
    t0 = time.monotonic() + 0.2
    for i in range(total):
        pause = t0 + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # paces the fixed rate; not a synchronisation
        sent_us = time.time_ns() // 1000
        value = {"payload": {"after": {"kind": "load", "v": i}, "source": {"ts_us": sent_us}}}
        producer.produce(topic, json.dumps(value).encode(), key=b'{"id":%d}' % i)
        producer.poll(0)
    if producer.flush(30) > 0:
        raise RuntimeError("broker floor: messages left undelivered")
    return total


def _broker_floor_run(pg, kafka, tag: str, rate: int, seconds: float) -> list[int]:
    """The bare producer's messages to the consumer, sent while the same commit load runs."""
    from confluent_kafka import Producer

    topic = f"{tag}.floor"
    ping = Producer({"bootstrap.servers": kafka.bootstrap})
    ping.produce(topic, b"{}")  # creates the topic; the receiver starts at its end
    if ping.flush(60) > 0:
        raise RuntimeError("broker floor: the topic's first message was not delivered")
    receiver = _KafkaReceiver(kafka.bootstrap, topic)
    receiver.start()
    argv = [sys.executable, "-m", "benches.latency_benches", "--produce", kafka.bootstrap, topic]
    producer = subprocess.Popen(
        [*argv, str(rate), str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert producer.stdout is not None
        if producer.stdout.readline().strip() != "ready":
            raise RuntimeError(f"broker floor producer failed: {producer.communicate()[1][-2000:]}")
        _load(pg, rate, seconds)
        out, err = producer.communicate(timeout=120)
        if producer.returncode != 0:
            raise RuntimeError(f"broker floor producer failed: {err.strip()[-2000:]}")
        found = _finish(receiver, int(out.split()[-1]), tag)
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait(30)
        receiver.stop.set()
        receiver.join(10)
    return found


def _floor_run(pg, tag: str, rate: int, seconds: float) -> list[int]:
    argv = [
        str(pg.bin_dir / "pg_recvlogical"), "--dbname", pg.dsn, "--slot", tag, "--start",
        "--no-loop", "--status-interval", "1", "--option", "include-timestamp=1",
        "--option", "skip-empty-xacts=1", "--file", "-",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    receiver = _RecvlogicalReceiver(proc)
    receiver.start()
    try:
        _ping_until(receiver.ready.is_set, proc, pg, "pg_recvlogical")
        receiver.latencies_us.clear()
        total = _load(pg, rate, seconds)
        return _finish(receiver, total, tag)
    finally:
        proc.terminate()
        proc.wait(30)
        receiver.join(10)


def _arrowtail(pg, kafka, work: Path) -> Callable[[str], list[str]]:
    return lambda tag: _arrowtail_argv() + [
        "run", "--source", pg.dsn, "--slot", tag, "--publication", "pub_lat",
        "--snapshot", "never", "--tables", LAT_TABLE,
        "--to", f"kafka://{kafka.bootstrap}?topic_prefix={tag}",
        "--checkpoint", str(work / f"{tag}.checkpoint"),
    ]  # fmt: skip


def latency(pg, kafka, work: Path, rounds: int, rates: list[int], seconds: float, classpath, log):
    """Latencies at each of ``rates`` single-row commits/s, per system; a list of
    :class:`LatencyResult`, one per rate."""
    _prepare(pg)
    kafka_systems: dict[str, Callable[[str], list[str]]] = {
        "arrowtail": _arrowtail(pg, kafka, work),
    }
    if classpath:
        kafka_systems[f"Debezium {debezium.version()}"] = lambda tag: debezium.argv(
            classpath,
            debezium.write_config(
                work / f"{tag}.properties", pg, name=tag, slot=tag, publication="pub_lat",
                tables=[LAT_TABLE], snapshot="no_data", bootstrap=kafka.bootstrap,
                expected=0, ready=work / f"{tag}.ready", poll_interval_ms=DEBEZIUM_POLL_MS,
            ),
        )  # fmt: skip
    # Not recorded: the broker's first seconds under load (its JIT compiling the produce and
    # fetch paths) would otherwise fall on whichever system runs first.
    warm_up = min(WARM_UP_SECONDS, seconds)
    log(f"latency warm-up: {BROKER_FLOOR} at {max(rates)} commits/s for {warm_up:g} s")
    _broker_floor_run(pg, kafka, f"lat{next(_SERIAL)}", max(rates), warm_up)
    results = []
    for rate in rates:
        found: dict[str, list[int]] = {FLOOR: [], BROKER_FLOOR: []}
        for name in kafka_systems:
            found[name] = []
            found[name + PRODUCED] = []
        log(f"latency at {rate} commits/s for {seconds:g} s")
        for r in range(rounds):
            for name in (FLOOR, BROKER_FLOOR, *kafka_systems):
                tag = f"lat{next(_SERIAL)}"
                if name == BROKER_FLOOR:
                    lat = _broker_floor_run(pg, kafka, tag, rate, seconds)
                else:
                    lat = _slot_run(pg, kafka, name, kafka_systems, tag, rate, seconds, found)
                found[name] += lat
                log(f"  round {r + 1}/{rounds} {name}: p50 {pct(lat, 50) / 1000:.1f} ms")
        results.append(LatencyResult(rate, seconds, rounds, found))
    return results


def _slot_run(pg, kafka, name: str, kafka_systems, tag: str, rate: int, seconds: float, found):
    """One run of a system reading a slot of its own (the floor or a Kafka system); the Kafka
    systems' produce-call latencies go into ``found`` beside."""
    conn = pg.connect()
    plugin = "test_decoding" if name == FLOOR else "pgoutput"
    conn.execute("SELECT pg_create_logical_replication_slot(%s, %s)", (tag, plugin))
    conn.close()
    try:
        if name == FLOOR:
            return _floor_run(pg, tag, rate, seconds)
        lat, produced = _kafka_run(pg, kafka, kafka_systems[name](tag), tag, rate, seconds)
        found[name + PRODUCED] += produced
        return lat
    finally:
        _drop_slot(pg, tag)


def pct(values: list[int], p: float) -> float:
    s = sorted(values)
    return float(s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]) if s else 0.0


class LatencyResult:
    """Latencies (µs) per system at one commit rate, pooled over rounds."""

    def __init__(self, rate: int, seconds: float, rounds: int, found: dict[str, list[int]]):
        self.rate, self.seconds, self.rounds, self.found = rate, seconds, rounds, found

    def rows(self) -> list[tuple[str, int, float, float, float, float]]:
        """(system, messages, p50 ms, p90 ms, p99 ms, max ms)."""
        return [
            (
                name,
                len(v),
                pct(v, 50) / 1000,
                pct(v, 90) / 1000,
                pct(v, 99) / 1000,
                max(v, default=0) / 1000,
            )  # fmt: skip
            for name, v in self.found.items()
        ]

    def round_p99(self, name: str) -> list[float]:
        """p99 (ms) of each round of ``name`` alone (every round has the same commits, taken in
        order): how far the pooled figure moves from run to run."""
        v = self.found[name]
        n = len(v) // self.rounds if self.rounds else 0
        return [pct(v[i * n : (i + 1) * n], 99) / 1000 for i in range(self.rounds)] if n else []


if __name__ == "__main__":
    # The broker floor's producer: --produce BOOTSTRAP TOPIC RATE SECONDS; prints the number of
    # messages sent.
    if sys.argv[1:2] != ["--produce"] or len(sys.argv) != 6:
        sys.exit("usage: python -m benches.latency_benches --produce BOOTSTRAP TOPIC RATE SECONDS")
    print(_produce_here(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
