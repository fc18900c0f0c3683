"""Lag warnings: one line when crossing a threshold, one when back under, rate-limited; the
configuration keys and CLI flags that set them and the heartbeat interval."""

from __future__ import annotations

import logging

import pytest

from arrowtail import config
from arrowtail.cli import _overrides, build_parser
from arrowtail.exceptions import ConfigError
from arrowtail.observability import LagWatch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "arrowtail.lag"]


def test_warns_once_when_crossing_and_once_when_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="arrowtail.lag")
    clock = Clock()
    watch = LagWatch(max_bytes=1 << 20, clock=clock, min_interval=60)
    assert watch.check({"lag_bytes": 1000, "retained_wal_bytes": 5000}) is False
    assert lines(caplog) == []
    # The slot's retained WAL counts as well as the unacknowledged lag.
    assert watch.check({"lag_bytes": 1000, "retained_wal_bytes": 3 << 20}) is True
    for _ in range(5):
        clock.now += 1
        assert watch.check({"lag_bytes": 4 << 20}) is True
    assert lines(caplog) == [
        (logging.WARNING, "replication lag past threshold: 3.0 MB behind (limit 1.0 MB)")
    ]
    clock.now += 120
    assert watch.check({"lag_bytes": 10, "retained_wal_bytes": 2048}) is False
    assert watch.check({"lag_bytes": 10}) is False
    assert lines(caplog)[1:] == [
        (logging.INFO, "replication lag back under threshold (2.0 kB, 0.0s)")
    ]


def test_flapping_is_rate_limited_and_the_last_state_is_logged_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="arrowtail.lag")
    clock = Clock()
    watch = LagWatch(max_seconds=30, clock=clock, min_interval=60)
    for i in range(20):
        clock.now += 1
        watch.check({"lag_seconds": 45.0 if i % 2 == 0 else 1.0})
    # One warning at the first crossing; the flapping after it stays quiet.
    assert [level for level, _ in lines(caplog)] == [logging.WARNING]
    assert "45.0s behind (limit 30s)" in lines(caplog)[0][1]
    assert watch.over is False  # the last sample was under
    clock.now += 60
    watch.check({"lag_seconds": 2.0})
    assert [level for level, _ in lines(caplog)] == [logging.WARNING, logging.INFO]


def test_no_thresholds_no_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="arrowtail.lag")
    watch = LagWatch()
    assert not watch.enabled
    assert watch.check({"lag_bytes": 1 << 40, "lag_seconds": 1e6}) is False
    assert lines(caplog) == []


def test_cli_flags_reach_the_configuration() -> None:
    args = build_parser().parse_args(
        [
            "run",
            "--source",
            "postgresql://cdc@db/shop",
            "--to",
            "parquet:/tmp/out",
            "--heartbeat",
            "2.5",
            "--lag-warn-bytes",
            "1048576",
            "--lag-warn-seconds",
            "90",
        ]
    )
    cfg = config.load(None, overrides=_overrides(args), environ={})
    assert cfg.source.heartbeat_interval == 2.5
    assert cfg.run.lag_warn_bytes == 1048576
    assert cfg.run.lag_warn_seconds == 90.0
    assert cfg.run.lag_check_interval == 10.0


def test_environment_sets_the_check_interval() -> None:
    cfg = config.load(
        None,
        overrides={"source": {"url": "postgresql://cdc@db/shop"}, "sink": {"url": "jsonl:-"}},
        environ={"ARROWTAIL_RUN_LAG_CHECK_INTERVAL": "0.5", "ARROWTAIL_RUN_LAG_WARN_BYTES": "7"},
    )
    assert cfg.run.lag_check_interval == 0.5
    assert cfg.run.lag_warn_bytes == 7


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"source": {"heartbeat_interval": 0}}, "source.heartbeat_interval must be more than"),
        ({"run": {"lag_warn_bytes": -1}}, "run.lag_warn_bytes must be more than zero"),
        ({"run": {"lag_warn_seconds": 0}}, "run.lag_warn_seconds must be more than zero"),
        ({"run": {"lag_check_interval": 0}}, "run.lag_check_interval must be more than"),
    ],
)
def test_bad_values_name_the_key(overrides: dict[str, dict[str, float]], message: str) -> None:
    base: dict[str, dict[str, object]] = {
        "source": {"url": "postgresql://cdc@db/shop"},
        "sink": {"url": "jsonl:-"},
    }
    for section, values in overrides.items():
        base.setdefault(section, {}).update(values)
    with pytest.raises(ConfigError, match=message):
        config.load(None, overrides=base, environ={})


def test_heartbeat_is_refused_for_mysql() -> None:
    with pytest.raises(ConfigError, match="PostgreSQL sources only"):
        config.load(
            None,
            overrides={
                "source": {"url": "mysql://cdc@db:3306/", "heartbeat_interval": 5},
                "sink": {"url": "jsonl:-"},
            },
            environ={},
        )


def test_status_table_is_aligned_and_readable() -> None:
    from arrowtail.runner import render_status

    text = render_status(
        {
            "source": "postgresql://cdc:***@db/shop",
            "slot": "arrowtail",
            "lag_bytes": 3 << 20,
            "retained_wal_bytes": 512,
            "flush_lag_seconds": 2.25,
            "sink_checkpoint": {"lsn": 10, "end_lsn": 12},
            "checkpoint": None,
        }
    )
    assert text.splitlines() == [
        "source              postgresql://cdc:***@db/shop",
        "slot                arrowtail",
        "lag_bytes           3.0 MB (3,145,728 bytes)",
        "retained_wal_bytes  512 B (512 bytes)",
        "flush_lag_seconds   2.2s",
        "sink_checkpoint     lsn=10, end_lsn=12",
        "checkpoint          -",
    ]
