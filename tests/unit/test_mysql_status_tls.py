"""No-server parts of the MySQL source: ``status`` lag arithmetic, TLS URL options, the last-error
file, and the ``status`` view of a position with a schema history."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from arrowtail import lasterror
from arrowtail.exceptions import ConfigError
from arrowtail.runner import _brief_position
from arrowtail.sources.mysql.replication import BinlogFile, tls_options
from arrowtail.sources.mysql.source import parse_url
from arrowtail.sources.mysql.status import binlog_lag

FILES = [BinlogFile("b.000001", 1000), BinlogFile("b.000002", 5000), BinlogFile("b.000003", 700)]


def test_lag_counts_the_rest_of_the_file_and_every_later_one() -> None:
    lag = binlog_lag(FILES, {"file": "b.000002", "offset": 4200, "commit_ts": 100.0}, now=160.5)
    assert lag == {
        "lag_bytes": 800 + 700,
        "binlog_files_needed": ["b.000002", "b.000003"],
        "lag_seconds": 60.5,
    }


def test_caught_up_is_zero_seconds_whatever_the_commit_time() -> None:
    lag = binlog_lag(FILES, {"file": "b.000003", "offset": 700, "commit_ts": 1.0}, now=1e9)
    assert lag["lag_bytes"] == 0 and lag["lag_seconds"] == 0.0


def test_a_purged_checkpoint_file_is_reported() -> None:
    lag = binlog_lag(FILES, {"file": "b.000000", "offset": 4}, now=0.0)
    assert lag["checkpoint_file_purged"] is True and lag["binlog_files_needed"] == []
    assert binlog_lag(FILES, None, now=0.0) == {}


def test_tls_modes() -> None:
    assert tls_options({}) is None
    off = tls_options({"ssl": "disable"})
    assert off is not None and off.context is None and not off.required
    req = tls_options({"ssl": "require"})
    assert req is not None and req.required and req.context is not None
    assert req.context.verify_mode == ssl.CERT_NONE
    prefer = tls_options({"ssl": "prefer"})
    assert prefer is not None and not prefer.required
    full = tls_options({"ssl": "verify-full"})
    assert full is not None and full.context is not None
    assert full.context.check_hostname and full.context.verify_mode == ssl.CERT_REQUIRED


def test_tls_options_from_the_url_and_their_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load the TLS files"):
        parse_url(f"mysql://u@h/db?ssl_ca={tmp_path}/missing.pem")
    with pytest.raises(ConfigError, match="ssl=maybe is not one of"):
        parse_url("mysql://u@h/db?ssl=maybe")
    with pytest.raises(ConfigError, match="unknown mysql:// URL option"):
        parse_url("mysql://u@h/db?sslmode=require")
    url = parse_url("mysql://u:pw@h:3307/db?ssl=require")
    assert (url.host, url.port, url.user, url.password, url.database) == (
        "h",
        3307,
        "u",
        "pw",
        "db",
    )
    assert url.tls is not None and url.tls.mode == "require"


def test_last_error_is_kept_beside_the_checkpoint(tmp_path: Path) -> None:
    path = lasterror.error_file(None, str(tmp_path / "ckpt.json"))
    assert path == tmp_path / "ckpt.json.error.json"
    assert lasterror.error_file(f"parquet:{tmp_path}/out?max_rows=5", None) == (
        tmp_path / "out" / "_arrowtail" / "last_error.json"
    )
    assert lasterror.error_file("jsonl:-", None) is None
    assert lasterror.load(path) is None
    lasterror.record(path, "boom at binlog b.000001 offset 4")
    doc = lasterror.load(path)
    assert doc is not None and doc["error"] == "boom at binlog b.000001 offset 4" and doc["time"]


def test_status_shows_a_schema_history_as_its_size() -> None:
    position = {"pos": 1, "file": "b.000001", "schemas": [["d", "t", {}], ["d", "u", {}]]}
    assert _brief_position(position) == {"pos": 1, "file": "b.000001", "schema_history_tables": 2}
    assert _brief_position({"lsn": 5}) == {"lsn": 5}
