"""Configuration loading, validation and secret redaction."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from arrowtail import config
from arrowtail.checkpoint import CheckpointFile
from arrowtail.exceptions import ConfigError
from arrowtail.redact import ScrubFilter, redact_url, register_secret, scrub


def test_url_password_is_masked_and_remembered() -> None:
    shown = redact_url("postgresql://cdc:Sup3r-Secret@db.example:5433/shop?sslmode=require")
    assert shown == "postgresql://cdc:***@db.example:5433/shop?sslmode=require"
    # The password is now scrubbed from any text, e.g. a driver error quoting it.
    assert scrub("FATAL: bad password Sup3r-Secret for cdc") == "FATAL: bad password *** for cdc"


def test_conninfo_password_is_masked() -> None:
    assert scrub("host=db password='a b c' user=x") == "host=db password=*** user=x"
    assert scrub("mysql://root:hunter22@127.0.0.1:3306/") == "mysql://root:***@127.0.0.1:3306/"


def test_logging_filter_scrubs_arguments(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("tok-98765")
    logger = logging.getLogger("arrowtail.test.redact")
    logger.addFilter(ScrubFilter())
    with caplog.at_level(logging.INFO, logger="arrowtail.test.redact"):
        logger.info("connecting with %s", "tok-98765")
    assert "tok-98765" not in caplog.text
    assert "connecting with ***" in caplog.text


def test_toml_env_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text(
        '[source]\nurl = "postgresql://u@h/db"\nslot = "s1"\n'
        '[sink]\nurl = "parquet:/tmp/x"\n[run]\nidle_exit = 5\n'
        '[transform]\nredact_columns = ["*.*.ssn"]\n'
    )
    cfg = config.load(
        str(path),
        overrides={"source": {"slot": "s3", "publication": None}},
        environ={"ARROWTAIL_SOURCE_SLOT": "s2", "ARROWTAIL_RUN_IDLE_EXIT": "7"},
    )
    assert cfg.source.slot == "s3"
    assert cfg.source.publication == "arrowtail"
    assert cfg.run.idle_exit == 7.0
    assert cfg.source.kind == "postgres"
    assert cfg.sink.kind == "parquet"
    assert cfg.transform.redact_columns == ["*.*.ssn"]
    assert cfg.source.wire == "native"
    libpq = config.load(str(path), environ={"ARROWTAIL_SOURCE_WIRE": "libpq"})
    assert libpq.source.wire == "libpq"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sink": {"url": "parquet:/x"}}, "source.url is missing"),
        ({"source": {"url": "http://x"}, "sink": {"url": "parquet:/x"}}, "not a postgresql://"),
        ({"source": {"url": "mysql://h/"}}, "sink.url is missing"),
        (
            {"source": {"url": "mysql://h/", "snapshot": "sometimes"}, "sink": {"url": "jsonl:-"}},
            "source.snapshot must be one of",
        ),
        (
            {"source": {"url": "postgresql://h/", "wire": "odbc"}, "sink": {"url": "jsonl:-"}},
            "source.wire must be one of native, libpq",
        ),
    ],
)
def test_validation_names_the_key(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.load(None, overrides=overrides, environ={})


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text('[source]\nurl = "mysql://h/"\nslott = "x"\n')
    with pytest.raises(ConfigError, match="unknown key source.slott"):
        config.load(str(path), environ={})


def test_password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_PW", "from-env-pw-1")
    src = config.SourceConfig(url="postgresql://u@h/db", password_env="CDC_PW")
    assert src.password() == "from-env-pw-1"
    assert scrub("x from-env-pw-1 y") == "x *** y"
    monkeypatch.delenv("CDC_PW")
    with pytest.raises(ConfigError, match="CDC_PW, which is not set"):
        src.password()


def test_checkpoint_roundtrip_and_corruption(tmp_path: Path) -> None:
    cp = CheckpointFile(tmp_path / "sub" / "cp.json")
    assert cp.load() is None
    cp.save({"lsn": 123})
    assert cp.load() == {"lsn": 123}
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name.startswith(".")]
    (tmp_path / "sub" / "cp.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not a valid arrowtail checkpoint"):
        cp.load()
