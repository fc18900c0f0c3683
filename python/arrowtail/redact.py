"""Keeping secrets out of logs, errors, metrics and ``status`` output.

Two layers: connection strings are rewritten with their password masked before they are shown
anywhere, and every secret arrowtail learns (passwords, masking keys) is registered so that a
logging filter and the CLI's error printer scrub it from any text, whatever produced that text
(a driver's error message, for instance).
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

_lock = threading.Lock()
_secrets: set[str] = set()

# key=value conninfo (libpq) password settings, quoted or not.
_CONNINFO_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
# user:password@ in any URL-like string.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@")


def register_secret(secret: str | None) -> None:
    """Remembers a secret so that :func:`scrub` removes it from any text."""
    if secret and len(secret) >= 3:
        with _lock:
            _secrets.add(secret)


def scrub(text: str) -> str:
    """Masks every registered secret and every password in URLs or conninfo strings in ``text``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _CONNINFO_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}", text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for s in secrets:
        text = text.replace(s, MASK)
    return text


def redact_url(url: str) -> str:
    """A connection URL or conninfo string with its password masked; the secret is registered."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    if parts.scheme and parts.password:
        register_secret(parts.password)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:{MASK}@{host}"
        if parts.port:
            netloc += f":{parts.port}"
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    m = _CONNINFO_PASSWORD.search(url)
    if m:
        register_secret(m.group(2).strip("'"))
    return scrub(url)


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs secrets from the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True
