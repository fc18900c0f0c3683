"""Modules imported on first use, so that a command pays at start-up only for what it runs.

``pyarrow.compute`` builds a Python wrapper for each of its several hundred kernels when it is
imported (about a tenth of a second, a large share of ``arrowtail run``'s start-up); the hot path
calls the few kernels it needs through :func:`call`, which goes to the kernel registry directly,
and modules that use the full API hold a :class:`LazyModule` in place of the import.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import pyarrow as pa
from pyarrow import _compute


class LazyModule:
    """Stands for the module ``name``; imports it at the first attribute read."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


def call(kernel: str, *args: Any) -> Any:
    """Runs the Arrow compute kernel named ``kernel`` (e.g. ``"min_max"``) on ``args`` without
    importing ``pyarrow.compute``; returns its Arrow result (array or scalar)."""
    result: pa.Array | pa.Scalar = _compute.call_function(kernel, list(args))
    return result
