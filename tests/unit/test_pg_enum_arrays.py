"""An array of an enum in the pgoutput stream: the relation names it by an OID of the database,
which the decoder learns from the source (``alias_types``) and decodes as ``text[]`` in both wire
forms; unknown, its binary form is an error naming the column, never a garbled string."""

from __future__ import annotations

import struct

import pyarrow as pa
import pytest

from arrowtail import DecodeError, PgOutputDecoder
from tests.support.pgoutput_messages import begin, commit, cstr

REL = 16500
#: The array type of an enum, as a database would number it.
MOOD_ARRAY = 70001
MOOD = 70000


def _relation() -> bytes:
    body = struct.pack(">I", REL) + cstr("public") + cstr("e") + b"d" + struct.pack(">h", 2)
    for flags, name, oid in ((1, "id", 23), (0, "moods", MOOD_ARRAY)):
        body += bytes([flags]) + cstr(name) + struct.pack(">Ii", oid, -1)
    return b"R" + body


def _binary_labels(labels: list[str | None]) -> bytes:
    """The binary send form of a one-dimensional enum array: header, then each label's bytes."""
    out = struct.pack(">iiIii", 1, int(None in labels), MOOD, len(labels), 1)
    for label in labels:
        out += (
            struct.pack(">i", -1)
            if label is None
            else struct.pack(">i", len(label)) + label.encode()
        )
    return out


def _insert(key: int, moods: tuple[bytes, bytes]) -> bytes:
    kind, value = moods
    row = struct.pack(">h", 2) + b"b" + struct.pack(">ii", 4, key)
    row += kind + struct.pack(">i", len(value)) + value
    return b"I" + struct.pack(">I", REL) + b"N" + row


def _feed(d: PgOutputDecoder, rows: list[bytes]) -> None:
    for i, m in enumerate([begin(0x500, 7), _relation(), *rows, commit(0x500)]):
        d.feed(m, lsn=0x400 + i)


def test_an_aliased_enum_array_is_a_list_of_labels_in_both_wire_forms() -> None:
    d = PgOutputDecoder()
    d.alias_types({MOOD_ARRAY: 1009})
    binary = (b"b", _binary_labels(["happy", None, "sad"]))
    text = (b"t", b'{ok,NULL,"very happy"}')
    _feed(d, [_insert(1, binary), _insert(2, text)])
    [(table, _version, batch)] = d.flush()
    assert table == "public.e"
    assert batch.schema.field("moods").type == pa.list_(pa.string())
    assert batch.column("moods").to_pylist() == [["happy", None, "sad"], ["ok", None, "very happy"]]


def test_without_the_alias_a_binary_enum_array_is_an_error_naming_the_column() -> None:
    d = PgOutputDecoder()
    with pytest.raises(DecodeError, match="moods"):
        _feed(d, [_insert(1, (b"b", _binary_labels(["happy"])))])
        d.flush()


def test_only_text_arrays_are_accepted_as_targets() -> None:
    with pytest.raises(ValueError, match="text\\[\\]"):
        PgOutputDecoder().alias_types({MOOD_ARRAY: 23})
