"""Conversions between decoded Avro values and plain data.

fastavro (under confluent-kafka's deserializer) decodes `timestamp-millis` as timezone-aware
`datetime`s; the pipeline's own logic works in epoch milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)


def millis(value: datetime | int | None) -> int | None:
    """Epoch milliseconds of a decoded timestamp (or of an int already in ms)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        # integer arithmetic: float timestamps lose the last millisecond on large values
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (aware - EPOCH) // ONE_MS
    return int(value)


def plain(value: Any) -> Any:
    """The value with every datetime replaced by epoch milliseconds, recursively."""
    if isinstance(value, datetime):
        return millis(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
