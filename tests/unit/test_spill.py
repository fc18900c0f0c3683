"""The on-disk keeping of an open transaction's rows (arrowtail.spill): rows come back in order
with their commit stamped, and no file outlives its transaction."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from arrowtail.spill import Spill
from tests.support.batches import SIMPLE_COLUMNS, change_batch, simple_rows


def unstamped(first: int, n: int) -> pa.RecordBatch:
    return change_batch(SIMPLE_COLUMNS, simple_rows(first, n, pos=0))


def test_rows_come_back_in_order_stamped_and_the_files_go(tmp_path: Path) -> None:
    spill = Spill(str(tmp_path))
    spill.add([("d.t", 1, unstamped(1, 2)), ("d.u", 1, unstamped(10, 1))])
    spill.add([("d.t", 1, unstamped(3, 2))])
    assert spill.active and spill.rows == 5
    assert len(list(tmp_path.rglob("*.arrows"))) == 2
    rows = spill.drain(0x1_0000_0100, 1_700_000_000_000_000, 42)
    # Drained: a next transaction starts a spill of its own while these are read.
    assert not spill.active
    spill.add([("d.t", 1, unstamped(7, 1))])
    got = list(rows)
    assert [(t, b.column("id").to_pylist()) for t, _v, b in got] == [
        ("d.t", [1, 2]),
        ("d.t", [3, 4]),
        ("d.u", [10]),
    ]
    for _t, _v, b in got:
        assert set(b.column("_pos").to_pylist()) == {0x1_0000_0100}
        assert set(b.column("_xid").to_pylist()) == {42}
        ts = b.column("_commit_ts")
        assert ts.type == pa.timestamp("us", tz="UTC")
        assert {v.value for v in ts} == {1_700_000_000_000_000}
        assert b.schema == unstamped(1, 1).schema
    assert len(list(tmp_path.iterdir())) == 1  # only the next transaction's directory
    spill.discard()
    assert list(tmp_path.iterdir()) == []


def test_xid_stays_when_the_commit_gives_none(tmp_path: Path) -> None:
    spill = Spill(str(tmp_path))
    batch = unstamped(1, 2)
    spill.add([("d.t", 1, batch)])
    (_t, _v, got) = next(iter(spill.drain(5, 6, None)))
    assert got.column("_xid").to_pylist() == batch.column("_xid").to_pylist()
    assert got.column("_pos").to_pylist() == [5, 5]


def test_leftovers_of_dead_runs_are_removed_and_a_live_runs_kept(tmp_path: Path) -> None:
    # A process that has exited: its id names a run that died.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_dir = tmp_path / f"arrowtail-spill-{int(dead.stdout)}-abc"
    dead_dir.mkdir()
    (dead_dir / "00000.arrows").write_bytes(b"x")
    mine = Spill(str(tmp_path))
    mine.add([("d.t", 1, unstamped(1, 1))])
    other = tmp_path / "arrowtail-spilled-notes"
    other.mkdir()
    assert Spill(str(tmp_path)).remove_leftovers() == 1
    assert not dead_dir.exists()
    assert other.exists()
    assert mine.active and len(list(tmp_path.rglob("*.arrows"))) == 1
    mine.discard()


def test_an_aborted_subtransaction_leaves_exactly_its_rows_out(tmp_path: Path) -> None:
    # A streamed transaction 50 with subtransactions 51 and 52, added as the decoder takes them
    # out: one batch per subtransaction run, tables interleaved.
    spill = Spill(str(tmp_path))
    spill.add([("d.t", 1, unstamped(1, 2))], subxact=50)
    spill.add([("d.t", 1, unstamped(3, 2))], subxact=51)
    spill.add([("d.u", 1, unstamped(20, 1))], subxact=51)
    spill.add([("d.t", 1, unstamped(5, 1))], subxact=52)
    spill.abort(51)
    spill.add([("d.t", 1, unstamped(6, 2))], subxact=50)
    got = [(t, b.column("id").to_pylist()) for t, _v, b in spill.drain(9, 10, None)]
    assert got == [("d.t", [1, 2]), ("d.t", [5]), ("d.t", [6, 7])]
    assert list(tmp_path.iterdir()) == []
    # The aborted set belongs to that transaction: the next one keeps a subtransaction 51.
    spill.add([("d.t", 1, unstamped(8, 1))], subxact=51)
    got = [(t, b.column("id").to_pylist()) for t, _v, b in spill.drain(9, 10, None)]
    assert got == [("d.t", [8])]


def test_one_spill_per_transaction_and_discard_removes_only_its_files(tmp_path: Path) -> None:
    kept, rolled_back = Spill(str(tmp_path)), Spill(str(tmp_path))
    kept.add([("d.t", 1, unstamped(1, 3))], subxact=70)
    rolled_back.add([("d.t", 1, unstamped(100, 3))], subxact=80)
    assert len(list(tmp_path.iterdir())) == 2
    rolled_back.discard()
    assert not rolled_back.active
    assert len(list(tmp_path.rglob("*.arrows"))) == 1
    got = [b.column("id").to_pylist() for _t, _v, b in kept.drain(5, 6, None)]
    assert got == [[1, 2, 3]]
    assert list(tmp_path.iterdir()) == []


def test_a_drain_closed_early_removes_the_files(tmp_path: Path) -> None:
    spill = Spill(str(tmp_path))
    spill.add([("d.t", 1, unstamped(1, 1))])
    spill.add([("d.u", 1, unstamped(2, 1))])
    rows = spill.drain(1, 2, None)
    next(rows)
    rows.close()
    assert list(tmp_path.iterdir()) == []
