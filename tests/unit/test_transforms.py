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


def keyed(batch: pa.RecordBatch, key: str) -> pa.RecordBatch:
    meta = dict(batch.schema.metadata or {})
    meta[b"arrowtail.primary_key"] = key.encode()
    return batch.replace_schema_metadata(meta)


def test_include_columns_keep_only_the_listed_ones_in_the_row_and_the_old_image() -> None:
    t = TableTransform(TransformConfig(include_columns=["public.users.id", "public.users.email"]))
    out = t("public.users", keyed(users_batch(), "id"))
    assert out is not None
    assert out.schema.names == ["id", "email", "_op", "_pos", "_before"]
    assert out.column("_before").type == pa.struct([("id", pa.int64()), ("email", pa.string())])
    assert out.column("_before").to_pylist()[1] == {"id": 2, "email": "old@x.org"}
    # Tables no include rule names keep every column.
    other = t("public.other", keyed(users_batch(), "id"))
    assert other is not None and "ssn" in other.schema.names


def test_include_or_exclude_never_removes_a_key_column() -> None:
    with pytest.raises(ConfigError, match="id of public.users is a key column"):
        TableTransform(TransformConfig(include_columns=["public.users.email"]))(
            "public.users", keyed(users_batch(), "id")
        )
    with pytest.raises(ConfigError, match="id of public.users is a key column"):
        TableTransform(TransformConfig(drop_columns=["public.users.id"]))(
            "public.users", keyed(users_batch(), "id")
        )
    with pytest.raises(ConfigError, match="names nope, which public.users does not have"):
        TableTransform(TransformConfig(include_columns=["public.users.nope"]))(
            "public.users", keyed(users_batch(), "id")
        )


def test_key_columns_replace_the_key_as_message_key_columns_does() -> None:
    t = TableTransform(TransformConfig(key_columns=["public.us*:email,ssn"]))
    meta = dict(users_batch().schema.metadata or {})
    meta[b"arrowtail.primary_key"] = b"id,email,ssn"
    meta[b"arrowtail.primary_key_from"] = b"replica_identity"
    out = t("public.users", users_batch().replace_schema_metadata(meta))
    assert out is not None
    assert out.schema.metadata[b"arrowtail.primary_key"] == b"email,ssn"
    assert b"arrowtail.primary_key_from" not in out.schema.metadata
    # Now the old key column may go.
    t = TableTransform(
        TransformConfig(key_columns=["public.users:email"], drop_columns=["public.users.id"])
    )
    out = t("public.users", keyed(users_batch(), "id"))
    assert out is not None and out.schema.names[:2] == ["email", "ssn"]
    with pytest.raises(ConfigError, match="must look like schema.table:column"):
        TableTransform(TransformConfig(key_columns=["public.users"]))
    with pytest.raises(ConfigError, match="names zz as key of public.users"):
        TableTransform(TransformConfig(key_columns=["public.users:zz"]))(
            "public.users", users_batch()
        )


def test_only_a_transform_without_any_rule_changes_nothing() -> None:
    assert TableTransform(TransformConfig()).changes_nothing
    for rule in (
        TransformConfig(include_tables=["public.*"]),
        TransformConfig(exclude_tables=["public.audit"]),
        TransformConfig(drop_columns=["public.users.email"]),
        TransformConfig(include_columns=["public.users.id"]),
        TransformConfig(key_columns=["public.users:id"]),
        TransformConfig(redact_columns=["public.users.email"]),
    ):
        assert not TableTransform(rule).changes_nothing, rule
    hashed = TransformConfig(hash_columns=["public.users.email"], hash_key_env="K")
    assert not TableTransform(hashed, environ={"K": "secret"}).changes_nothing
