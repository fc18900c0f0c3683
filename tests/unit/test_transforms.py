"""Table filters and column masking over contract-shaped batches."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa
import pytest

from arrowtail.exceptions import ConfigError
from arrowtail.transforms import TableTransform, TransformConfig


def users_batch() -> pa.RecordBatch:
    before_type = pa.struct([("id", pa.int64()), ("email", pa.string()), ("ssn", pa.string())])
    return pa.RecordBatch.from_pydict(
        {
            "id": pa.array([1, 2], pa.int64()),
            "email": ["a@x.org", None],
            "ssn": ["111", "222"],
            "_op": ["c", "u"],
            "_pos": pa.array([5, 6], pa.uint64()),
            "_before": pa.array(
                [None, {"id": 2, "email": "old@x.org", "ssn": "222"}], type=before_type
            ),
        },
        metadata={"arrowtail.table": "public.users"},
    )


def test_hash_redact_and_filter() -> None:
    t = TableTransform(
        TransformConfig(
            include_tables=["public.*"],
            exclude_tables=["public.audit"],
            redact_columns=["*.*.ssn"],
            hash_columns=["public.users.email"],
            hash_key_env="MASK_KEY",
        ),
        environ={"MASK_KEY": "s3cret-key"},
    )
    assert t("public.audit", users_batch()) is None
    assert t("other.users", users_batch()) is None
    out = t("public.users", users_batch())
    assert out is not None
    expected = hmac.new(b"s3cret-key", b"a@x.org", hashlib.sha256).hexdigest()
    assert out.column("email").to_pylist() == [expected, None]
    assert out.column("ssn").null_count == 2
    before = out.column("_before").to_pylist()
    assert before[0] is None
    assert before[1]["ssn"] is None
    assert before[1]["email"] == hmac.new(b"s3cret-key", b"old@x.org", hashlib.sha256).hexdigest()
    assert out.schema.metadata[b"arrowtail.table"] == b"public.users"


def test_hashing_needs_a_key_from_the_environment() -> None:
    cfg = TransformConfig(hash_columns=["public.users.email"], hash_key_env="NOPE_KEY")
    with pytest.raises(ConfigError, match="NOPE_KEY"):
        TableTransform(cfg, environ={})
    with pytest.raises(ConfigError, match="schema.table.column"):
        TableTransform(TransformConfig(drop_columns=["email"]))
