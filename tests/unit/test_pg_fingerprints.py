"""Which changes of a table's catalog fingerprint (``relfilenode:hash of its columns:columns with
a stored default``) make a restart read the table again: a rewrite that changed its columns, or
a column added with a constant default; not a rewrite that kept them, nor a column added
without a default or dropped (tests/integration/test_dbsink_added_default.py proves the
whole)."""

from __future__ import annotations

import pytest

from arrowtail.sources.postgres.admin import read_again_for


@pytest.mark.parametrize(
    ("before", "now", "expected"),
    [
        ("16400:aaaa1111:", "16400:aaaa1111:", None),  # nothing changed
        ("16400:aaaa1111:", "16411:bbbb2222:", "rewrote"),  # ADD COLUMN DEFAULT now(), TYPE
        ("16400:aaaa1111:", "16411:aaaa1111:", None),  # VACUUM FULL, CLUSTER, TRUNCATE
        ("16400:aaaa1111:", "16400:bbbb2222:", None),  # ADD COLUMN without default, DROP
        ("16400:aaaa1111:", "16400:bbbb2222:z", "z added with a default"),  # DEFAULT 3
        ("16400:aaaa1111:z", "16400:bbbb2222:z,y", "y added with a default"),
        ("16400:aaaa1111:z", "16400:bbbb2222:z", None),  # z was there: another column dropped
        ("16400:aaaa1111:z", "16411:aaaa1111:", None),  # VACUUM FULL stores z in the rows
        ("0:aaaa1111:", "0:bbbb2222:", None),  # a partitioned table stores no rows
    ],
)
def test_what_a_changed_fingerprint_tells(before: str, now: str, expected: str | None) -> None:
    found = read_again_for(before, now)
    if expected is None:
        assert found is None
    else:
        assert found is not None and expected in found
