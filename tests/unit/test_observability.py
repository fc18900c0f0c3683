"""Metrics rendering and the HTTP endpoint, structured logs."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

import pytest

from arrowtail.observability import MetricsServer, default_metrics, setup_logging
from arrowtail.redact import register_secret


def test_prometheus_text_and_endpoint() -> None:
    m = default_metrics()
    m.inc("arrowtail_rows_total", 3, table="public.orders", op="c")
    m.inc("arrowtail_rows_total", 2, table="public.orders", op="c")
    m.set("arrowtail_lag_bytes", 4096)
    server = MetricsServer(m, port=0).start()
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    finally:
        server.stop()
    assert "# TYPE arrowtail_rows_total counter" in text
    assert 'arrowtail_rows_total{op="c",table="public.orders"} 5' in text
    assert "arrowtail_lag_bytes 4096" in text


def test_exposition_parses_with_the_prometheus_parser() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    m = default_metrics()
    m.inc("arrowtail_rows_total", 3, table="public.orders", op="c")
    m.set("arrowtail_rows_total", 1_234_567, table='odd "name"\\x', op="u")
    m.set("arrowtail_batches_total", 12)
    m.set("arrowtail_lag_seconds", 2.75)
    m.set("arrowtail_lag_warning", 0.0)
    families = {f.name: f for f in text_string_to_metric_families(m.render())}
    assert {name: f.type for name, f in families.items()} == {
        "arrowtail_rows": "counter",
        "arrowtail_batches": "counter",
        "arrowtail_lag_seconds": "gauge",
        "arrowtail_lag_warning": "gauge",
    }
    rows = {
        (s.labels["table"], s.labels["op"]): (s.name, s.value)
        for s in families["arrowtail_rows"].samples
    }
    assert rows == {
        ("public.orders", "c"): ("arrowtail_rows_total", 3.0),
        ('odd "name"\\x', "u"): ("arrowtail_rows_total", 1_234_567.0),
    }
    assert [(s.name, s.value) for s in families["arrowtail_batches"].samples] == [
        ("arrowtail_batches_total", 12.0)
    ]
    assert families["arrowtail_lag_seconds"].samples[0].value == 2.75
    assert families["arrowtail_lag_warning"].samples[0].value == 0.0
    assert families["arrowtail_lag_seconds"].documentation == (
        "Age of the oldest change read but not yet stored"
    )


def test_each_run_has_its_own_registry() -> None:
    first, second = default_metrics(), default_metrics()
    first.set("arrowtail_lag_bytes", 10)
    assert first.registry is not second.registry
    assert "arrowtail_lag_bytes 10" in first.render()
    assert "arrowtail_lag_bytes" not in second.render()


def test_endpoint_serves_only_metrics_in_text_format() -> None:
    m = default_metrics()
    m.set("arrowtail_lag_bytes", 1)
    server = MetricsServer(m, port=0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{base}/metrics?x=1", timeout=5) as resp:
            assert resp.headers["Content-Type"] == "text/plain; version=0.0.4"
            assert "arrowtail_lag_bytes 1" in resp.read().decode()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/other", timeout=5)
        assert missing.value.code == 404
    finally:
        server.stop()


def test_json_log_lines_are_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    register_secret("pw-in-a-log-777")
    setup_logging("json")
    logging.getLogger("arrowtail.x").info(
        "login failed with %s", "pw-in-a-log-777", extra={"table": "public.t"}
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    doc = json.loads(line)
    assert doc["message"] == "login failed with ***"
    assert doc["table"] == "public.t"
    assert doc["level"] == "info"
    assert "pw-in-a-log-777" not in line
