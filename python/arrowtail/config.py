"""One typed configuration for ``arrowtail run`` and friends.

Sources of settings, later ones winning: defaults < TOML file (``--config``) < ``ARROWTAIL_*``
environment variables < command-line flags. Validation happens up front and names the key and the
fix. Secrets (passwords, masking keys) come from the environment or files only — a password in a
URL is accepted but masked everywhere it is shown — and are registered with :mod:`arrowtail.redact`.

Example ``arrowtail.toml``::

    [source]
    url = "postgresql://cdc@db.internal:5432/shop"
    password_env = "SHOP_CDC_PASSWORD"
    slot = "arrowtail"
    publication = "arrowtail"
    snapshot = "initial"
    heartbeat_interval = 10      # PostgreSQL: keep the slot moving while its tables are quiet

    [sink]
    url = "parquet:/data/cdc"

    [run]
    idle_exit = 30
    checkpoint = "/var/lib/arrowtail/shop.json"
    lag_warn_bytes = 1073741824  # warn when the slot holds more than 1 GiB of WAL
    lag_warn_seconds = 300
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from arrowtail.exceptions import ConfigError
from arrowtail.redact import redact_url, register_secret
from arrowtail.tables import parse_all as parse_tables
from arrowtail.tables import refuse_patterns, split_list
from arrowtail.transforms import TransformConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SNAPSHOT_MODES = ("initial", "never")
RESUME_MODES = ("position", "gtid")
#: PostgreSQL: arrowtail's own wire client for the stream and snapshot reads, or libpq (psycopg).
WIRES = ("native", "libpq")

#: A libpq ``key=value`` connection string (``host=db dbname=shop user=cdc``) starts with one
#: of libpq's connection keywords and an equals sign (so a path such as ``date=2024`` is not
#: taken for one), and is never a URL.
_CONNINFO = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=")
_CONNINFO_KEYWORDS = frozenset(
    "host hostaddr port dbname user password passfile service options application_name "
    "connect_timeout client_encoding sslmode sslrootcert sslcert sslkey sslpassword "
    "channel_binding gssencmode krbsrvname require_auth target_session_attrs keepalives".split()
)


def is_pg_conninfo(text: str) -> bool:
    """Whether ``text`` is a libpq ``key=value`` connection string (accepted wherever a
    ``postgresql://`` URL is)."""
    m = _CONNINFO.match(text)
    return "://" not in text and m is not None and m[1] in _CONNINFO_KEYWORDS


def is_postgres(url: str) -> bool:
    """A PostgreSQL connection: a ``postgresql://``/``postgres://`` URL or a ``key=value``
    string."""
    return url.startswith(("postgresql://", "postgres://")) or is_pg_conninfo(url)


def check_url(key: str, url: str) -> None:
    """Refuses a URL whose host part cannot be used (a port that is not a number from 1 to
    65535), naming ``key``; ``key=value`` strings and paths are left to their readers."""
    if "://" not in url:
        return
    scheme, _, rest = url.partition("://")
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    hosts = netloc.split(",") if scheme == "kafka" else [netloc]
    for host in hosts:
        try:
            port = urlsplit(f"x://{host}").port
        except ValueError:
            port = -1
        if port is not None and not 1 <= port <= 65535:
            raise ConfigError(
                f"{key} {redact_url(url)!r}: the port must be a number from 1 to 65535"
            )


@dataclass
class SourceConfig:
    url: str = ""
    #: Name of an environment variable holding the password (kept out of URLs and files).
    password_env: str | None = None
    password_file: str | None = None
    slot: str = "arrowtail"
    publication: str = "arrowtail"
    snapshot: str = "never"
    server_id: int = 7301
    #: MySQL/MariaDB: resume the binlog dump by file/offset (``position``) or by GTID (``gtid``).
    resume_by: str = "position"
    #: PostgreSQL: ``native`` (default) or ``libpq`` for authentication methods only libpq speaks.
    wire: str = "native"
    tables: list[str] = field(default_factory=list)
    #: PostgreSQL: seconds between heartbeat messages (``None``: no heartbeats).
    heartbeat_interval: float | None = None
    #: PostgreSQL: rows per primary-key chunk of an initial snapshot.
    snapshot_chunk_rows: int = 100_000
    #: PostgreSQL: connections reading an initial snapshot together (one shared snapshot).
    snapshot_workers: int = 2
    #: PostgreSQL: rows per chunk of an incremental snapshot (each chunk is held in memory).
    incremental_chunk_rows: int = 10_000
    #: PostgreSQL: read unchanged TOAST values of updates back by primary key (current values).
    toast_reselect: bool = False
    #: Bytes of an open transaction held in memory: past it, rows of an ordinary PostgreSQL
    #: transaction are handed on ahead of their commit; those of streamed and prepared PostgreSQL
    #: transactions and of MySQL/MariaDB transactions go to disk until their commit.
    memory_budget: int = 256 * 1024 * 1024
    #: Where transactions past ``memory_budget`` are kept (a directory of its own is made
    #: inside per transaction; default: the system's temporary directory).
    spill_dir: str | None = None

    @property
    def kind(self) -> str:
        if is_postgres(self.url):
            return "postgres"
        if self.url.startswith(("mysql://", "mariadb://")):
            return "mysql"
        return ""

    def password(self) -> str | None:
        """The password from ``password_env`` / ``password_file``, registered as a secret."""
        secret: str | None = None
        if self.password_env:
            secret = os.environ.get(self.password_env)
            if secret is None:
                raise ConfigError(
                    f"source.password_env names {self.password_env}, which is not set; "
                    "export it or remove the key"
                )
        elif self.password_file:
            try:
                with open(self.password_file, encoding="utf-8") as f:
                    secret = f.read().strip()
            except OSError as exc:
                raise ConfigError(
                    f"source.password_file {self.password_file} cannot be read: {exc.strerror}"
                ) from exc
        register_secret(secret)
        return secret


@dataclass
class SinkConfig:
    url: str = ""
    #: Database targets: create missing tables (and columns) from the source schema.
    create_tables: bool = False
    #: Kafka outbox routing, the ``[sink.outbox]`` table (see :mod:`arrowtail.sinks.kafka.outbox`).
    outbox: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        if is_pg_conninfo(self.url):
            return "postgresql"
        scheme = self.url.split(":", 1)[0] if ":" in self.url else ""
        return {"postgres": "postgresql", "mariadb": "mysql"}.get(scheme, scheme)


@dataclass
class RunConfig:
    checkpoint: str | None = None
    idle_exit: float | None = None
    log_format: str = "text"
    metrics_port: int | None = None
    #: Warn when the source's lag (or the slot's retained WAL) passes this many bytes.
    lag_warn_bytes: int | None = None
    #: Warn when the oldest change not yet stored is older than this many seconds.
    lag_warn_seconds: float | None = None
    #: Seconds between lag queries on the source (for warnings and metrics).
    lag_check_interval: float = 10.0
    #: Seconds at least between two saves of the checkpoint file (0: after every stored
    #: transaction). A crash sends again what the last save did not cover.
    checkpoint_interval: float = 1.0


@dataclass
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    sink: SinkConfig = field(default_factory=SinkConfig)
    run: RunConfig = field(default_factory=RunConfig)
    transform: TransformConfig = field(default_factory=TransformConfig)

    def validate(self) -> Config:
        if not self.source.url:
            raise ConfigError(
                "source.url is missing: pass --source postgresql://... or mysql://..."
            )
        if not self.source.kind:
            raise ConfigError(
                f"source.url {redact_url(self.source.url)!r} is not a postgresql:// or "
                "mysql:// URL nor a libpq key=value string"
            )
        redact_url(self.source.url)  # registers an inline password as a secret
        check_url("source.url", self.source.url)
        if self.source.snapshot not in SNAPSHOT_MODES:
            raise ConfigError(
                f"source.snapshot must be one of {', '.join(SNAPSHOT_MODES)}, "
                f"not {self.source.snapshot!r}"
            )
        if self.source.resume_by not in RESUME_MODES:
            raise ConfigError(
                f"source.resume_by must be one of {', '.join(RESUME_MODES)}, "
                f"not {self.source.resume_by!r}"
            )
        if self.source.wire not in WIRES:
            raise ConfigError(
                f"source.wire must be one of {', '.join(WIRES)}, not {self.source.wire!r}"
            )
        if not self.sink.url:
            raise ConfigError(
                "sink.url is missing: pass --to parquet:DIR, kafka://HOST:PORT or jsonl:-"
            )
        if self.sink.kind not in (
            "parquet",
            "kafka",
            "jsonl",
            "postgresql",
            "mysql",
            "iceberg",
            "delta",
        ):
            raise ConfigError(
                f"sink.url {redact_url(self.sink.url)!r} is not parquet:DIR, kafka://HOST:PORT, "
                "iceberg:DIR, delta:DIR, "
                "jsonl:FILE, postgresql://... or mysql://..."
            )
        redact_url(self.sink.url)
        check_url("sink.url", self.sink.url)
        specs = parse_tables(self.source.tables)
        if self.source.kind != "postgres" and any(s.filtered for s in specs):
            raise ConfigError(
                "source.tables: column lists and WHERE filters are PostgreSQL publication "
                "features; for MySQL/MariaDB name the tables alone and choose columns with "
                "transform.include_columns / transform.drop_columns"
            )
        if self.source.kind == "postgres":
            refuse_patterns(specs)
        for key in (
            "snapshot_chunk_rows",
            "snapshot_workers",
            "incremental_chunk_rows",
            "memory_budget",
        ):
            if getattr(self.source, key) < 1:
                raise ConfigError(f"source.{key} must be at least 1")
        if isinstance(self.sink.outbox, str):  # ARROWTAIL_SINK_OUTBOX=schema.table
            self.sink.outbox = {"table": self.sink.outbox}
        if self.sink.outbox is not None and self.sink.kind != "kafka":
            raise ConfigError("sink.outbox applies only to a kafka:// sink.url; remove it")
        if self.run.idle_exit is not None and self.run.idle_exit < 0:
            raise ConfigError("run.idle_exit must be zero or more seconds")
        if self.source.heartbeat_interval is not None and self.source.heartbeat_interval <= 0:
            raise ConfigError("source.heartbeat_interval must be more than zero seconds")
        if self.source.heartbeat_interval is not None and self.source.kind != "postgres":
            raise ConfigError(
                "source.heartbeat_interval applies to PostgreSQL sources only (MySQL/MariaDB "
                "sources get the server's own heartbeat events); remove it"
            )
        for key in ("lag_warn_bytes", "lag_warn_seconds"):
            value = getattr(self.run, key)
            if value is not None and value <= 0:
                raise ConfigError(f"run.{key} must be more than zero")
        if self.run.checkpoint_interval < 0:
            raise ConfigError("run.checkpoint_interval must be zero or more seconds")
        if self.run.lag_check_interval <= 0:
            raise ConfigError("run.lag_check_interval must be more than zero seconds")
        if self.run.metrics_port is not None and not 0 <= self.run.metrics_port <= 65535:
            raise ConfigError(
                "run.metrics_port must be a port number from 1 to 65535 (0: no metrics)"
            )
        if self.run.log_format not in ("text", "json"):
            raise ConfigError("run.log_format must be 'text' or 'json'")
        return self


_SECTIONS = {
    "source": SourceConfig,
    "sink": SinkConfig,
    "run": RunConfig,
    "transform": TransformConfig,
}


def _coerce(section: str, key: str, value: Any, target: Any) -> Any:
    kind = str({f.name: f.type for f in fields(target)}[key])
    if value is None:
        return value
    # TOML brings its own types; refuse the wrong ones here rather than fail later on them.
    if kind.startswith("str") and not isinstance(value, str):
        raise ConfigError(f"{section}.{key} must be a string, not {value!r}")
    if kind.startswith("list") and not (
        isinstance(value, str)
        or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    ):
        raise ConfigError(f"{section}.{key} must be a list of strings, not {value!r}")
    if kind.startswith("dict") and not isinstance(value, (dict, str)):
        raise ConfigError(f"{section}.{key} must be a table, not {value!r}")
    if kind.startswith("bool") and not isinstance(value, (bool, str)):
        raise ConfigError(f"{section}.{key} must be true or false, not {value!r}")
    if kind.startswith(("int", "float")) and (
        isinstance(value, bool) or not isinstance(value, (int, float, str))
    ):
        raise ConfigError(f"{section}.{key} must be a number, not {value!r}")
    try:
        if "bool" in str(kind) and isinstance(value, str):
            flag = {"1": True, "true": True, "yes": True, "on": True}
            flag.update({"0": False, "false": False, "no": False, "off": False})
            return flag[value.strip().lower()]
        if "float" in str(kind) and value is not None:
            return float(value)
        if "int" in str(kind) and "list" not in str(kind) and value is not None:
            return int(value)
        if "list" in str(kind) and isinstance(value, str):
            if key == "key_columns":  # table:col,col;table:col (Debezium's message.key.columns)
                return [v.strip() for v in value.split(";") if v.strip()]
            return split_list(value)
    except KeyError as exc:
        raise ConfigError(f"{section}.{key} must be true or false, not {value!r}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{section}.{key} must be a number, not {value!r}") from exc
    return value


def _apply(config: Config, section: str, values: Mapping[str, Any], origin: str) -> None:
    target = getattr(config, section)
    known = {f.name for f in fields(target)}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"{origin}: unknown key {section}.{key} (known: {', '.join(sorted(known))})"
            )
        setattr(target, key, _coerce(section, key, value, target))


def load(
    path: str | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Builds and validates the configuration (file < environment < overrides)."""
    config = Config()
    if path:
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from exc
        for section, values in doc.items():
            if section not in _SECTIONS or not isinstance(values, dict):
                raise ConfigError(f"{path}: unknown section [{section}]")
            _apply(config, section, values, path)
    env = os.environ if environ is None else environ
    for name, value in env.items():
        if not name.startswith("ARROWTAIL_") or name.count("_") < 2:
            continue
        section, _, key = name[len("ARROWTAIL_") :].lower().partition("_")
        if section in _SECTIONS:
            _apply(config, section, {key: value}, f"environment variable {name}")
    for section, values in (overrides or {}).items():
        _apply(config, section, {k: v for k, v in values.items() if v is not None}, "command line")
    return config.validate()
