"""Logs and metrics.

Logs: one line per notable event (connected, snapshot progress, checkpoint, reconnect, stop),
never per row; text by default, JSON lines with ``--log-format json``; every record passes through
:class:`arrowtail.redact.ScrubFilter`, so secrets never reach a log.

Metrics: counters and gauges of one run, exposed in the Prometheus text format (rendered by
``prometheus-client`` from a registry of the run's own, no process-wide state) by an optional HTTP
endpoint (``--metrics-port``): rows by table and op, batches, bytes, lag in bytes and seconds, sink
latency, dead-lettered rows, reconnects, and whether lag is past its warning threshold.

Lag warnings (:class:`LagWatch`): one warning line when the source's lag passes
``run.lag_warn_bytes`` or ``run.lag_warn_seconds``, one info line when it is back under, never
more than one line per ``min_interval`` seconds however often the lag flaps.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from arrowtail.redact import ScrubFilter, scrub

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric

#: The exposition format the endpoint serves (Prometheus text format 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    _standard = set(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._standard and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(doc, default=str)


def setup_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    """Configures the ``arrowtail`` loggers once (stderr, scrubbed)."""
    root = logging.getLogger("arrowtail")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.addFilter(ScrubFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


class Metrics:
    """Thread-safe counters and gauges of one run, rendered in the Prometheus text exposition
    format. Values are kept here (a counter may be set to a total counted elsewhere, such as the
    pipeline's summary); a collector hands them to a :class:`CollectorRegistry` of this object's
    own when they are rendered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._help: dict[str, tuple[str, str]] = {}
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    @cached_property
    def registry(self) -> CollectorRegistry:
        """The registry rendering these values, made (and ``prometheus_client`` imported) when
        first needed: most runs serve no metrics."""
        from prometheus_client import CollectorRegistry

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        return registry

    def describe(self, name: str, kind: str, help_text: str) -> None:
        self._help[name] = (kind, help_text)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = value

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get((name, tuple(sorted(labels.items()))), 0.0)

    def render(self) -> str:
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()

    def families(self) -> Iterator[Metric]:
        """One metric family per name that has a value, its samples sorted by labels."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            UnknownMetricFamily,
        )

        with self._lock:
            items = sorted(self._values.items())
        by_name: dict[str, list[tuple[tuple[tuple[str, str], ...], float]]] = {}
        for (name, labels), value in items:
            by_name.setdefault(name, []).append((labels, value))
        for name, samples in by_name.items():
            kind, help_text = self._help.get(name, ("untyped", name))
            # Label values may come from configuration (table names): scrubbed like logs.
            label_names = sorted({k for labels, _ in samples for k, _ in labels})
            family: Metric
            if kind == "counter":
                family = CounterMetricFamily(name, help_text, labels=label_names)
            elif kind == "gauge":
                family = GaugeMetricFamily(name, help_text, labels=label_names)
            else:
                family = UnknownMetricFamily(name, help_text, labels=label_names)
            for labels, value in samples:
                given = dict(labels)
                family.add_metric([scrub(str(given.get(k, ""))) for k in label_names], value)
            yield family


class _Collector:
    """Hands the values of a :class:`Metrics` to its registry at each scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics.families()


def default_metrics() -> Metrics:
    m = Metrics()
    m.describe("arrowtail_rows_total", "counter", "Changes delivered to the sink, by table and op")
    m.describe("arrowtail_batches_total", "counter", "Change batches delivered to the sink")
    m.describe("arrowtail_lag_bytes", "gauge", "Bytes of source log not yet acknowledged")
    m.describe("arrowtail_lag_seconds", "gauge", "Age of the oldest change read but not yet stored")
    m.describe("arrowtail_sink_seconds", "gauge", "Duration of the last sink write and commit")
    m.describe("arrowtail_dead_letter_total", "counter", "Rows sent to the dead-letter topic")
    m.describe("arrowtail_reconnects_total", "counter", "Reconnections to the source")
    m.describe("arrowtail_retained_wal_bytes", "gauge", "WAL the replication slot keeps")
    m.describe(
        "arrowtail_lag_warning", "gauge", "1 while lag is past run.lag_warn_bytes/_seconds, else 0"
    )
    return m


def human_bytes(n: float) -> str:
    """A byte count as ``512 B``, ``1.5 kB``, ``3.0 MB``... (powers of 1024)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns at GB


class BackgroundProbe:
    """Calls ``describe`` (a source's ``describe()``, which asks the server for its lag) every
    ``interval`` seconds on a thread of its own, so that the pipeline's loop never waits for it:
    a connection and a query to a busy server take milliseconds to tens of them, and every
    change behind the loop would wait them out. :meth:`take` returns the newest figures once.
    A check that fails is logged and tried again at the next interval.

    Example::

        probe = BackgroundProbe(source.describe, 10.0).start()
        info = probe.take()   # None until a check is done, and between checks
        probe.close()
    """

    def __init__(self, describe: Callable[[], Mapping[str, Any]], interval: float) -> None:
        self._describe = describe
        self.interval = interval
        self._lock = threading.Lock()
        self._result: Mapping[str, Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="arrowtail-lag-probe", daemon=True)
        self.started = False

    def start(self) -> BackgroundProbe:
        self.started = True
        self._thread.start()
        return self

    def take(self) -> Mapping[str, Any] | None:
        """The figures of the newest check not taken yet, or None."""
        with self._lock:
            result, self._result = self._result, None
        return result

    def close(self, timeout: float = 5.0) -> None:
        """Stops the checks; waits up to ``timeout`` seconds for one in progress."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        log = logging.getLogger("arrowtail.lag")
        while not self._stop.is_set():
            try:
                info = self._describe()
            except Exception as exc:  # best effort: the stream reports real failures
                log.info("lag check failed: %s", scrub(str(exc)))
            else:
                with self._lock:
                    self._result = info
            self._stop.wait(self.interval)  # the pause between checks; close() ends it


class LagWatch:
    """Compares a source's ``describe()`` lag with thresholds and logs crossings.

    Bytes are the larger of ``lag_bytes`` (log not yet acknowledged) and ``retained_wal_bytes``
    (WAL the slot keeps); seconds are ``lag_seconds``. A threshold of ``None`` is not checked.
    The first crossing is logged at once; later state changes at most once per ``min_interval``
    seconds, and a change that was held back is logged when the interval has passed, if it
    still holds.

    Example::

        watch = LagWatch(max_bytes=1 << 30, max_seconds=300)
        over = watch.check(source.describe())   # True while past a threshold
    """

    def __init__(
        self,
        max_bytes: int | None = None,
        max_seconds: float | None = None,
        *,
        min_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.min_interval = min_interval
        self._clock = clock
        self._log = logger or logging.getLogger("arrowtail.lag")
        #: Whether the lag is past a threshold now.
        self.over = False
        self._logged_over = False
        self._last_log: float | None = None

    @property
    def enabled(self) -> bool:
        return self.max_bytes is not None or self.max_seconds is not None

    def check(self, info: Mapping[str, object]) -> bool:
        """Updates the state from one ``describe()`` result; returns whether lag is over."""
        reasons: list[str] = []
        lag_bytes = max(_number(info, "lag_bytes"), _number(info, "retained_wal_bytes"))
        if self.max_bytes is not None and lag_bytes > self.max_bytes:
            reasons.append(f"{human_bytes(lag_bytes)} behind (limit {human_bytes(self.max_bytes)})")
        lag_seconds = _number(info, "lag_seconds")
        if self.max_seconds is not None and lag_seconds > self.max_seconds:
            reasons.append(f"{lag_seconds:.1f}s behind (limit {self.max_seconds:g}s)")
        self.over = bool(reasons)
        if self.over == self._logged_over:
            return self.over
        now = self._clock()
        if self._last_log is not None and now - self._last_log < self.min_interval:
            return self.over
        self._last_log = now
        self._logged_over = self.over
        if self.over:
            self._log.warning("replication lag past threshold: %s", "; ".join(reasons))
        else:
            self._log.info(
                "replication lag back under threshold (%s, %.1fs)",
                human_bytes(lag_bytes),
                lag_seconds,
            )
        return self.over


def _number(info: Mapping[str, object], key: str) -> float:
    value = info.get(key)
    return float(value) if isinstance(value, int | float) else 0.0


class MetricsServer:
    """Serves ``/metrics`` on 127.0.0.1 (or a given host) in a background thread."""

    def __init__(self, metrics: Metrics, port: int, host: str = "127.0.0.1") -> None:
        # http.server is imported here: most runs serve no metrics and skip its import.
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from prometheus_client import generate_latest

        registry = metrics.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = generate_latest(registry)
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
