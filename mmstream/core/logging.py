"""Structured logging with secret redaction.

Every process calls `configure_logging` once. Secrets (API keys, passwords) are registered with
`register_secret` as soon as they are read, and the root handler's filter replaces them in every
formatted record, so a key that slips into a message, an exception or a URL is never written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from typing import Any

REDACTED = "***"
_secrets: set[str] = set()
_lock = threading.Lock()
# URL user-info passwords and the Predexon key in the URL path.
_URL_PATTERNS = (
    re.compile(r"(?<=://)([^/:@\s]+):([^/@\s]+)@"),
    re.compile(r"(/v1/)([^/?#\s]+)"),
)


def register_secret(value: str | None) -> None:
    """Remember a secret so that it is redacted from every log record from now on."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Replace every registered secret and every URL credential in `text`."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _URL_PATTERNS[0].sub(lambda m: f"{m.group(1)}:{REDACTED}@", text)
    return _URL_PATTERNS[1].sub(lambda m: f"{m.group(1)}{REDACTED}", text)


class RedactingFormatter(logging.Formatter):
    """Formats a record (text or JSON lines) and redacts the result."""

    def __init__(self, json_lines: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        if not self.json_lines:
            return redact(super().format(record))
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


def configure_logging(level: str = "INFO", json_lines: bool = False) -> None:
    """Install one redacting handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_mmstream", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(json_lines))
    handler._mmstream = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # HTTP clients log every request at INFO (the registry client's lookups included)
    for noisy in ("httpx", "httpx2", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
