"""A private single-node Apache Kafka broker (KRaft mode) for the integration tests.

The broker runs from the jars that ``scripts/fetch-kafka.sh`` copies from Maven Central into
``${ARROWTAIL_CACHE:-~/.cache/arrowtail}/kafka-<version>/libs``: storage is formatted with
``kafka.tools.StorageTool format --standalone``, then ``kafka.Kafka`` runs as combined broker and
controller on two loopback ports. Internal topics use replication factor 1 and topics are created
on first use. It is ready when its port accepts connections and a metadata request succeeds.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from tests.servers._process import (
    LOOPBACK,
    ProcessServer,
    ServerUnavailable,
    free_port,
    kill_process,
    log_tail,
    port_open,
    run_checked,
    spawn,
    stop_process,
    wait_until,
)

START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
NODE_ID = 1
JVM_OPTS = ["-Xmx512m", "-Xms64m", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]

_LOG4J2 = """\
status = warn
shutdownHook = disable
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def find_libs() -> Path:
    """The Kafka jar directory (``ARROWTAIL_KAFKA_LIBS`` overrides; else the newest cached)."""
    override = os.environ.get("ARROWTAIL_KAFKA_LIBS")
    if override:
        candidates = [Path(override)]
    else:
        cache = Path(os.environ.get("ARROWTAIL_CACHE") or Path.home() / ".cache" / "arrowtail")
        candidates = sorted(cache.glob("kafka-*/libs"), key=_version_key, reverse=True)
    for cand in candidates:
        if any(cand.glob("kafka_2.13-*.jar")) and any(cand.glob("kafka-clients-*.jar")):
            return cand
    raise ServerUnavailable(
        "Kafka jars not found (looked for kafka_2.13-*.jar in "
        f"{', '.join(map(str, candidates)) or 'the arrowtail cache'}); run scripts/fetch-kafka.sh"
    )


def find_java() -> Path:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return Path(java_home) / "bin" / "java"
    found = shutil.which("java")
    if found is None:
        raise ServerUnavailable("'java' not found (Java 17 or newer is needed to run Kafka)")
    return Path(found)


def random_cluster_id() -> str:
    """A cluster id in Kafka's ``Uuid`` text form: 16 random bytes, URL-safe base64, no padding.

    Kafka itself never hands out ids starting with '-' (they read as command-line options).
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


class KafkaServer(ProcessServer):
    """One private KRaft broker: ``start()`` formats and starts it, ``cleanup()`` removes it."""

    def __init__(self, jvm_opts: Sequence[str] = JVM_OPTS) -> None:
        #: The broker JVM's options (heap and collector); the tests keep the heap small.
        self.jvm_opts = list(jvm_opts)
        self.libs = find_libs()
        self.java = find_java()
        self.host = LOOPBACK
        self.port = free_port()
        self.controller_port = free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="arrowtail-kafka-"))
        self.log_dirs = self.tmp_dir / "data"
        self.config_path = self.tmp_dir / "server.properties"
        self.log4j_path = self.tmp_dir / "log4j2.properties"
        self.log_path = self.tmp_dir / "kafka.log"
        self.cluster_id = random_cluster_id()
        self._proc: subprocess.Popen | None = None
        self._formatted = False

    @property
    def bootstrap(self) -> str:
        """``bootstrap.servers`` value for clients: ``127.0.0.1:PORT``."""
        return f"{self.host}:{self.port}"

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Format storage on first call, start the broker, wait until it serves metadata."""
        if self._proc is not None and self._proc.poll() is None:
            return
        if not self._formatted:
            self._write_config()
            run_checked(
                self._java_argv(
                    "kafka.tools.StorageTool",
                    "format",
                    "--cluster-id",
                    self.cluster_id,
                    "--config",
                    str(self.config_path),
                    "--standalone",
                ),
                self.log_path,
                "Kafka storage format",
            )
            self._formatted = True
        self._proc = spawn(self._java_argv("kafka.Kafka", str(self.config_path)), self.log_path)
        what = f"Kafka on port {self.port}"
        try:
            wait_until(
                lambda: port_open(self.port),
                what=what,
                timeout=START_TIMEOUT,
                proc=self._proc,
                log=self.log_path,
            )
            wait_until(
                self._serves_metadata,
                what=what,
                timeout=START_TIMEOUT,
                proc=self._proc,
                log=self.log_path,
            )
        except BaseException:
            kill_process(self._proc)
            self._proc = None
            raise

    def stop(self) -> None:
        """Controlled shutdown (SIGTERM), killed if it takes longer than a minute."""
        stop_process(self._proc, sig=signal.SIGTERM, timeout=STOP_TIMEOUT)
        self._proc = None

    # -- internals --------------------------------------------------------------------------

    def _java_argv(self, main_class: str, *args: str) -> list[str]:
        return [
            str(self.java),
            *self.jvm_opts,
            f"-Dlog4j2.configurationFile={self.log4j_path}",
            "-cp",
            str(self.libs / "*"),
            main_class,
            *args,
        ]

    def _write_config(self) -> None:
        broker = f"PLAINTEXT://{self.host}:{self.port}"
        controller = f"CONTROLLER://{self.host}:{self.controller_port}"
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            "controller.quorum.bootstrap.servers": f"{self.host}:{self.controller_port}",
            "listeners": f"{broker},{controller}",
            "advertised.listeners": f"{broker},{controller}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.log_dirs),
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            # A single broker: every internal topic must make do with one replica.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.flush.interval.messages": "9223372036854775807",
        }
        self.config_path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        self.log4j_path.write_text(_LOG4J2)

    def _serves_metadata(self) -> bool:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        try:
            metadata = admin.list_topics(timeout=5)
        except KafkaException:
            return False
        return NODE_ID in metadata.brokers and metadata.controller_id == NODE_ID

    def recent_log(self, lines: int = 60) -> str:
        """The last lines of the server's log, for assertion messages in tests."""
        return log_tail(self.log_path, lines)

    def __repr__(self) -> str:
        return f"<KafkaServer {self.bootstrap} dir={self.tmp_dir}>"
