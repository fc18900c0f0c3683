"""Logs and metrics.

Logs: one line per notable event (connected, snapshot progress, checkpoint, reconnect, stop),
never per row; text by default, JSON lines with ``--log-format json``; every record passes through
:class:`arrowtail.redact.ScrubFilter`, so secrets never reach a log.

Metrics: a small registry of counters and gauges exposed in the Prometheus text format by an
optional HTTP endpoint (``--metrics-port``): rows by table and op, batches, bytes, lag in bytes and
seconds, sink latency, dead-lettered rows, reconnects.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from arrowtail.redact import ScrubFilter, scrub


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


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{scrub(str(v)).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(labels.items())
    )
    return "{" + inner + "}"


class Metrics:
    """Thread-safe counters and gauges, rendered in the Prometheus text exposition format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._help: dict[str, tuple[str, str]] = {}
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

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
        with self._lock:
            items = sorted(self._values.items())
        lines: list[str] = []
        seen: set[str] = set()
        for (name, labels), value in items:
            if name not in seen:
                seen.add(name)
                kind, help_text = self._help.get(name, ("untyped", name))
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
            lines.append(f"{name}{_labels(dict(labels))} {value:g}")
        return "\n".join(lines) + "\n"


def default_metrics() -> Metrics:
    m = Metrics()
    m.describe("arrowtail_rows_total", "counter", "Changes delivered to the sink, by table and op")
    m.describe("arrowtail_batches_total", "counter", "Change batches delivered to the sink")
    m.describe("arrowtail_lag_bytes", "gauge", "Bytes of source log not yet acknowledged")
    m.describe("arrowtail_lag_seconds", "gauge", "Seconds since the commit of the newest change")
    m.describe("arrowtail_sink_seconds", "gauge", "Duration of the last sink write and commit")
    m.describe("arrowtail_dead_letter_total", "counter", "Rows sent to the dead-letter topic")
    m.describe("arrowtail_reconnects_total", "counter", "Reconnections to the source")
    return m


class MetricsServer:
    """Serves ``/metrics`` on 127.0.0.1 (or a given host) in a background thread."""

    def __init__(self, metrics: Metrics, port: int, host: str = "127.0.0.1") -> None:
        registry = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = registry.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
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
