"""Dead-letter records with Kafka Connect's `__connect.errors.*` headers, for DLQ tooling."""

from __future__ import annotations

from typing import Any

from connectors.errors import RejectedInput


def dead_letter(
    source: str,
    raw: bytes,
    error: RejectedInput,
    received_at_ms: int,
    connection_id: str | None,
    subscription_id: str | None,
    connector_name: str,
) -> tuple[dict[str, Any], list[tuple[str, str | bytes | None]]]:
    """The DLQ value and its headers for one rejected message."""
    value = {
        "source": source,
        "reason": error.reason,
        "error_class": type(error).__name__,
        "raw": raw,
        "received_at": received_at_ms,
        "connection_id": connection_id,
        "subscription_id": subscription_id,
        "channel": error.channel,
    }
    headers: list[tuple[str, str | bytes | None]] = [
        ("__connect.errors.connector.name", connector_name.encode()),
        ("__connect.errors.task.id", b"0"),
        ("__connect.errors.stage", b"VALUE_CONVERTER"),
        ("__connect.errors.class.name", b"connectors.records.Converter"),
        ("__connect.errors.exception.class.name", type(error).__name__.encode()),
        ("__connect.errors.exception.message", error.reason.encode()),
        ("__connect.errors.topic", (error.channel or "").encode()),
    ]
    return value, headers
