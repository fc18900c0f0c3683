"""Process plumbing of the test servers; it lives in the package (``arrowtail.embedded.process``)
because ``arrowtail demo`` starts a private PostgreSQL the same way."""

from arrowtail.embedded.process import *  # noqa: F403
from arrowtail.embedded.process import (  # noqa: F401 - underscored names are not star-exported
    LOOPBACK,
    ProcessServer,
    ServerStartError,
    ServerUnavailable,
)
