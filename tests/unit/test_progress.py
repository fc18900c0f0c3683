"""Progress bars: counts, rate, ETA text on a terminal, silence elsewhere."""

from __future__ import annotations

import re

import pytest

from arrowtail import progress


@pytest.fixture(autouse=True)
def _reset() -> object:
    yield
    progress.configure(None)


def test_counts_rows_and_rate_without_drawing(capsys: pytest.CaptureFixture[str]) -> None:
    progress.configure(False)
    with progress.TableProgress("public.items", total=10) as bar:
        bar.advance(4)
        bar.advance(6)
    assert bar.rows == 10
    assert bar.seconds > 0
    assert bar.rate == pytest.approx(10 / bar.seconds)
    assert capsys.readouterr().err == ""


def test_draws_label_rows_and_total_when_enabled(capsys: pytest.CaptureFixture[str]) -> None:
    progress.configure(True)
    with progress.TableProgress("public.items", total=1000) as bar:
        bar.advance(250)
    err = capsys.readouterr().err
    assert "public.items" in err
    # The bar is closed at the rows counted, since estimates can be wrong either way.
    assert "250/250" in err


def test_low_estimate_grows_instead_of_overflowing(capsys: pytest.CaptureFixture[str]) -> None:
    progress.configure(True)
    with progress.TableProgress("public.items", total=10) as bar:
        bar.advance(25)
        assert bar._bar is not None and bar._bar.total == 25
    assert re.search(r"\b25(\.0)?/25(\.0)? ", capsys.readouterr().err)


def test_unknown_or_zero_total_has_no_eta() -> None:
    progress.configure(False)
    assert progress.TableProgress("t", total=0).total is None
    assert progress.TableProgress("t", total=-1).total is None
    assert progress.TableProgress("t", total=None).total is None
