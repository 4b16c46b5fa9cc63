"""What became of a frame: exactly one outcome each, counted, and frames the socket refused."""

from __future__ import annotations

import logging
from enum import StrEnum

from websockets.exceptions import ConnectionClosed

from connectors.metrics import ConnectorMetrics

log = logging.getLogger(__name__)
REFUSED_CLOSE_CODES = {1009: "too_large", 1007: "invalid_utf8"}


class Outcome(StrEnum):
    PUBLISHED = "published"  # one raw record
    DEAD_LETTERED = "dead_lettered"  # one DLQ record with the reason
    CONTROL = "control"  # a protocol message: pong, heartbeat, ack, error (session action)
    DROPPED = "dropped"  # not newer than what was published (counted as a duplicate)


def note_refused_frame(exc: ConnectionClosed, metrics: ConnectorMetrics) -> None:
    """Count and log a connection closed because the library refused a frame (no bytes kept)."""
    reason = REFUSED_CLOSE_CODES.get(exc.sent.code) if exc.sent is not None else None
    if reason is not None:
        metrics.refused.labels(metrics.feed, reason).inc()
        log.error("%s: a frame was refused (%s); reconnecting", metrics.feed, reason)
