"""What a feed without replay must gap-fill: per channel, the newest change published and the
start of a gap not yet closed, kept across reconnects and (through source offsets) restarts."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from connectors.offsets import Position
from connectors.publisher import now_ms

log = logging.getLogger(__name__)
FUTURE_TOLERANCE_MS = 86_400_000  # a recorded position later than now + this is not believed


def describe(epoch_ms: int | None) -> str:
    """A position for a log line: ISO 8601 where representable."""
    if epoch_ms is None:
        return "-"
    try:
        return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return f"{epoch_ms} ms"


class Gaps:
    """The gap-fill bookkeeping of one feed's channels.

    Every change of a position is handed to `note` (the publisher's source-offset hook), right
    after the records it covers were queued.
    """

    def __init__(
        self,
        feed: str,
        channels: Iterable[str],
        margin_ms: int,
        note: Callable[[str, Position], None],
    ) -> None:
        self.feed = feed
        self.channels = tuple(channels)
        self.margin_ms = margin_ms
        self._note = note
        self.watermark_ms: dict[str, int] = {}  # channel → newest change published
        self.gap_from_ms: dict[str, int] = {}  # channel → start of a gap not yet closed
        self.restored = False  # the first session closes the gap since the last process

    def position(self, channel: str) -> Position:
        return Position(self.watermark_ms.get(channel), self.gap_from_ms.get(channel))

    def published(self, channel: str, event_time: int | None) -> None:
        """After a record of `channel` is queued: move its watermark, note the position."""
        if channel not in self.channels:
            return
        if event_time is not None:
            self.watermark_ms[channel] = max(self.watermark_ms.get(channel, event_time), event_time)
        self._note(channel, self.position(channel))

    def progressed(self, channel: str, gap_from_ms: int | None) -> None:
        """The gap fill of `channel` got to `gap_from_ms` (None: finished)."""
        if gap_from_ms is None:
            self.gap_from_ms.pop(channel, None)
        else:
            self.gap_from_ms[channel] = gap_from_ms
        self._note(channel, self.position(channel))

    def restore(self, positions: dict[str, Position]) -> None:
        """Start from the last process's recorded positions: the first session gap-fills."""
        latest_ms = now_ms() + FUTURE_TOLERANCE_MS
        for channel, position in positions.items():
            if channel not in self.channels:
                continue
            if max(position.watermark_ms or 0, position.gap_from_ms or 0) > latest_ms:
                log.warning(
                    "%s: ignored a recorded %s position in the future: %s",
                    self.feed,
                    channel,
                    position,
                )
                continue
            if position.watermark_ms is not None:
                self.watermark_ms[channel] = position.watermark_ms
            if position.gap_from_ms is not None:
                self.gap_from_ms[channel] = position.gap_from_ms
        self.restored = bool(self.watermark_ms or self.gap_from_ms)
        if not self.restored:
            log.info("%s: no position recorded by an earlier process: starting from now", self.feed)
            return
        for channel in self.channels:
            log.info(
                "%s: resuming %s where the last process stopped: gap fill from %s",
                self.feed,
                channel,
                describe(self.start(channel)),
            )

    def start(self, channel: str) -> int | None:
        """Where a gap fill of `channel` begins: an unfinished fill's position, else the newest
        change published minus the margin (a channel with none: the earliest other's)."""
        if channel in self.gap_from_ms:
            return self.gap_from_ms[channel]
        if channel in self.watermark_ms:
            return self.watermark_ms[channel] - self.margin_ms
        if self.watermark_ms:
            return min(self.watermark_ms.values()) - self.margin_ms
        return None

    def open(self, resumed: bool, subscribed: Iterable[str]) -> list[str]:
        """At subscription, before any frame is read (a live record must not move a watermark
        past a gap before it is marked): after a reconnect or a restart, mark each subscribed
        channel's gap. Returns the channels with a gap to fill."""
        if resumed or self.restored:
            self.restored = False
            for channel in self.channels:
                start = self.start(channel)
                if channel in subscribed and start is not None:
                    self.progressed(channel, start)
        return [c for c in self.channels if c in self.gap_from_ms]
