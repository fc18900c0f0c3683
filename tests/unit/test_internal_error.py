"""A panic of the Rust core reaches Python as ``arrowtail.InternalError`` (an ``ArrowtailError``,
so ``except Exception`` and the CLI's one-line error handling catch it), never as PyO3's
``PanicException``, a ``BaseException`` that escapes them. Nothing real panics on demand, so the
tests use the hidden ``_panic_for_test`` entry points, which panic inside the same guard as every
other call. No server."""

from __future__ import annotations

import pytest

import arrowtail
from arrowtail import _core


def test_a_panic_arrives_as_internal_error() -> None:
    with pytest.raises(arrowtail.InternalError) as info:
        _core._panic_for_test("boom 42")
    message = str(info.value)
    assert message.startswith("internal error in _panic_for_test: boom 42 (at ")
    assert message.endswith("; please report")
    # Where it happened, without the machine's paths.
    assert "rust/arrowtail-python/src/lib.rs:" in message
    assert isinstance(info.value, arrowtail.ArrowtailError)
    assert isinstance(info.value, Exception)
    assert type(info.value).__name__ == "InternalError"


def test_a_caught_panic_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(arrowtail.InternalError):
        _core._panic_for_test("quiet")
    captured = capfd.readouterr()
    assert "panicked" not in captured.err
    assert "quiet" not in captured.err


def test_a_decoder_refuses_calls_after_a_panic() -> None:
    d = arrowtail.PgOutputDecoder()
    with pytest.raises(
        arrowtail.InternalError, match=r"^internal error in PgOutputDecoder._panic_for_test: bang"
    ):
        d._panic_for_test("bang")
    # Its state may be half updated: decoding on could lose or repeat rows.
    for call in (lambda: d.feed_capture(b""), d.flush, lambda: d.committed_lsn):
        with pytest.raises(arrowtail.InternalError, match=r"unusable after an earlier internal"):
            call()
    # Other decoders are not affected.
    other = arrowtail.PgOutputDecoder()
    other.feed_capture(b"")
    assert other.flush() == []


def test_core_bugs_map_to_internal_error() -> None:
    with pytest.raises(arrowtail.InternalError, match="detail-text") as info:
        _core._raise_core_error("internal", "detail-text")
    assert not isinstance(info.value, arrowtail.DecodeError)


def test_the_cli_reports_a_panic_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import arrowtail.runner
    from arrowtail import cli

    def decode_files(*_args: object) -> None:
        _core._panic_for_test("offsets overflow")

    monkeypatch.setattr(arrowtail.runner, "decode_files", decode_files)
    rc = cli.main(["decode", "--format", "pgoutput", "in.cap", "--to", "jsonl:-"])
    assert rc == arrowtail.InternalError.exit_code
    assert rc not in (0, 2, 3)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "arrowtail: error: internal error in _panic_for_test: offsets overflow"
    )
    assert lines[0].endswith("; please report")
