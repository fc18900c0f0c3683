"""Which changes of a table's catalog fingerprint (``oid/relfilenode:hash of its
columns:columns with a stored default``) make a restart read the table again (a rewrite that
changed its columns, another table under the name) or mark columns added since (with a constant
default); neither a rewrite that kept the columns nor a column added without a default or
dropped (tests/integration/test_dbsink_added_default.py and test_pg_replaced_tables.py prove the
whole). Fingerprints stored before they named the OID start with the file."""

from __future__ import annotations

import pytest

from arrowtail.sources.postgres.admin import fingerprint_changes, relid, replaced


@pytest.mark.parametrize(
    ("before", "now", "rewritten", "added"),
    [
        ("16400:aaaa1111:", "16400:aaaa1111:", False, []),  # nothing changed
        ("16400:aaaa1111:", "16411:bbbb2222:", True, []),  # ADD COLUMN DEFAULT random(), TYPE
        ("16400:aaaa1111:", "16411:aaaa1111:", False, []),  # VACUUM FULL, CLUSTER, TRUNCATE
        ("16400:aaaa1111:", "16400:bbbb2222:", False, []),  # ADD COLUMN without default, DROP
        ("16400:aaaa1111:", "16400:bbbb2222:z", False, ["z"]),  # ADD COLUMN z DEFAULT 3
        ("16400:aaaa1111:z", "16400:bbbb2222:z,y", False, ["y"]),
        ("16400:aaaa1111:z", "16400:bbbb2222:z", False, []),  # z was there: another dropped
        ("16400:aaaa1111:z", "16411:aaaa1111:", False, []),  # VACUUM FULL stores z in the rows
        ("0:aaaa1111:", "0:bbbb2222:", False, []),  # a partitioned table stores no rows
        ("16390/16400:aaaa1111:", "16390/16411:bbbb2222:", True, []),  # with the OID
        ("16390/16400:aaaa1111:", "16390/16411:aaaa1111:", False, []),
        ("16400:aaaa1111:", "16390/16411:bbbb2222:", True, []),  # stored before OIDs were
        ("16390/0:aaaa1111:", "16390/0:bbbb2222:", False, []),
    ],
)
def test_what_a_changed_fingerprint_tells(
    before: str, now: str, rewritten: bool, added: list[str]
) -> None:
    assert fingerprint_changes(before, now) == (rewritten, added)


@pytest.mark.parametrize(
    ("before", "now", "other_table"),
    [
        ("16390/16400:aaaa1111:", "16390/16411:bbbb2222:", False),  # the same table rewritten
        ("16390/16400:aaaa1111:", "16395/16395:aaaa1111:", True),  # dropped and created again
        ("16390/0:aaaa1111:", "16395/0:aaaa1111:", True),  # a partitioned table too
        ("16400:aaaa1111:", "16395/16395:aaaa1111:", False),  # stored without the OID: unknown
        ("16390/16400:aaaa1111:", "", False),
    ],
)
def test_another_oid_under_the_name_is_another_table(
    before: str, now: str, other_table: bool
) -> None:
    assert replaced(before, now) is other_table
    assert relid(before) == (None if before.startswith("16400") else 16390)
