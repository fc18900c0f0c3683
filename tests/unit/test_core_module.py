"""The extension module loads, and core errors arrive as the documented exception classes."""

from __future__ import annotations

import pytest

import arrowtail
from arrowtail import _core


def test_version_matches_crate() -> None:
    assert arrowtail.__version__ == _core.__version__
    assert arrowtail.__version__.count(".") == 2


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("decode", arrowtail.DecodeError),
        ("schema", arrowtail.SchemaChangeError),
        ("unsupported", arrowtail.UnsupportedTypeError),
        ("config", arrowtail.ConfigError),
        ("reserved", arrowtail.ReservedColumnError),
    ],
)
def test_core_errors_map_to_one_class_each(kind: str, cls: type[Exception]) -> None:
    with pytest.raises(cls) as info:
        _core._raise_core_error(kind, "detail-text")
    assert "detail-text" in str(info.value)
    assert isinstance(info.value, arrowtail.ArrowtailError)


def test_decode_error_names_the_position() -> None:
    with pytest.raises(arrowtail.DecodeError, match="byte offset 0"):
        _core._raise_core_error("decode", "x")
