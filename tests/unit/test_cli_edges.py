"""Command-line edges that need no server: exit codes of bad values and unexpected errors, JSON
lines into devices and pipes, ``decode`` resuming an output, libpq ``key=value`` strings, the
last error of a run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from arrowtail import cli, lasterror
from arrowtail.config import load
from arrowtail.exceptions import ConfigError, SourceError
from arrowtail.sinks import open_sink
from arrowtail.sinks.database.postgres import PostgresTargetSink

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CAPTURE = FIXTURES / "pgoutput" / "stream.cap"
BINLOG = FIXTURES / "binlog" / "mariadb-bin.000001"
BINLOG_LATER = FIXTURES / "binlog" / "bug11747887-bin.000003"


def arrowtail(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arrowtail.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def one_error_line(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert done.returncode == code, f"exit {done.returncode}: {done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arrowtail: error:"), done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# -- exit codes ---------------------------------------------------------------------------------


def test_help_documents_the_exit_codes() -> None:
    for args in (["--help"], ["run", "--help"], ["status", "--help"]):
        out = arrowtail(*args).stdout
        assert "exit codes:" in out and "70  unexpected error" in out, out
        assert "1   verify found differences" in out, out


def test_an_unexpected_error_has_its_own_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from arrowtail import runner

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(runner, "decode_files", broken)
    code = cli.main(["decode", "--format", "binlog", str(BINLOG), "--to", "jsonl:-"])
    assert code == cli.EXIT_UNEXPECTED == 70
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unexpected error (RuntimeError): a bug" in err[0], err


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--source", "postgresql://u@127.0.0.1:99999/db", "--to", "jsonl:-"],
        ["run", "--source", "mysql://u@127.0.0.1:99999/", "--to", "jsonl:-"],
        ["run", "--source", "mysql://u@127.0.0.1:3306/", "--to", "postgresql://u@h:70000/t"],
        [
            "run",
            "--source",
            "mysql://u@127.0.0.1:3306/",
            "--to",
            "kafka://127.0.0.1:9092,127.0.0.1:99999",
            "--checkpoint",
            "cp.json",
        ],
        ["status", "--source", "postgresql://u@127.0.0.1:99999/db"],
        ["capture", "--source", "postgresql://u@127.0.0.1:99999/db", "--out", "x.cap"],
    ],
)
def test_a_port_out_of_range_is_a_configuration_error(args: list[str], tmp_path: Path) -> None:
    one_error_line(arrowtail(*args, cwd=tmp_path), 2, "port must be a number from 1 to 65535")
    assert list(tmp_path.iterdir()) == []  # nothing left behind


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[source]\nurl = 5\n", "source.url must be a string, not 5"),
        ('[source]\nurl = "mysql://u@h/"\ntables = 3\n', "source.tables must be a list"),
        ('[source]\nurl = "mysql://u@h/"\n[run]\nidle_exit = true\n', "run.idle_exit must be"),
        ('[source]\nurl = "mysql://u@h/"\n[sink]\nurl = ["x"]\n', "sink.url must be a string"),
        ('[source]\nurl = "mysql://u@h/"\n[run]\nmetrics_port = 70000\n', "run.metrics_port"),
    ],
)
def test_a_wrongly_typed_setting_is_a_configuration_error(
    toml: str, needle: str, tmp_path: Path
) -> None:
    config = tmp_path / "a.toml"
    config.write_text(toml)
    done = arrowtail("run", "--config", str(config), "--to", "jsonl:-", cwd=tmp_path)
    if "[sink]" in toml:  # the file's sink, not the flag's
        done = arrowtail("run", "--config", str(config), cwd=tmp_path)
    one_error_line(done, 2, needle)


def test_a_checkpoint_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    for checkpoint in ("/dev/null", str(tmp_path)):
        done = arrowtail(
            "run",
            *("--source", "mysql://u@127.0.0.1:1/", "--to", "jsonl:-"),
            *("--checkpoint", checkpoint),
        )
        one_error_line(done, 2, f"run.checkpoint {checkpoint} is not a regular file")
    assert Path("/dev/null").is_char_device()
    assert not Path("/dev/null.error.json").exists()


def test_a_busy_metrics_port_is_a_configuration_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = tmp_path / "out"
        done = arrowtail(
            "run",
            "--source",
            "postgresql://u@127.0.0.1:1/db",
            "--to",
            f"parquet:{out}",
            "--metrics-port",
            str(port),
            cwd=tmp_path,
        )
    one_error_line(done, 2, f"run.metrics_port {port}", "pick a free port")
    assert not out.exists()


# -- JSON lines into devices and pipes ----------------------------------------------------------


def test_jsonl_into_a_character_device_and_a_pipe(tmp_path: Path) -> None:
    done = arrowtail("decode", "--format", "pgoutput", str(CAPTURE), "--to", "jsonl:/dev/null")
    assert done.returncode == 0, done.stderr
    assert "1090 changes" in done.stderr, done.stderr
    # /dev/stdout is a pipe here: it gets the very lines a regular file gets.
    done = arrowtail("decode", "--format", "pgoutput", str(CAPTURE), "--to", "jsonl:/dev/stdout")
    assert done.returncode == 0, done.stderr
    regular = tmp_path / "changes.jsonl"
    to_file = arrowtail("decode", "--format", "pgoutput", str(CAPTURE), "--to", f"jsonl:{regular}")
    assert to_file.returncode == 0, to_file.stderr
    piped, stored = changes(done.stdout), changes(regular.read_text())
    assert len(piped) > 1000
    assert piped == stored
    assert piped[0]["after"] == {"id": 1, "v": "r1"}


def changes(text: str) -> list[dict]:
    """The JSON lines without their processing times (``ts_*`` of the envelope)."""
    lines = [json.loads(line) for line in text.splitlines()]
    return [{k: v for k, v in d.items() if not k.startswith("ts_")} for d in lines]


# -- decode resumes its output ------------------------------------------------------------------


def stored_rows(root: Path) -> list[tuple[str, int]]:
    """(table, _pos) of every row in the files the manifest lists, sorted."""
    manifest = json.loads((root / "_arrowtail" / "manifest.json").read_text())
    rows = []
    for entry in manifest["files"]:
        table = pq.read_table(root / entry["path"], columns=["_pos"])
        rows += [(entry["table"], p) for p in table.column("_pos").to_pylist()]
    return sorted(rows)


@pytest.mark.parametrize(("fmt", "path"), [("pgoutput", CAPTURE), ("binlog", BINLOG)])
def test_decoding_again_into_the_same_output_adds_nothing(
    fmt: str, path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = arrowtail("decode", "--format", fmt, str(path), "--to", f"parquet:{out}")
    assert first.returncode == 0, first.stderr
    once = stored_rows(out)
    assert len(once) == (1090 if fmt == "pgoutput" else 2)
    again = arrowtail("decode", "--format", fmt, str(path), "--to", f"parquet:{out}")
    assert again.returncode == 0, again.stderr
    assert "0 changes" in again.stderr, again.stderr
    assert stored_rows(out) == once


def test_decoding_more_files_adds_only_the_new_changes(tmp_path: Path) -> None:
    out, alone = tmp_path / "out", tmp_path / "alone"
    done = arrowtail("decode", "--format", "binlog", str(BINLOG), "--to", f"parquet:{out}")
    assert done.returncode == 0, done.stderr
    both = [str(BINLOG), str(BINLOG_LATER)]
    done = arrowtail("decode", "--format", "binlog", *both, "--to", f"parquet:{out}")
    assert done.returncode == 0, done.stderr
    done = arrowtail("decode", "--format", "binlog", *both, "--to", f"parquet:{alone}")
    assert done.returncode == 0, done.stderr
    assert stored_rows(out) == stored_rows(alone)
    assert len(stored_rows(alone)) == 2 + 3


# -- libpq key=value connection strings ---------------------------------------------------------


def test_libpq_key_value_strings_are_postgresql_connections() -> None:
    conninfo = "host=db.internal port=5433 dbname=shop user=cdc"
    cfg = load(None, overrides={"source": {"url": conninfo}, "sink": {"url": conninfo}}, environ={})
    assert cfg.source.kind == "postgres"
    assert cfg.sink.kind == "postgresql"
    sink = open_sink("host=127.0.0.1 dbname=target user=app")
    assert isinstance(sink, PostgresTargetSink)
    for not_pg in ("db.internal", "date=2024"):  # a host name; a folder name
        with pytest.raises(ConfigError, match="not a postgresql:// or mysql:// URL"):
            load(None, overrides={"source": {"url": not_pg}, "sink": {"url": "jsonl:-"}})


def test_verify_takes_a_key_value_target_as_a_database() -> None:
    from arrowtail.verify.compare import _open_against

    # A free port: nothing listens, so the connection is refused; before, the string was
    # taken for a Parquet directory.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceError, match="cannot connect to PostgreSQL"):
        _open_against(f"host=127.0.0.1 port={port} dbname=x user=u connect_timeout=5")


# -- the last error -----------------------------------------------------------------------------


def test_last_error_is_cleared_with_its_temporaries(tmp_path: Path) -> None:
    path = lasterror.error_file(f"parquet:{tmp_path}", None)
    assert path is not None
    lasterror.record(path, "the sink failed")
    assert lasterror.load(path) is not None
    (path.parent / f".{path.name}.tmp-4242").write_bytes(b"{")
    (path.parent / "manifest.json").write_text("{}")
    lasterror.clear(path)
    assert lasterror.load(path) is None
    assert sorted(p.name for p in path.parent.iterdir()) == ["manifest.json"]


def test_a_failed_record_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "last_error.json"
    path.mkdir()  # cannot be replaced by a file
    lasterror.record(path, "the sink failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last_error.json"]


def test_status_leaves_a_running_outputs_files_alone(tmp_path: Path) -> None:
    from arrowtail.sinks.parquet import ParquetSink
    from tests.support.batches import SIMPLE_COLUMNS, change_batch, simple_rows

    sink = ParquetSink(tmp_path)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(1, 2, pos=10)))
    sink.commit({"lsn": 10})
    sink.close()
    # A live run whose commits are deferred: its file is open under its temporary name.
    sink = ParquetSink(tmp_path, min_commit_interval=3600)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(3, 2, pos=20)))
    sink.commit({"lsn": 20})
    [writing] = (tmp_path / "public.t").glob(".part-*.tmp")
    done = arrowtail("status", "--to", f"parquet:{tmp_path}", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sink_checkpoint"] == {"lsn": 10}
    assert writing.exists()
    sink.close()
    assert ParquetSink(tmp_path).open() == {"lsn": 20}


def test_a_failed_checkpoint_save_leaves_no_temporary(tmp_path: Path) -> None:
    from arrowtail.checkpoint import CheckpointFile

    (tmp_path / "cp.json").mkdir()  # a folder cannot be replaced by the new file
    with pytest.raises(OSError):
        CheckpointFile(tmp_path / "cp.json").save({"lsn": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.json"]
