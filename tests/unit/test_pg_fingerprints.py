"""Which changes of a table's catalog fingerprint (``relfilenode:hash of its columns:columns with
a stored default``) make a restart read the table again (a rewrite that changed its columns) or
mark columns added since (with a constant default); neither a rewrite that kept the columns nor
a column added without a default or dropped (tests/integration/test_dbsink_added_default.py
proves the whole)."""

from __future__ import annotations

import pytest

from arrowtail.sources.postgres.admin import fingerprint_changes


@pytest.mark.parametrize(
    ("before", "now", "rewritten", "added"),
    [
        ("16400:aaaa1111:", "16400:aaaa1111:", False, []),  # nothing changed
        ("16400:aaaa1111:", "16411:bbbb2222:", True, []),  # ADD COLUMN DEFAULT now(), TYPE
        ("16400:aaaa1111:", "16411:aaaa1111:", False, []),  # VACUUM FULL, CLUSTER, TRUNCATE
        ("16400:aaaa1111:", "16400:bbbb2222:", False, []),  # ADD COLUMN without default, DROP
        ("16400:aaaa1111:", "16400:bbbb2222:z", False, ["z"]),  # ADD COLUMN z DEFAULT 3
        ("16400:aaaa1111:z", "16400:bbbb2222:z,y", False, ["y"]),
        ("16400:aaaa1111:z", "16400:bbbb2222:z", False, []),  # z was there: another dropped
        ("16400:aaaa1111:z", "16411:aaaa1111:", False, []),  # VACUUM FULL stores z in the rows
        ("0:aaaa1111:", "0:bbbb2222:", False, []),  # a partitioned table stores no rows
    ],
)
def test_what_a_changed_fingerprint_tells(
    before: str, now: str, rewritten: bool, added: list[str]
) -> None:
    assert fingerprint_changes(before, now) == (rewritten, added)
