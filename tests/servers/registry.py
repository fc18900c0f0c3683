"""A private schema registry for the Avro tests: Apicurio Registry, which speaks the Confluent
Schema Registry API under ``/apis/ccompat/v7``.

The server is the Quarkus application ``scripts/fetch-registry.sh`` unpacks from Maven Central into
``${ARROWTAIL_CACHE:-~/.cache/arrowtail}/apicurio-registry-<version>/`` (``quarkus-run.jar``). It
needs Java 21 or newer: ``ARROWTAIL_REGISTRY_JAVA`` names the ``java`` to use, else the ``java`` of
``JAVA_HOME`` or the PATH when it is new enough, else the newest JDK under ``/usr/lib/jvm``. Storage
is in memory (the default), HTTP on one loopback port, the management interface off. Its global
compatibility level is NONE: tests set the level of the subjects they care about.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
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

START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
# The client JIT only: the registry starts and answers a few dozen schema requests, where the
# optimizing compiler costs more CPU (on two cores) than it gives back.
JVM_OPTS = [
    "-Xmx128m",
    "-Xms32m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
]
API = "/apis/ccompat/v7"


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.name))


def find_registry() -> Path:
    """The cached Apicurio Registry folder (``ARROWTAIL_REGISTRY_HOME`` overrides)."""
    override = os.environ.get("ARROWTAIL_REGISTRY_HOME")
    if override:
        candidates = [Path(override)]
    else:
        cache = Path(os.environ.get("ARROWTAIL_CACHE") or Path.home() / ".cache" / "arrowtail")
        candidates = sorted(cache.glob("apicurio-registry-*"), key=_version_key, reverse=True)
    for cand in candidates:
        if (cand / ".complete").is_file() and (cand / "quarkus-run.jar").is_file():
            return cand
    raise ServerUnavailable(
        "Apicurio Registry not found (looked in "
        f"{', '.join(map(str, candidates)) or 'the arrowtail cache'}); "
        "run scripts/fetch-registry.sh"
    )


def java_major(java: Path) -> int:
    """The feature version of a ``java`` executable (17, 21, 25), 0 when it does not run."""
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60
        ).stderr
    except (OSError, subprocess.SubprocessError):
        return 0
    m = re.search(r'version "(\d+)', out)
    return int(m.group(1)) if m else 0


def find_java21() -> Path:
    """A ``java`` of version 21 or newer (see the module documentation)."""
    override = os.environ.get("ARROWTAIL_REGISTRY_JAVA")
    if override:
        return Path(override)
    candidates: list[Path] = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidates.append(Path(java_home) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path))
    jvms = sorted(Path("/usr/lib/jvm").glob("*"), key=_version_key, reverse=True)
    candidates += [j / "bin" / "java" for j in jvms]
    for java in candidates:
        if java.is_file() and java_major(java) >= 21:
            return java
    raise ServerUnavailable(
        "no Java 21 or newer found for Apicurio Registry (set ARROWTAIL_REGISTRY_JAVA)"
    )


class RegistryServer(ProcessServer):
    """One private Apicurio Registry; ``url`` is the base of its Confluent-compatible API."""

    def __init__(self) -> None:
        self.home = find_registry()
        self.java = find_java21()
        self.port = free_port()
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="arrowtail-registry-"))
        self.log_path = self.tmp_dir / "registry.log"
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The Confluent Schema Registry API base: ``http://127.0.0.1:PORT/apis/ccompat/v7``."""
        return f"http://{LOOPBACK}:{self.port}{API}"

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        argv = [
            str(self.java),
            *JVM_OPTS,
            f"-Dquarkus.http.port={self.port}",
            f"-Dquarkus.http.host={LOOPBACK}",
            # The management interface is built in (enabled at build time) and listens on
            # 0.0.0.0:9000 by default: a port of its own on loopback, so that two registries
            # (or anything else on 9000) never collide.
            f"-Dquarkus.management.port={free_port()}",
            f"-Dquarkus.management.host={LOOPBACK}",
            "-Dquarkus.log.console.level=INFO",
            "-jar",
            str(self.home / "quarkus-run.jar"),
        ]
        self._proc = spawn_until(
            argv,
            self.log_path,
            self._answers,
            what=f"Apicurio Registry on port {self.port}",
            timeout=START_TIMEOUT,
        )

    def stop(self) -> None:
        stop_process(self._proc, sig=signal.SIGTERM, timeout=STOP_TIMEOUT)
        self._proc = None

    # -- REST -------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One call of the Confluent API (``path`` below ``/apis/ccompat/v7``); raises
        ``AssertionError`` with the registry's answer on an HTTP error."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise AssertionError(f"{method} {path}: {exc.code} {detail}") from None
        return json.loads(text) if text else None

    def set_compatibility(self, subject: str, level: str) -> None:
        """Sets ``subject``'s compatibility level (``BACKWARD``, ``NONE``, ...)."""
        self.request("PUT", f"/config/{subject}", {"compatibility": level})

    def versions(self, subject: str) -> list[int]:
        """The versions registered under ``subject`` (empty when it has none)."""
        try:
            return list(self.request("GET", f"/subjects/{subject}/versions"))
        except AssertionError:
            return []

    def _answers(self) -> bool:
        try:
            return isinstance(self.request("GET", "/subjects"), list)
        except (OSError, AssertionError, ValueError):
            return False

    def recent_log(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines)

    def __repr__(self) -> str:
        return f"<RegistryServer {self.url} dir={self.tmp_dir}>"
