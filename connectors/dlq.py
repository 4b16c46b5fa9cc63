"""Dead-letter records with Kafka Connect's `__connect.errors.*` headers, for DLQ tooling.

A dead letter always fits in a Kafka record: a frame larger than `budget` is kept truncated,
with its full size and SHA-256 (value fields `raw_size` / `raw_sha256` / `raw_truncated` and
`mmstream.raw.*` headers), and every text is made valid UTF-8 and bounded.
"""

from __future__ import annotations

import hashlib
from typing import Any

from connectors.errors import RejectedInput

MAX_REASON_CHARS = 1000
DeadLetterHeaders = list[tuple[str, str | bytes | None]]


def safe_text(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """`text` bounded and encodable as UTF-8 (lone surrogates escaped)."""
    text = text if len(text) <= limit else text[:limit] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def dead_letter(
    source: str,
    raw: bytes,
    error: RejectedInput,
    received_at_ms: int,
    connection_id: str | None,
    subscription_id: str | None,
    connector_name: str,
    budget: int | None = None,
) -> tuple[dict[str, Any], DeadLetterHeaders]:
    """The DLQ value and its headers for one rejected message; `raw` cut to `budget` bytes."""
    size, digest = len(raw), hashlib.sha256(raw).hexdigest()
    truncated = budget is not None and size > budget
    reason = safe_text(error.reason)
    if truncated:
        assert budget is not None
        raw = raw[:budget]
        reason += f" (frame of {size} bytes, truncated to {budget})"
    channel = safe_text(error.channel, 200) if error.channel else None
    value = {
        "source": source,
        "reason": reason,
        "error_class": type(error).__name__,
        "raw": raw,
        "received_at": received_at_ms,
        "connection_id": safe_text(connection_id, 200) if connection_id else None,
        "subscription_id": safe_text(subscription_id, 200) if subscription_id else None,
        "channel": channel,
        "raw_size": size,
        "raw_sha256": digest,
        "raw_truncated": truncated,
    }
    headers: DeadLetterHeaders = [
        ("__connect.errors.connector.name", connector_name.encode()),
        ("__connect.errors.task.id", b"0"),
        ("__connect.errors.stage", b"VALUE_CONVERTER"),
        ("__connect.errors.class.name", b"connectors.records.Converter"),
        ("__connect.errors.exception.class.name", type(error).__name__.encode()),
        ("__connect.errors.exception.message", reason.encode()),
        ("__connect.errors.topic", (channel or "").encode()),
        ("mmstream.raw.size", str(size).encode()),
        ("mmstream.raw.sha256", digest.encode()),
        ("mmstream.raw.truncated", b"true" if truncated else b"false"),
    ]
    return value, headers
