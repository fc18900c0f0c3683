"""What the integration modules share beyond the servers of ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def _slots(postgres: object) -> set[str]:
    conn = postgres.connect()  # type: ignore[attr-defined]
    try:
        return {r[0] for r in conn.execute("SELECT slot_name FROM pg_replication_slots")}
    finally:
        conn.close()


@pytest.fixture(autouse=True, scope="module")
def _drop_the_module_slots(request: pytest.FixtureRequest) -> Iterator[None]:
    """Drops the replication slots a module created and left inactive, when the module ends.

    The session's one PostgreSQL server has a fixed number of slots, and a slot left behind also
    holds WAL back for the rest of the session; tests that end early on a failure, or keep a slot
    to look at it, would otherwise use the slots up for every module after them. Module scope,
    so that slots a module's own fixtures share between its tests live as long as they do."""
    uses_postgres = any(
        "postgres" in getattr(item, "fixturenames", ())
        for item in request.session.items
        if getattr(item, "module", None) is request.module
    )
    if not uses_postgres:
        yield
        return
    postgres = request.getfixturevalue("postgres")
    before = _slots(postgres)
    yield
    conn = postgres.connect()
    try:
        rows = conn.execute(
            "SELECT slot_name FROM pg_replication_slots WHERE NOT active"
        ).fetchall()
        for (name,) in rows:
            if name not in before:
                try:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
                except Exception:  # noqa: BLE001 - taken meanwhile; the next module retries
                    pass
    finally:
        conn.close()
