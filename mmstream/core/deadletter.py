"""Kafka Connect's dead-letter context headers (`__connect.errors.*`), built in one place.

A dead-letter record carries the original bytes and key of the record that could not be handled,
and these headers say where it came from and why, under the names Kafka Connect writes with
`errors.deadletterqueue.context.headers.enable=true`, so that existing DLQ tooling reads ours.
Header values are UTF-8 text, as Connect writes them.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PREFIX = "__connect.errors."
# Kafka Connect's stage names (org.apache.kafka.connect.runtime.errors.Stage)
STAGE_VALUE_CONVERTER = "VALUE_CONVERTER"
STAGE_TASK_PUT = "TASK_PUT"
STAGE_TASK_POLL = "TASK_POLL"
STAGE_KAFKA_PRODUCE = "KAFKA_PRODUCE"
STACKTRACE_LIMIT = 8192  # characters: its start (the outer frames) and its end are kept
MESSAGE_LIMIT = 2048

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Origin:
    """Where the failed record was read: its topic, partition and offset. A source connector's
    input has no Kafka coordinates: its origin is the topic the record was bound for, and no
    partition or offset header is written (Connect writes none it does not know)."""

    topic: str
    partition: int | None = None
    offset: int | None = None


def qualified_name(exc: BaseException) -> str:
    kind = type(exc)
    return f"{kind.__module__}.{kind.__qualname__}"


def stacktrace(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc))
    if len(text) <= STACKTRACE_LIMIT:
        return text
    head = STACKTRACE_LIMIT // 4
    return text[:head] + "\n…\n" + text[-(STACKTRACE_LIMIT - head) :]


def error_headers(
    origin: Origin | None,
    exc: BaseException,
    *,
    connector_name: str,
    stage: str,
    class_name: str,
    task_id: int = 0,
) -> Headers:
    """The `__connect.errors.*` headers for a record from `origin` that failed with `exc` in
    `stage` of `class_name` (the component that failed), run by `connector_name`."""
    where = {
        "topic": origin.topic if origin else None,
        "partition": origin.partition if origin else None,
        "offset": origin.offset if origin else None,
    }
    fields = {
        **{name: str(value) for name, value in where.items() if value is not None},
        "connector.name": connector_name,
        "task.id": str(task_id),
        "stage": stage,
        "class.name": class_name,
        "exception.class.name": qualified_name(exc),
        "exception.message": str(exc)[:MESSAGE_LIMIT],
        "exception.stacktrace": stacktrace(exc),
    }
    # backslashreplace: a message may quote provider text that UTF-8 cannot carry
    return [
        (PREFIX + name, value.encode("utf-8", "backslashreplace")) for name, value in fields.items()
    ]


HeaderValue = str | bytes | None


def header_map(
    headers: Sequence[tuple[str, HeaderValue]] | Mapping[str, HeaderValue] | None,
) -> dict[str, str]:
    """The `__connect.errors.*` headers of a dead letter (as a client returns them) as text, by
    short name."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or []
    return {name[len(PREFIX) :]: as_text(value) for name, value in pairs if name.startswith(PREFIX)}


def as_text(value: HeaderValue) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value or ""
