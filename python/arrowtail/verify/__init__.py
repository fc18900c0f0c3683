"""``arrowtail verify``: is the target a faithful copy of the source?

The public names load their module on first use (PEP 562), so importing a sibling module of this
package does not import them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arrowtail.verify.compare import (
        Report,
        TableReport,
        add_verify_arguments,
        main_verify,
        recheck,
        recheck_table,
        verify,
        verify_table,
    )

__all__ = [
    "Report",
    "TableReport",
    "add_verify_arguments",
    "main_verify",
    "recheck",
    "recheck_table",
    "verify",
    "verify_table",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("arrowtail.verify.compare"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
