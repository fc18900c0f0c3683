"""The Kafka sink with and without ``exactly_once=true``, on one private broker, in one run:
throughput and commit → ``read_committed`` consumer latency, interleaved rounds, medians and the
ratio of the two modes.

    python -m benches.kafka_eos_benches                       # writes benches/KAFKA_EOS.md
    python -m benches.kafka_eos_benches --rows 50000 --rounds 2 --seconds 5   # quicker

No database is involved: change batches of the mixed shape (bigint key, int, text, timestamp,
decimal) are generated, so the figures are the sink's own cost. The broker is the tests' private
KRaft broker (``tests/servers/kafka.py``).

1. Throughput: ``--rows`` inserts written to a 6-partition topic in batches of ``--batch`` rows,
   the sink committed after every batch (one Kafka transaction per batch with transactions), timed
   from the first write until every position is durable (delivery reports; with transactions, the
   last ``commit_transaction``).
2. Latency: rows arrive at ``--rate`` a second for ``--seconds`` seconds; a loop like the
   pipeline's writes what has arrived as one batch and commits it (one transaction per loop), and
   a ``read_committed`` consumer on another thread notes when each row arrives. Latency is row
   arrival → message received; p50 and p99.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from arrowtail.sinks import open_sink

FIELDS = [
    pa.field("id", pa.int64()),
    pa.field("n", pa.int32()),
    pa.field("s", pa.string()),
    pa.field("ts", pa.timestamp("us", tz="UTC")),
    pa.field("amount", pa.decimal128(12, 2)),
]
MODES = ("idempotent", "exactly_once")
PARTITIONS = 6


def change_batch(first: int, count: int, pos: int) -> pa.RecordBatch:
    """``count`` inserts with ids from ``first``, all at position ``pos``."""
    from tests.support.batches import change_batch as build

    epoch = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    rows = [
        {
            "id": i,
            "n": i % 1000,
            "s": f"row {i} " + "x" * (i % 40),
            "ts": epoch + dt.timedelta(seconds=i),
            "amount": Decimal(i % 100_000) / 100,
            "_op": "c",
            "_pos": pos,
            "_seq": i - first,
        }
        for i in range(first, first + count)
    ]
    return build(FIELDS, rows, table="public.bench")


def sink_url(bootstrap: str, prefix: str, mode: str) -> str:
    url = f"kafka://{bootstrap}?topic_prefix={prefix}"
    return url + "&exactly_once=true" if mode == "exactly_once" else url


def wait_durable(sink: Any, position: dict[str, int], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while sink.durable_position() != position:
        if time.monotonic() > deadline:
            raise RuntimeError(f"position {position} not durable after {timeout:g}s")
        time.sleep(0.001)


def throughput(bootstrap: str, mode: str, batches: list[pa.RecordBatch]) -> float:
    """Rows per second into a fresh topic."""
    from tests.support.kafka_topics import create_topic

    prefix = f"eb{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, f"{prefix}.public.bench", PARTITIONS)
    sink = open_sink(sink_url(bootstrap, prefix, mode))
    sink.open()
    # Topic metadata and limits are read on the first write: not part of the timing.
    sink.write("public.bench", 1, change_batch(0, 1, 0))
    sink.commit({"lsn": 0})
    wait_durable(sink, {"lsn": 0})
    rows = 0
    started = time.perf_counter()
    for i, batch in enumerate(batches, 1):
        sink.write("public.bench", 1, batch)
        sink.commit({"lsn": i})
        rows += batch.num_rows
    wait_durable(sink, {"lsn": len(batches)})
    seconds = time.perf_counter() - started
    sink.close()
    return rows / seconds


class Receiver(threading.Thread):
    """Reads a topic ``read_committed`` from its end and notes when each id arrives."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        from confluent_kafka import Consumer, TopicPartition

        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-{uuid.uuid4()}",
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 5,
                "enable.auto.commit": False,
            }
        )
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        self.arrived: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for msg in self.consumer.consume(1000, 0.05):
                if msg.error() is None and msg.value() is not None:
                    self.arrived[json.loads(msg.key())["id"]] = time.monotonic()
        self.consumer.close()


