"""verify's comparison of a PostgreSQL value with the form Debezium's JDBC sink stores it in: a
one-bit string as a boolean, an ``hstore`` as the JSON object of its pairs (docs/debezium.md)."""

from __future__ import annotations

import pytest

from arrowtail.verify.sides import normalise, same_value
from arrowtail.verify.values import BitString, HstoreText, hstore_pairs


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ('"a"=>"1", "b"=>NULL', {"a": "1", "b": None}),
        ('"k q"=>"x, y", "q\\"t"=>"b\\\\s"', {"k q": "x, y", 'q"t': "b\\s"}),
        ('"n"=>"NULL"', {"n": "NULL"}),
        ("", {}),
    ],
)
def test_hstore_text_reads_as_its_pairs(text, pairs) -> None:
    assert hstore_pairs(text) == pairs


@pytest.mark.parametrize("text", ['"a"=>1', "a=>b", '"a"=>"1",', '"a"=>"1" "b"=>NULL', '"a"'])
def test_other_text_is_not_an_hstore(text) -> None:
    assert hstore_pairs(text) is None


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (BitString("1"), True),
        (BitString("0"), False),
        (HstoreText('"a"=>"1", "b"=>NULL'), {"b": None, "a": "1"}),
        (HstoreText('"a"=>"1", "b"=>NULL'), '{"a": "1", "b": null}'),
        (HstoreText('"ü"=>""'), {"ü": ""}),
    ],
)
def test_a_value_in_the_form_debeziums_sink_stores_is_the_same(source, target) -> None:
    a, b = normalise(source), normalise(target)
    assert same_value(a, b) and same_value(b, a)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (BitString("1"), False),
        (BitString("0"), True),
        (BitString("10"), 2),  # only a one-bit string is a boolean
        ("1", True),  # text is not a bit string
        (HstoreText('"a"=>"1"'), {"a": 1}),
        (HstoreText('"a"=>"1"'), {"a": "1", "b": None}),
        (HstoreText('"a"=>NULL'), {"a": "NULL"}),
        ('"a"=>"1"', {"a": "1"}),  # text is not an hstore
    ],
)
def test_different_data_stay_different(source, target) -> None:
    a, b = normalise(source), normalise(target)
    assert not same_value(a, b) and not same_value(b, a)
