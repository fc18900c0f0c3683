"""``source.sequence`` across a restart from an idle position, PostgreSQL -> Kafka.

A run delivers two transactions, then stays quiet while heartbeats move its checkpoint to an idle
position (a WAL end past the last commit); it is stopped (SIGTERM, or SIGKILL) and a new run
resumes from that position with a third transaction waiting. That transaction's events name the
end of the second transaction as the last commit (``sequence[0]``), as they would in a run never
stopped. The commit ends are read independently of arrowtail: from a second slot's pgoutput Commit
messages (protocol "Logical Replication Message Formats", ``Commit``: flags, commit LSN, end LSN,
timestamp).
"""

from __future__ import annotations

import json
import signal
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.chaos import start_arrowtail, wait_for
from tests.support.kafka_topics import consume_until_quiet, create_topic
from tests.support.pg_run import create_database, drop_slot, env_for, run_args

DB = "pg_seq_resume"
PUB = "seq_pub"
SCHEMA = f"""
CREATE TABLE t (id int PRIMARY KEY, v text);
CREATE PUBLICATION {PUB} FOR TABLE t;
"""


@pytest.fixture
def slots(postgres: Any) -> Iterator[tuple[str, str]]:
    """A new database with the run's slot and a reference slot, both dropped afterwards."""
    create_database(postgres, DB, SCHEMA)
    names = ("seq_run", "seq_reference")
    with postgres.connect(dbname=DB) as conn:
        for name in names:
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))
    yield names
    for name in names:
        drop_slot(postgres, DB, name, missing_ok=True)


def commit_ends(postgres: Any, slot: str, count: int) -> list[int]:
    """End LSNs of the first ``count`` transactions committed through ``slot``, in commit order,
    from the Commit messages pgoutput writes (``C``, flags, commit LSN, end LSN, timestamp);
    waited for, since logical decoding reads only WAL already flushed."""
    ends: list[int] = []

    def peek() -> bool:
        with postgres.connect(dbname=DB) as conn:
            rows = conn.execute(
                "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, "
                "'proto_version', '1', 'publication_names', %s)",
                (slot, PUB),
            ).fetchall()
        ends[:] = [struct.unpack_from(">Q", data, 10)[0] for (data,) in rows if data[:1] == b"C"]
        return len(ends) >= count

    wait_for(peek, f"{count} commits in slot {slot}")
    return ends[:count]


def insert(postgres: Any, row_id: int) -> None:
    with postgres.connect(dbname=DB) as conn:
        conn.execute("INSERT INTO t VALUES (%s, %s)", (row_id, f"row {row_id}"))


def sequences(kafka: Any, topic: str) -> dict[int, list[tuple[int | None, int]]]:
    """Per row id, the ``source.sequence`` of each of its events as (last commit, lsn)."""
    out: dict[int, list[tuple[int | None, int]]] = {}
    for msg in consume_until_quiet(kafka.bootstrap, topic, quiet=3.0):
        if msg.value() is None:
            continue
        event = json.loads(msg.value())
        last, lsn = json.loads(event["source"]["sequence"])
        assert int(lsn) == event["source"]["lsn"]
        seq = (None if last is None else int(last), int(lsn))
        out.setdefault(event["after"]["id"], []).append(seq)
    return out


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_run_resumed_from_an_idle_position_names_the_last_commit_before_it(
    postgres: Any, kafka: Any, slots: tuple[str, str], tmp_path: Path, stop: signal.Signals
) -> None:
    slot, reference = slots
    prefix = f"sq{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 1)
    cp = tmp_path / "checkpoint.json"
    args = run_args(postgres, DB, tmp_path, slot, PUB, "--checkpoint", str(cp))
    args[args.index("--to") + 1] = f"kafka://{kafka.bootstrap}?topic_prefix={prefix}"
    args += ["--heartbeat", "0.2"]
    env = env_for(postgres)
    insert(postgres, 1)
    insert(postgres, 2)
    first_end, second_end = commit_ends(postgres, reference, 2)

    def stored() -> dict[str, Any]:
        return json.loads(cp.read_text())["position"] if cp.exists() else {}

    first = start_arrowtail([*args, "--idle-exit", "600"], env, tmp_path, "first")
    try:
        # Both transactions stored, then an idle position past them (a heartbeat's WAL end).
        wait_for(
            lambda: (
                stored().get("lsn", 0) == stored().get("end_lsn") and stored()["lsn"] > second_end
            ),
            "an idle position in the checkpoint",
            timeout=120,
        )
    finally:
        first.proc.send_signal(stop)
        code = first.wait(timeout=60)
    assert code == (0 if stop == signal.SIGTERM else -signal.SIGKILL), first.output()
    idle = stored()
    assert idle["lsn"] == idle["end_lsn"] > second_end

    insert(postgres, 3)
    third_end = commit_ends(postgres, reference, 3)[2]
    second = start_arrowtail([*args, "--idle-exit", "3"], env, tmp_path, "second")
    assert second.wait(timeout=180) == 0, second.output()
    assert postgres.app_password not in first.output() + second.output()

    seen = sequences(kafka, topic)
    assert sorted(seen) == [1, 2, 3]
    # The first run knew no commit before its first transaction (it started from a new slot).
    assert {s[0] for s in seen[1]} == {None}
    assert {s[0] for s in seen[2]} == {first_end}
    # Resumed from the idle position: the commit before it, as an uninterrupted run names it.
    assert {s[0] for s in seen[3]} == {second_end}
    # Each change after the commit it names (a change's record may start right where that
    # commit record ends) and before its own commit's end.
    assert all(first_end <= lsn < second_end for _, lsn in seen[2]), (first_end, seen)
    assert all(second_end <= lsn < third_end for _, lsn in seen[3]), (second_end, seen)
    # The idle position resumed from carried that commit; the last one carries the new one.
    assert idle["last_commit_lsn"] == second_end
    final = stored()
    assert final["last_commit_lsn"] == third_end
    assert final["end_lsn"] >= third_end