def latency(bootstrap: str, mode: str, rate: int, seconds: float) -> tuple[float, float]:
    """p50 and p99 in ms of row arrival → received by a read_committed consumer."""
    from tests.support.kafka_topics import create_topic

    prefix = f"el{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.public.bench"
    create_topic(bootstrap, topic, PARTITIONS)
    sink = open_sink(sink_url(bootstrap, prefix, mode))
    sink.open()
    sink.write("public.bench", 1, change_batch(10**9, 1, 0))
    sink.commit({"lsn": 0})
    wait_durable(sink, {"lsn": 0})
    receiver = Receiver(bootstrap, topic)
    receiver.start()
    total = int(rate * seconds)
    started = time.monotonic()
    due = [started + i / rate for i in range(total)]
    sent = loops = 0
    while sent < total:
        now = time.monotonic()
        arrived = sent
        while arrived < total and due[arrived] <= now:
            arrived += 1
        if arrived > sent:
            loops += 1
            sink.write("public.bench", 1, change_batch(sent, arrived - sent, loops))
            sink.commit({"lsn": loops})
            sent = arrived
        sink.durable_position()
        time.sleep(0.001)
    wait_durable(sink, {"lsn": loops})
    deadline = time.monotonic() + 60
    while len(receiver.arrived) < total + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    receiver.stop.set()
    receiver.join()
    sink.close()
    waits = sorted((receiver.arrived[i] - due[i]) * 1000 for i in range(total))
    return _pct(waits, 50), _pct(waits, 99)


def _pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=500, help="rows a second for the latency part")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--bootstrap", help="use this broker instead of a private one")
    ap.add_argument("--out", default=str(Path(__file__).with_name("KAFKA_EOS.md")))
    args = ap.parse_args()

    server = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        from tests.servers import KafkaServer

        server = KafkaServer()
        server.start()
        bootstrap = server.bootstrap
    try:
        batches = [
            change_batch(first, min(args.batch, args.rows - first), i + 1)
            for i, first in enumerate(range(0, args.rows, args.batch))
        ]
        rates: dict[str, list[float]] = {m: [] for m in MODES}
        lat: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
        for r in range(args.rounds):
            # Interleaved, the order alternating, so that drift on the machine hits both alike.
            for mode in MODES if r % 2 == 0 else MODES[::-1]:
                rates[mode].append(throughput(bootstrap, mode, batches))
                lat[mode].append(latency(bootstrap, mode, args.rate, args.seconds))
                p50, p99 = lat[mode][-1]
                rate = rates[mode][-1]
                print(f"round {r + 1} {mode}: {rate:,.0f} rows/s, p50 {p50:.0f}, p99 {p99:.0f} ms")
    finally:
        if server is not None:
            server.cleanup()
    report = render(args, rates, lat)
    Path(args.out).write_text(report)
    print(report)


def render(args: Any, rates: dict[str, list[float]], lat: dict[str, list[Any]]) -> str:
    med = {m: statistics.median(rates[m]) for m in MODES}
    p50 = {m: statistics.median(x[0] for x in lat[m]) for m in MODES}
    p99 = {m: statistics.median(x[1] for x in lat[m]) for m in MODES}
    lines = [
        "# Kafka sink: exactly once against idempotent",
        "",
        "Generated by `python -m benches.kafka_eos_benches` (see its module documentation); "
        f"{args.rounds} interleaved rounds, medians.",
        "",
        "| | idempotent | exactly_once | exactly_once ÷ idempotent |",
        "|---|---|---|---|",
        f"| throughput, {args.rows} rows in batches of {args.batch}, a commit per batch (rows/s) "
        f"| {med['idempotent']:,.0f} | {med['exactly_once']:,.0f} "
        f"| {med['exactly_once'] / med['idempotent']:.2f} |",
        f"| latency p50, {args.rate} rows/s for {args.seconds:g} s (ms) "
        f"| {p50['idempotent']:.1f} | {p50['exactly_once']:.1f} "
        f"| {p50['exactly_once'] / p50['idempotent']:.2f} |",
        f"| latency p99 (ms) | {p99['idempotent']:.1f} | {p99['exactly_once']:.1f} "
        f"| {p99['exactly_once'] / p99['idempotent']:.2f} |",
        "",
        "What differs between the modes: the idempotent sink asks for a delivery report per "
        "message (a Python callback each, served by `poll`) and moves the position as they come "
        "back, its batches leaving after `linger.ms` (50); the transactional sink asks for none "
        "(`commit_transaction` reports the outcome of the whole transaction), and its commit "
        "sends at once and waits for the broker's end-transaction round trips, which also hold "
        "the pipeline's next poll back. A `read_committed` consumer sees a transaction's "
        "messages only after its commit marker.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
