"""What a feed protocol hands its records to: the sink, the dead-letter topic and the metrics."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from connectors.dlq import dead_letter
from connectors.edge import EdgeLimits, check_document, is_valid_text, text_is_within_bounds
from connectors.errors import ConnectorError, RejectedInput, RetryableSessionError
from connectors.frames import Outcome
from connectors.metrics import ConnectorMetrics
from connectors.offsets import Position, SourceOffsets
from connectors.sink import KafkaSink

log = logging.getLogger(__name__)
DEAD_LETTER_OVERHEAD = 16_384  # bytes of a dead letter besides its frame: headers, stack trace
TASK_CLASSES = {  # the "task" of a dead letter's class.name, when the feed's own code failed
    "mmapi": "connectors.mmapi.MmapiProtocol",
    "predexon": "connectors.predexon.PredexonProtocol",
}
RAW_TOPICS = frozenset({"orders", "bets", "accounts", "scores", "emergency", "sports_live"})


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Connection:
    """One WebSocket connection's identity, stamped on every record it delivers."""

    connection_id: str
    subscription_id: str | None = None
    resumed: bool = False  # a reconnect: the socket's earlier broadcasts may have been missed

    def envelope(
        self, source: str, received_at: int, event_time: int | None, origin: str
    ) -> dict[str, Any]:
        return {
            "source": source,
            "connection_id": self.connection_id,
            "subscription_id": self.subscription_id,
            "received_at": received_at,
            "event_time": event_time,
            "origin": origin,
        }


def parse_frame(raw: str | bytes, limits: EdgeLimits) -> dict[str, Any]:
    """A frame as a checked JSON object (`connectors.edge`), else `RejectedInput`."""
    try:
        body = json.loads(raw)
    except RecursionError:
        raise RejectedInput(f"malformed JSON: nested deeper than {limits.max_depth}") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise RejectedInput(f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RejectedInput("not a JSON object")
    if not text_is_within_bounds(raw, limits.max_depth):
        check_document(body, limits.max_depth)
    return body


def subscription_text(value: Any) -> str:
    """The provider's subscription id as text fit to stamp on every record (handshake)."""
    text = None if isinstance(value, bool | dict | list) else str(value)
    if text is None or len(text) > 200 or not is_valid_text(text):
        raise RetryableSessionError("unexpected subscription id during the handshake")
    return text


def reason_label(reason: str) -> str:
    """A bounded metric label for a dead letter's reason: field paths (provider-chosen names)
    become "invalid field"; the path itself is in the dead letter and the log."""
    kind = reason.split(":", 1)[0]
    return kind if len(kind) <= 40 and kind.replace(" ", "").isalpha() else "invalid field"


class Publisher:
    """Publishes typed records and dead letters for one feed."""

    def __init__(
        self,
        feed: str,
        sink: KafkaSink,
        metrics: ConnectorMetrics,
        offsets: SourceOffsets | None = None,
    ) -> None:
        self.feed = feed
        self.sink = sink
        self.metrics = metrics
        self.offsets = offsets
        self.task_class = TASK_CLASSES.get(feed, "connectors.session.SessionLoop")
        self._prefixes: dict[str, bytes] = {}

    def prefix(self, topic_id: str) -> bytes:
        """The Confluent framing of `topic_id`'s records: magic byte and schema id (looked up
        in the registry on first use)."""
        prefix = self._prefixes.get(topic_id)
        if prefix is None:
            prefix = self._prefixes[topic_id] = self.sink.serde.encoder(topic_id).prefix()
        return prefix

    def position(self, channel: str, position: Position) -> None:
        """Where `channel` stands once everything published so far is durable (source offset)."""
        if self.offsets is not None:
            self.offsets.note(channel, position)

    async def record(
        self, topic_id: str, key: str, value: dict[str, Any], event_time_ms: int | None
    ) -> None:
        """Queue one raw record; `RecordTooLarge` if Kafka would refuse it."""
        await self.record_bytes(
            topic_id, key, self.sink.serde.encode(topic_id, value), event_time_ms
        )

    def encode(self, topic_id: str, value: dict[str, Any]) -> tuple[bytes, list[int]]:
        """A record's bytes and where each top-level field begins (to digest a run of them)."""
        return self.sink.serde.encode_fields(topic_id, value)

    async def record_bytes(
        self, topic_id: str, key: str, data: bytes, event_time_ms: int | None
    ) -> None:
        """Queue one raw record already encoded; `RecordTooLarge` if Kafka would refuse it.
        Awaits only while the sink has no room (backpressure)."""
        if not self.sink.offer(topic_id, key, data, event_time_ms):
            await self.sink.publish_bytes(topic_id, key, data, event_time_ms)

    async def frame(
        self,
        raw: str | bytes,
        session: Connection | None,
        handler: Awaitable[Outcome],
    ) -> Outcome:
        """Await `handler` (the feed's handling of one frame, not yet started) and give the
        frame exactly one outcome, counted.

        Bad input (`RejectedInput`, raised anywhere) is dead-lettered; a session action (a
        provider error frame) is a control outcome and ends the session as it asks; any other
        error is a bug, logged with its traceback, and the frame is dead-lettered rather than
        ending the process.
        """
        try:
            outcome = await handler
        except RejectedInput as exc:
            await self.reject(raw, exc, session)
            outcome = Outcome.DEAD_LETTERED
        except ConnectorError:
            self.metrics.frame(Outcome.CONTROL)
            raise
        except Exception as exc:  # no frame may end the connector
            log.exception("%s: unexpected error on a frame; dead-lettering it", self.feed)
            await self.reject(raw, exc, session)
            outcome = Outcome.DEAD_LETTERED
        self.metrics.frame(outcome)
        return outcome

    async def reject(
        self, raw: str | bytes, error: BaseException, session: Connection | None
    ) -> None:
        """Send a message that cannot be published to the DLQ, with the reason; never raise."""
        data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
        if isinstance(error, RejectedInput):
            reason, channel = error.reason, error.channel
        else:
            reason, channel = f"unexpected {type(error).__name__}: {error}", None
        self.metrics.dlq.labels(self.feed, reason_label(reason)).inc()
        log.warning("dead-lettered a %s message: %.300s", self.feed, reason)
        value, headers = dead_letter(
            self.feed,
            data,
            error,
            topic=self.sink.topic_name(channel) if channel in RAW_TOPICS else None,
            channel=channel,
            received_at_ms=now_ms(),
            connection_id=session.connection_id if session else None,
            subscription_id=session.subscription_id if session else None,
            task_class=self.task_class,
            budget=self.sink.max_message_bytes - DEAD_LETTER_OVERHEAD,
        )
        await self.sink.publish_bytes("dlq", self.feed, value, None, headers)
