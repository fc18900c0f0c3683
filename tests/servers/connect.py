"""A private Kafka Connect worker (standalone mode) with Debezium's JDBC sink connector, for the
conformance tests that read arrowtail's Kafka output with Debezium's own consumer.

The worker runs from the jars ``scripts/fetch-kafka.sh`` puts into
``${ARROWTAIL_CACHE:-~/.cache/arrowtail}/connect-<version>/``: ``libs/`` holds the runtime
dependencies of ``org.apache.kafka:connect-runtime`` (and the JSON converter), ``plugins/`` the
released plugin archive of ``io.debezium:debezium-connector-jdbc`` unpacked as it ships (its own
Jackson, Hibernate and JDBC drivers, isolated by the worker's plugin class loader). Apicurio's
Avro converter, when ``scripts/fetch-registry.sh`` has put it into the cache
(``apicurio-converter-<version>/``), is on the plugin path too, for connectors reading Avro topics.
It listens for REST calls on a loopback port; connectors are added and removed per test through
that API.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.servers._process import (
    LOOPBACK,
    ProcessServer,
    ServerUnavailable,
    free_port,
    log_tail,
    spawn_until,
    stop_process,
)
from tests.servers.kafka import find_java

START_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
# The client JIT only: a test worker starts, scans its plugins and handles a few thousand
# records, where the optimizing compiler costs more CPU (on two cores) than it gives back.
JVM_OPTS = [
    "-Xmx384m",
    "-Xms64m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
]
JDBC_SINK = "io.debezium.connector.jdbc.JdbcSinkConnector"

_LOG4J2 = """\
status = warn
shutdownHook = disable
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.hibernate.name = org.hibernate
logger.hibernate.level = WARN
"""


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.name))


def find_connect() -> Path:
    """The cached Connect directory with ``libs/`` and the JDBC sink under ``plugins/``
    (``ARROWTAIL_CONNECT_HOME`` overrides; else the newest cached)."""
    override = os.environ.get("ARROWTAIL_CONNECT_HOME")
    if override:
        candidates = [Path(override)]
    else:
        cache = Path(os.environ.get("ARROWTAIL_CACHE") or Path.home() / ".cache" / "arrowtail")
        candidates = sorted(cache.glob("connect-*"), key=_version_key, reverse=True)
    for cand in candidates:
        if (cand / ".complete").is_file() and any((cand / "plugins").glob("*/debezium-*.jar")):
            return cand
    raise ServerUnavailable(
        "Kafka Connect and Debezium's JDBC sink not found (looked in "
        f"{', '.join(map(str, candidates)) or 'the arrowtail cache'}); run scripts/fetch-kafka.sh"
    )


def find_avro_converter() -> Path | None:
    """The cached plugin-path entry holding Apicurio's Kafka Connect converter, if fetched."""
    cache = Path(os.environ.get("ARROWTAIL_CACHE") or Path.home() / ".cache" / "arrowtail")
    found = sorted(cache.glob("apicurio-converter-*"), key=_version_key, reverse=True)
    return next((c for c in found if (c / ".complete").is_file()), None)


class ConnectError(AssertionError):
    """A connector failed or a REST call was refused; the message carries the worker's words."""


class ConnectServer(ProcessServer):
    """One standalone Connect worker against ``bootstrap``; connectors come through REST."""

    def __init__(self, bootstrap: str) -> None:
        self.home = find_connect()
        self.java = find_java()
        self.bootstrap = bootstrap
        self.port = free_port()
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="arrowtail-connect-"))
        self.config_path = self.tmp_dir / "worker.properties"
        self.log4j_path = self.tmp_dir / "log4j2.properties"
        self.log_path = self.tmp_dir / "connect.log"
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._write_config()
        argv = [
            str(self.java),
            *JVM_OPTS,
            f"-Dlog4j2.configurationFile={self.log4j_path}",
            "-cp",
            str(self.home / "libs" / "*"),
            "org.apache.kafka.connect.cli.ConnectStandalone",
            str(self.config_path),
        ]
        self._proc = spawn_until(
            argv,
            self.log_path,
            self._has_jdbc_sink,
            what=f"Kafka Connect on port {self.port}",
            timeout=START_TIMEOUT,
        )

    def stop(self) -> None:
        stop_process(self._proc, sig=signal.SIGTERM, timeout=STOP_TIMEOUT)
        self._proc = None

    # -- REST -------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise ConnectError(f"{method} {path}: {exc.code} {detail}") from None
        return json.loads(text) if text else None

    def add_connector(self, name: str, config: dict[str, str]) -> None:
        """Adds a connector and waits until its task runs."""
        self.request("POST", "/connectors", {"name": name, "config": config})
        deadline = time.monotonic() + 60
        while True:
            status = self.status(name)
            tasks = status.get("tasks") or []
            if tasks and all(t["state"] == "RUNNING" for t in tasks):
                return
            self.raise_if_failed(name, status)
            if time.monotonic() > deadline:
                raise ConnectError(f"connector {name} not running after 60s: {status}")
            time.sleep(0.2)

    def status(self, name: str) -> dict[str, Any]:
        try:
            return dict(self.request("GET", f"/connectors/{name}/status"))
        except ConnectError:
            return {}

    def raise_if_failed(self, name: str, status: dict[str, Any] | None = None) -> None:
        status = self.status(name) if status is None else status
        states = [status.get("connector", {})] + list(status.get("tasks") or [])
        for s in states:
            if s.get("state") == "FAILED":
                raise ConnectError(f"connector {name} failed: {s.get('trace', '')[:4000]}")

    def remove_connector(self, name: str) -> None:
        try:
            self.request("DELETE", f"/connectors/{name}")
        except ConnectError:
            pass

    # -- internals --------------------------------------------------------------------------

    def _has_jdbc_sink(self) -> bool:
        try:
            plugins = self.request("GET", "/connector-plugins?connectorsOnly=true")
        except (OSError, ConnectError, ValueError):
            return False
        return any(p.get("class") == JDBC_SINK for p in plugins)

    def _write_config(self) -> None:
        settings = {
            "bootstrap.servers": self.bootstrap,
            "listeners": f"http://{LOOPBACK}:{self.port}",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "true",
            "value.converter.schemas.enable": "true",
            "offset.storage.file.filename": str(self.tmp_dir / "offsets"),
            "offset.flush.interval.ms": "1000",
            "plugin.path": ",".join(str(p) for p in self._plugin_path()),
            "plugin.discovery": "only_scan",
            # Consumers start at the beginning of topics created before the connector.
            "consumer.auto.offset.reset": "earliest",
            "consumer.max.poll.records": "500",
        }
        self.config_path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        self.log4j_path.write_text(_LOG4J2)

    def _plugin_path(self) -> list[Path]:
        converter = find_avro_converter()
        return [self.home / "plugins", *([converter] if converter is not None else [])]

    def recent_log(self, lines: int = 80) -> str:
        return log_tail(self.log_path, lines)

    def __repr__(self) -> str:
        return f"<ConnectServer {self.url} dir={self.tmp_dir}>"
