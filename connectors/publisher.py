"""What a feed protocol hands its records to: the sink, the dead-letter topic and the metrics."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from connectors.dlq import dead_letter
from connectors.errors import RejectedInput
from connectors.metrics import ConnectorMetrics
from connectors.offsets import Position, SourceOffsets
from connectors.sink import KafkaSink

log = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Session:
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

    def position(self, channel: str, position: Position) -> None:
        """Where `channel` stands once everything published so far is durable (source offset)."""
        if self.offsets is not None:
            self.offsets.note(channel, position)

    async def record(
        self, topic_id: str, key: str, value: dict[str, Any], event_time_ms: int | None
    ) -> None:
        await self.sink.publish(topic_id, key, value, event_time_ms)

    async def parse(self, raw: str | bytes, session: Session) -> dict[str, Any] | None:
        """The message as a JSON object, or None once it has been dead-lettered."""
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            await self.reject(raw, RejectedInput(f"malformed JSON: {exc}"), session)
            return None
        if not isinstance(body, dict):
            await self.reject(raw, RejectedInput("not a JSON object"), session)
            return None
        return body

    async def reject(self, raw: str | bytes, error: RejectedInput, session: Session | None) -> None:
        """Send a message that cannot be typed to the DLQ, with the reason; never raise."""
        data = raw.encode() if isinstance(raw, str) else raw
        kind = error.reason.split(":", 1)[0][:60]
        self.metrics.dlq.labels(self.feed, kind).inc()
        log.warning("dead-lettered a %s message: %s", self.feed, error.reason)
        value, headers = dead_letter(
            self.feed,
            data,
            error,
            now_ms(),
            session.connection_id if session else None,
            session.subscription_id if session else None,
            f"mmstream-{self.feed}",
        )
        await self.sink.publish("dlq", self.feed, value, None, headers)
