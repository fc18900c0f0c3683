"""BackgroundProbe: a run's lag checks (a query on the source's server) happen on a thread of
their own; the loop only takes finished figures and never waits for a check."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from arrowtail.observability import BackgroundProbe
from tests.support.chaos import wait_for


class SlowServer:
    """A ``describe`` that answers only when allowed to: each call waits for ``answer``."""

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.calls = 0
        self.threads: list[str] = []
        self.fail_next = False

    def describe(self) -> Mapping[str, Any]:
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        self.answer.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("server gone")
        return {"lag_bytes": 100 * self.calls}


def test_the_loop_takes_figures_without_waiting_for_a_check() -> None:
    server = SlowServer()
    probe = BackgroundProbe(server.describe, interval=0.01).start()
    try:
        wait_for(lambda: server.calls == 1, "the first check to start")
        # The check is stuck on the server: the loop's call returns at once, with nothing.
        assert probe.take() is None
        server.answer.set()
        taken: list[Mapping[str, Any]] = []

        def finished() -> bool:
            info = probe.take()
            if info is not None:
                taken.append(info)
            return bool(taken)

        wait_for(finished, "a finished check")
        # The newest figures of the checks done by then (one every interval, newest wins).
        assert taken[0]["lag_bytes"] % 100 == 0 and taken[0]["lag_bytes"] >= 100
        assert set(server.threads) == {"arrowtail-lag-probe"}
    finally:
        probe.close()
    calls = server.calls
    server.answer.set()
    assert not probe._thread.is_alive()
    assert server.calls == calls  # no check after close


def test_a_failed_check_is_logged_and_the_next_one_still_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="arrowtail.lag")
    server = SlowServer()
    server.fail_next = True
    server.answer.set()
    probe = BackgroundProbe(server.describe, interval=0.01).start()
    try:
        wait_for(lambda: probe.take() is not None, "a check after the failed one")
    finally:
        probe.close()
    failed = [r.getMessage() for r in caplog.records if r.name == "arrowtail.lag"]
    assert failed and failed[0] == "lag check failed: server gone"
