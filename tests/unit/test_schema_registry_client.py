"""The Kafka sink's schema registry client against a small in-process HTTP server that answers
like the Confluent API: ids cached per subject and schema, a 409 as a refusal with the
registry's message, server errors retried until the timeout, basic authentication from the URL
with the password masked."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from arrowtail.exceptions import SinkError
from arrowtail.redact import scrub
from arrowtail.sinks.kafka.registry import RegistryRefused, SchemaRegistry


class FakeRegistry:
    """Records requests; ``answers`` maps ``(method, path)`` to a list of ``(status, body)``
    replies, the last one repeated."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any, str | None]] = []
        self.answers: dict[tuple[str, str], list[tuple[int, Any]]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                auth = self.headers.get("Authorization")
                outer.requests.append((self.command, self.path, body, auth))
                replies = outer.answers.get((self.command, self.path), [(404, {"message": "no"})])
                status, reply = replies.pop(0) if len(replies) > 1 else replies[0]
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    registry = FakeRegistry()
    yield registry
    registry.server.shutdown()
    registry.server.server_close()


def test_ids_are_registered_once_per_subject_and_schema(fake: FakeRegistry) -> None:
    fake.answers[("POST", "/subjects/t-value/versions")] = [(200, {"id": 7})]
    fake.answers[("POST", "/subjects/u%2Fv-value/versions")] = [(200, {"id": 8})]
    client = SchemaRegistry(fake.url + "/")
    assert client.register("t-value", '"string"') == 7
    assert client.register("t-value", '"string"') == 7
    assert client.register("u/v-value", '"string"') == 8
    posts = [(m, p, b) for m, p, b, _ in fake.requests]
    assert posts == [
        ("POST", "/subjects/t-value/versions", {"schema": '"string"'}),
        ("POST", "/subjects/u%2Fv-value/versions", {"schema": '"string"'}),
    ]


def test_an_incompatible_schema_is_a_refusal_with_the_registry_message(fake: FakeRegistry) -> None:
    fake.answers[("POST", "/subjects/t-value/versions")] = [
        (409, {"error_code": 409, "message": "Schema being registered is incompatible"})
    ]
    fake.answers[("GET", "/config/t-value")] = [(404, {"error_code": 40401})]
    fake.answers[("GET", "/config")] = [(200, {"compatibilityLevel": "BACKWARD"})]
    fake.answers[("GET", "/subjects/t-value/versions/latest")] = [(200, {"schema": '"int"'})]
    client = SchemaRegistry(fake.url)
    with pytest.raises(RegistryRefused) as refused:
        client.register("t-value", '"string"')
    assert refused.value.refusal.subject == "t-value"
    assert refused.value.refusal.reason == "Schema being registered is incompatible"
    assert client.compatibility("t-value") == "BACKWARD"
    assert client.latest("t-value") == '"int"'
    assert client.latest("other") is None


def test_server_errors_are_retried_then_reported(fake: FakeRegistry) -> None:
    fake.answers[("POST", "/subjects/t-value/versions")] = [
        (503, {"message": "starting"}),
        (200, {"id": 3}),
    ]
    assert SchemaRegistry(fake.url, timeout=10).register("t-value", '"long"') == 3
    fake.answers[("POST", "/subjects/t-key/versions")] = [(500, {"message": "broken"})]
    with pytest.raises(SinkError, match="unavailable: HTTP 500 broken"):
        SchemaRegistry(fake.url, timeout=0.5).register("t-key", '"long"')
    fake.answers[("POST", "/subjects/bad/versions")] = [(422, {"message": "Invalid schema"})]
    with pytest.raises(SinkError, match="HTTP 422 Invalid schema"):
        SchemaRegistry(fake.url).register("bad", "{")


def test_credentials_in_the_url_are_basic_auth_and_masked(fake: FakeRegistry) -> None:
    fake.answers[("POST", "/subjects/t-value/versions")] = [(200, {"id": 1})]
    url = fake.url.replace("http://", "http://writer:s3cr3t-registry@")
    client = SchemaRegistry(url)
    assert "s3cr3t" not in client.url
    client.register("t-value", '"int"')
    assert fake.requests[-1][3] == "Basic d3JpdGVyOnMzY3IzdC1yZWdpc3RyeQ=="
    assert "s3cr3t-registry" not in scrub(f"registry at {url} said s3cr3t-registry")
