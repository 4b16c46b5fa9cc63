"""Stream time over several input partitions, as a watermark that knows caught-up inputs."""

from __future__ import annotations

import time
from collections.abc import Callable

# (topic, partition) -> the partition's end offset as the consumer last saw it, or None
Highwater = Callable[[str, int], int | None]


class StreamClock:
    """Stream time over several inputs, as a watermark.

    Each input partition's time is the newest event time read from it, advanced by the wall
    clock since it was read (so deadlines still fall due when the input stops). Stream time is
    the earliest of them. A partition with a backlog also holds it back by the out-of-order
    grace, so a fill is never judged unhedged before the bets that were placed in time have been
    read; a partition whose consumer has read up to its end offset (the broker's high-water
    mark) has no backlog to wait for, and holds stream time back by nothing more than its own
    time. Until every required input has been read, there is no stream time (0).
    """

    def __init__(
        self, required: set[str], grace_ms: int = 0, highwater: Highwater | None = None
    ) -> None:
        self.required = required
        self.grace_ms = grace_ms
        self.highwater = highwater
        # (topic, partition) -> (newest event ms, monotonic time read, offset read)
        self.partitions: dict[tuple[str, int], tuple[int, float, int | None]] = {}

    def observe(self, topic: str, partition: int, event_ms: int, offset: int | None = None) -> None:
        key = (topic, partition)
        known = self.partitions.get(key)
        newest = event_ms if known is None else max(known[0], event_ms)
        read = offset if known is None or known[2] is None else max(known[2], offset or 0)
        self.partitions[key] = (newest, time.monotonic(), read)

    def caught_up(self, topic: str, partition: int) -> bool:
        """Whether the newest record read from this partition is its last one (as far as the
        consumer knows); unknown offsets count as a backlog."""
        known = self.partitions.get((topic, partition))
        if self.highwater is None or known is None or known[2] is None:
            return False
        end = self.highwater(topic, partition)
        return end is not None and known[2] + 1 >= end

    def now(self) -> int:
        if not self.partitions or not self.required <= {t for t, _ in self.partitions}:
            return 0
        wall = time.monotonic()
        return min(
            ms
            + int((wall - seen) * 1000)
            - (0 if self.caught_up(topic, partition) else self.grace_ms)
            for (topic, partition), (ms, seen, _) in self.partitions.items()
        )


def consumer_highwater(app: object) -> Highwater:
    """The Faust app's consumer's view of each partition's end offset (from its last fetch)."""
    from faust.exceptions import ConsumerNotStarted
    from faust.types import TP

    def highwater(topic: str, partition: int) -> int | None:
        try:
            end = app.consumer.highwater(TP(topic, partition))  # type: ignore[attr-defined]
        except (AssertionError, AttributeError, ConsumerNotStarted):
            return None  # not assigned (any more), or not started: count it as a backlog
        return int(end) if end is not None else None

    return highwater
