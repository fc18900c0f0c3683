"""A small client of the Confluent Schema Registry REST API, as the Kafka sink's Avro format
needs it: register a schema under a subject (ids cached), and on a refusal read what explains
it (the subject's latest schema and compatibility level).

Any registry speaking that API works: Confluent's own, Apicurio Registry's
``/apis/ccompat/v7``, Karapace, Redpanda's. The URL is the API's base
(``http://registry:8081``, ``http://apicurio:8080/apis/ccompat/v7``); user and password in the
URL (``http://user:secret@host:8081``) are sent as HTTP basic authentication and masked in every
message. Registration is idempotent: a schema already registered under the subject gets its
existing id back, whatever the compatibility level.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from arrowtail.exceptions import ConfigError, SinkError
from arrowtail.redact import redact_url, register_secret

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"

#: Subject name strategies (Confluent's ``TopicNameStrategy``, ``RecordNameStrategy`` and
#: ``TopicRecordNameStrategy``).
SUBJECT_STRATEGIES = ("topic", "record", "topic_record")


def subject_name(strategy: str, topic: str, record: str, *, key: bool) -> str:
    """The subject a schema is registered under: ``<topic>-key``/``<topic>-value`` (``topic``),
    the record's full name (``record``) or ``<topic>-<record>`` (``topic_record``)."""
    if strategy == "topic":
        return f"{topic}-{'key' if key else 'value'}"
    if strategy == "record":
        return record
    if strategy == "topic_record":
        return f"{topic}-{record}"
    raise ConfigError(f"subject_strategy must be one of {', '.join(SUBJECT_STRATEGIES)}")


@dataclass(frozen=True)
class Refusal:
    """The registry refused a schema as incompatible (HTTP 409)."""

    subject: str
    reason: str


class RegistryRefused(SinkError):
    """The registry refused to register a schema (incompatible with the subject's history)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


class SchemaRegistry:
    """Registers schemas through the Confluent Schema Registry API (module documentation)."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"registry must be an http:// or https:// URL, not {url!r}")
        self._auth: str | None = None
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            register_secret(password)
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            self._auth = f"Basic {token}"
            netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
            parts = parts._replace(netloc=netloc)
        self.url = urllib.parse.urlunsplit(parts._replace(query="", fragment="")).rstrip("/")
        self.timeout = timeout
        self._ids: dict[tuple[str, str], int] = {}

    def register(self, subject: str, schema: str) -> int:
        """The id of ``schema`` under ``subject``, registering it on first use. Raises
        :class:`RegistryRefused` when the registry finds it incompatible, :class:`SinkError` when
        the registry cannot be reached or refuses for another reason."""
        cached = self._ids.get((subject, schema))
        if cached is not None:
            return cached
        status, body = self._call(
            "POST", f"/subjects/{_quote(subject)}/versions", {"schema": schema}
        )
        if status == 409:
            raise RegistryRefused(Refusal(subject, _message(body)))
        if status != 200 or not isinstance(body, dict) or "id" not in body:
            raise SinkError(
                f"schema registry {redact_url(self.url)} refused the schema of subject "
                f"{subject}: HTTP {status} {_message(body)}"
            )
        schema_id = int(body["id"])
        self._ids[(subject, schema)] = schema_id
        return schema_id

    def latest(self, subject: str) -> str | None:
        """The latest schema registered under ``subject`` (None: none, or unreadable)."""
        try:
            status, body = self._call("GET", f"/subjects/{_quote(subject)}/versions/latest")
        except SinkError:
            return None
        if status == 200 and isinstance(body, dict) and isinstance(body.get("schema"), str):
            return str(body["schema"])
        return None

    def compatibility(self, subject: str) -> str | None:
        """The compatibility level in force for ``subject``: its own, else the global one."""
        for path in (f"/config/{_quote(subject)}", "/config"):
            try:
                status, body = self._call("GET", path)
            except SinkError:
                return None
            if status == 200 and isinstance(body, dict):
                level = body.get("compatibilityLevel") or body.get("compatibility")
                if level:
                    return str(level)
        return None

    # -- HTTP -------------------------------------------------------------------------------

    def _call(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        """One request; connection failures and server errors (5xx) are retried with backoff
        until ``timeout``. Returns the status and the decoded JSON body (or its text)."""
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"Accept": _CONTENT_TYPE, "Content-Type": _CONTENT_TYPE}
        if self._auth is not None:
            headers["Authorization"] = self._auth
        deadline = time.monotonic() + self.timeout
        delay = 0.2
        while True:
            request = urllib.request.Request(
                self.url + path, data=data, method=method, headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.status, _decode(response.read())
            except urllib.error.HTTPError as exc:
                body = _decode(exc.read())
                if exc.code < 500:
                    return exc.code, body
                failure = f"HTTP {exc.code} {_message(body)}"
            except (urllib.error.URLError, OSError) as exc:
                failure = str(getattr(exc, "reason", exc))
            if time.monotonic() + delay > deadline:
                raise SinkError(
                    f"schema registry {redact_url(self.url)} unavailable: {failure} "
                    f"({method} {path})"
                )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _quote(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body)
    return str(body)
