"""``arrowtail verify``: is the target a faithful copy of the source?"""

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
