"""The connectors' dead letters, written as Kafka Connect writes them.

The value is the original bytes the provider sent (the WebSocket frame, or a REST row as JSON
text), the key the feed's name, and the headers Connect's
`errors.deadletterqueue.context.headers.enable=true` writes (`mmstream.core.deadletter`, shared with
the processors): the topic the record was bound for where the frame got far enough to have one
(no partition or offset: a frame has no Kafka coordinates), connector name, task id, stage, the
class that failed, the exception's fully qualified class, message and stack trace. What
Connect has no header for is in `mmstream.*` headers: the feed, channel, connection and
subscription ids, receive time, and the frame's size and SHA-256. A dead letter always fits
in a Kafka record: a frame larger than `budget` is kept truncated (`mmstream.raw.truncated`).
"""

from __future__ import annotations

import hashlib

from connectors.errors import RecordTooLarge, RejectedInput
from mmstream.core.deadletter import (
    STAGE_KAFKA_PRODUCE,
    STAGE_TASK_POLL,
    STAGE_VALUE_CONVERTER,
    Origin,
    error_headers,
)

MAX_ID_CHARS = 200
DeadLetterHeaders = list[tuple[str, str | bytes | None]]


def safe_text(text: str, limit: int = MAX_ID_CHARS) -> str:
    """`text` bounded and encodable as UTF-8 (lone surrogates escaped)."""
    text = text if len(text) <= limit else text[:limit] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def failed_stage(exc: BaseException, task_class: str) -> tuple[str, str]:
    """Connect's stage and the failing class: Kafka refusing the record's size is the produce
    stage; input that cannot become the topic's record is the converter's; anything else
    happened in the task itself (its poll)."""
    if isinstance(exc, RecordTooLarge):
        return STAGE_KAFKA_PRODUCE, "connectors.sink.KafkaSink"
    if isinstance(exc, RejectedInput):
        return STAGE_VALUE_CONVERTER, "connectors.records.Converter"
    return STAGE_TASK_POLL, task_class


def dead_letter(
    feed: str,
    raw: bytes,
    exc: BaseException,
    *,
    topic: str | None,
    channel: str | None,
    received_at_ms: int,
    connection_id: str | None,
    subscription_id: str | None,
    task_class: str,
    budget: int | None = None,
) -> tuple[bytes, DeadLetterHeaders]:
    """The dead letter's value (`raw`, cut to `budget` bytes) and headers for `exc`."""
    size, digest = len(raw), hashlib.sha256(raw).hexdigest()
    truncated = budget is not None and size > budget
    if truncated:
        assert budget is not None
        raw = raw[:budget]
    stage, class_name = failed_stage(exc, task_class)
    headers: DeadLetterHeaders = list(
        error_headers(
            Origin(topic) if topic else None,
            exc,
            connector_name=f"mmstream-{feed}",
            stage=stage,
            class_name=class_name,
        )
    )
    extra = {
        "source": feed,
        "channel": channel,
        "connection.id": connection_id,
        "subscription.id": subscription_id,
        "received.at": str(received_at_ms),
        "raw.size": str(size),
        "raw.sha256": digest,
        "raw.truncated": "true" if truncated else "false",
    }
    headers += [
        (f"mmstream.{name}", safe_text(value).encode())
        for name, value in extra.items()
        if value is not None
    ]
    return raw, headers
