"""The Debezium peer: builds ``benches/debezium`` (a small Java program around Debezium's embedded
engine and PostgreSQL connector) with Maven once per run and returns the command line of one run.

The program reads a properties file: Debezium's own settings plus ``peer.bootstrap``,
``peer.expected`` (exit after this many change events were delivered to Kafka; 0: run until
killed) and ``peer.ready`` (a file it creates when the connector task has started).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent / "debezium"
MAIN_CLASS = "arrowtail.bench.DebeziumPeer"
JVM_OPTS = ["-Xmx1g", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]


class DebeziumUnavailable(RuntimeError):
    """Java, Maven or a Debezium jar is missing: the Debezium systems are left out (and the
    reason written into RESULTS.md)."""


def build() -> str:
    """Compiles the peer and resolves its jars; returns the Java class path."""
    java, mvn = shutil.which("java"), shutil.which("mvn")
    if not java or not mvn:
        raise DebeziumUnavailable("java or mvn is not on PATH (Java 17 and Maven are needed)")
    cp_file = HERE / "target" / "classpath.txt"
    proc = subprocess.run(
        [mvn, "-B", "-q", "-f", str(HERE / "pom.xml"), "compile", "dependency:build-classpath",
         f"-Dmdep.outputFile={cp_file}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise DebeziumUnavailable("Maven build of benches/debezium failed: " + " / ".join(tail))
    return f"{HERE / 'target' / 'classes'}:{cp_file.read_text().strip()}"


def version() -> str:
    """The Debezium version pinned in the pom."""
    text = (HERE / "pom.xml").read_text()
    return text.split("<debezium.version>", 1)[1].split("<", 1)[0]


def argv(classpath: str, config: Path) -> list[str]:
    """The command of one run with the properties file ``config``."""
    return [shutil.which("java") or "java", *JVM_OPTS, "-cp", classpath, MAIN_CLASS, str(config)]


def write_config(
    path: Path,
    pg,
    *,
    name: str,
    slot: str,
    publication: str,
    tables: list[str],
    snapshot: str,
    bootstrap: str,
    expected: int,
    ready: Path,
    poll_interval_ms: int | None = None,
) -> Path:
    """Writes the properties of one run: the PostgreSQL connector with pgoutput on ``slot``,
    ``snapshot`` as Debezium's ``snapshot.mode`` (``no_data`` or ``initial``), topics named
    ``<name>.<schema>.<table>``, offsets in a file beside ``path``, JSON without inline schemas
    and a tombstone after each delete (arrowtail's Kafka defaults). ``poll_interval_ms`` sets
    Debezium's ``poll.interval.ms``: how long its queue waits for more changes before handing on
    a batch that is not full (500 ms by default, which a latency run should not measure)."""
    settings = {
        "name": name,
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "offset.storage": "org.apache.kafka.connect.storage.FileOffsetBackingStore",
        "offset.storage.file.filename": str(path.with_suffix(".offsets")),
        "offset.flush.interval.ms": "10000",
        "database.hostname": pg.host,
        "database.port": str(pg.port),
        "database.user": pg.user,
        "database.password": "unused",  # the test server trusts loopback connections
        "database.dbname": pg.dbname,
        "topic.prefix": name,
        "plugin.name": "pgoutput",
        "slot.name": slot,
        "publication.name": publication,
        "publication.autocreate.mode": "disabled",
        "table.include.list": ",".join(tables),
        "snapshot.mode": snapshot,
        "converter.schemas.enable": "false",
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        "peer.bootstrap": bootstrap,
        "peer.expected": str(expected),
        "peer.ready": str(ready),
    }
    if poll_interval_ms is not None:
        settings["poll.interval.ms"] = str(poll_interval_ms)
    path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return path
