"""The connectors' dead letters as Kafka Connect writes them: the original bytes as the value,
Connect's `__connect.errors.*` headers with their meanings, our context in `mmstream.*`."""

from __future__ import annotations

import json
from typing import Any

from connectors.frames import Outcome
from tests.helpers.frames import TOPICS, harness


def order_frame(**payload: Any) -> str:
    body = {"orderId": 1, **payload}
    return json.dumps(
        {"type": "broadcast", "channel": "orders", "event": "UPDATE", "payload": body}
    )


async def test_a_schema_mismatch_is_the_original_frame_with_connects_headers() -> None:
    h = harness("mmapi")
    frame = order_frame(orderStake="lots")
    assert await h.send(frame) is Outcome.DEAD_LETTERED
    (letter,) = h.dead_letters()
    assert letter["key"] == b"mmapi" and letter["raw"] == frame.encode()
    connect = letter["connect"]
    trace = connect.pop("exception.stacktrace")
    assert connect == {
        "topic": TOPICS.name("orders"),  # where it was bound; a frame has no partition/offset
        "connector.name": "mmstream-mmapi",
        "task.id": "0",
        "stage": "VALUE_CONVERTER",
        "class.name": "connectors.records.Converter",
        "exception.class.name": "connectors.errors.RejectedInput",
        "exception.message": "payload.orderStake: expected double, got str 'lots'",
    }
    assert trace.startswith("Traceback") and "RejectedInput" in trace
    assert letter["mmstream"] == {
        "source": "mmapi",
        "channel": "orders",
        "connection.id": "conn-1",
        "subscription.id": "sub-1",
        "received.at": letter["mmstream"]["received.at"],
        "raw.size": str(len(frame.encode())),
        "raw.sha256": letter["mmstream"]["raw.sha256"],
        "raw.truncated": "false",
    }


async def test_a_frame_with_no_channel_yet_has_no_topic_header() -> None:
    h = harness("predexon")
    assert await h.send(b"{not json") is Outcome.DEAD_LETTERED
    (letter,) = h.dead_letters()
    assert letter["raw"] == b"{not json" and letter["key"] == b"predexon"
    assert "topic" not in letter["connect"] and "partition" not in letter["connect"]
    assert letter["connect"]["exception.message"].startswith("malformed JSON")
    assert letter["connect"]["connector.name"] == "mmstream-predexon"


async def test_an_unexpected_error_is_the_tasks_with_its_own_class_and_trace() -> None:
    h = harness("mmapi")

    def broken(*args: Any) -> Any:
        raise ZeroDivisionError("a bug")

    h.protocol.published.is_repeat = broken  # type: ignore[method-assign, assignment]
    frame = order_frame()
    assert await h.send(frame) is Outcome.DEAD_LETTERED
    (letter,) = h.dead_letters()
    assert letter["raw"] == frame.encode()
    assert letter["connect"]["stage"] == "TASK_POLL"
    assert letter["connect"]["class.name"] == "connectors.mmapi.MmapiProtocol"
    assert letter["connect"]["exception.class.name"] == "builtins.ZeroDivisionError"
    assert letter["connect"]["exception.message"] == "a bug"
    assert "in broken" in letter["connect"]["exception.stacktrace"]
