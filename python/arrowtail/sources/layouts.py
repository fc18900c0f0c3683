"""Column layouts of a table as its batches go by, for what a rewrite of the table at the source
may have written into the rows already there without a change for each: a column whose type
changed other than by widening (``ALTER COLUMN ... TYPE`` / ``MODIFY``: a smaller scale rounds,
``timestamp`` to ``timestamptz`` reads each value in the session's time zone, ``USING``
computes anew). The PostgreSQL source reads such a table again; the MySQL/MariaDB source warns.
"""

from __future__ import annotations

import pyarrow as pa

from arrowtail.exceptions import RESERVED_COLUMNS

Layout = tuple[tuple[str, str], ...]


def keeps_values(old: pa.DataType, new: pa.DataType, unconstrained: bool = False) -> bool:
    """Whether a column whose Arrow type changed from ``old`` to ``new`` still holds the same
    values: the same type, or a wider one of the same kind (an integer or float of more bits, an
    unsigned integer in a signed one of more bits, a decimal with as many digits each side of
    the point or more, an integer or decimal made an unconstrained ``numeric``, which
    ``unconstrained`` says ``new`` is)."""
    if old == new:
        return True
    if pa.types.is_list(old) and pa.types.is_list(new):
        return keeps_values(old.value_type, new.value_type, unconstrained)
    if unconstrained and pa.types.is_string(new):
        return pa.types.is_decimal(old) or pa.types.is_integer(old)
    if pa.types.is_integer(old) and pa.types.is_integer(new):
        if pa.types.is_signed_integer(old) != pa.types.is_signed_integer(new):
            # Unsigned into a signed integer of more bits keeps them; signed into unsigned not.
            return pa.types.is_unsigned_integer(old) and new.bit_width > old.bit_width
        return new.bit_width >= old.bit_width
    if pa.types.is_floating(old) and pa.types.is_floating(new):
        return new.bit_width >= old.bit_width
    if pa.types.is_integer(old) and pa.types.is_decimal(new):
        signed = pa.types.is_signed_integer(old)
        largest = 2 ** (old.bit_width - 1) if signed else 2**old.bit_width - 1
        return new.precision - new.scale >= len(str(largest))
    if pa.types.is_decimal(old) and pa.types.is_decimal(new):
        return new.scale >= old.scale and new.precision - new.scale >= old.precision - old.scale
    return False


def layout(schema: pa.Schema) -> Layout:
    """A batch schema's column names and types."""
    return tuple((f.name, str(f.type)) for f in schema)


def retyped(
    before: pa.Schema, now: pa.Schema, unconstrained: frozenset[str] = frozenset()
) -> list[str]:
    """The user columns of both layouts whose type changed other than by widening, each as
    ``name (old type to new type)``; ``unconstrained``: columns ``now`` has as a ``numeric``
    without a typmod."""
    return [
        f"{c} ({before.field(c).type} to {now.field(c).type})"
        for c in now.names
        if c in before.names
        and c not in RESERVED_COLUMNS
        and not keeps_values(before.field(c).type, now.field(c).type, c in unconstrained)
    ]


class Layouts:
    """Per table, the layout of the last batch and every layout met: a stream read again after a
    reconnect brings the same ones again, which are not new."""

    def __init__(self) -> None:
        self._tables: dict[str, tuple[pa.Schema, set[Layout]]] = {}

    def changed(self, table: str, schema: pa.Schema) -> pa.Schema | None:
        """The schema of the table's last batch when ``schema`` is a layout not met before and
        not the first; else ``None``. Either way ``schema`` becomes the last."""
        known = self._tables.get(table)
        if known is not None and schema is known[0]:
            # The common case, poll after poll: batches share their decoder's schema object.
            return None
        shape = layout(schema)
        if known is None:
            self._tables[table] = (schema, {shape})
            return None
        last, met = known
        self._tables[table] = (schema, met)
        if shape in met:
            return None
        met.add(shape)
        return last
