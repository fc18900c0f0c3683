"""Metrics rendering and the HTTP endpoint, structured logs."""

from __future__ import annotations

import json
import logging
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
