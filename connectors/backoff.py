"""The connectors' one retry policy, for WebSocket sessions and REST requests alike.

Capped exponential back-off with full jitter (a uniform delay between 0 and the attempt's
ceiling, so that many clients dropped at once do not return in step); a server's `Retry-After`
is a floor; after a session that streamed for `reset_after_s` the attempt count starts again.
Everything here is pure: no clock, no network.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# HTTP statuses worth asking again: timeouts, "too early", rate limits and server-side trouble.
# Every other 4xx (400, 404, 405, 410, 422 …) and 501/505 will answer the same way next time.
RETRIABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523})
AUTH_REFUSED_STATUSES = frozenset({401, 403})


def is_retriable(status: int) -> bool:
    """Whether an HTTP answer `status` may be different if the same request is sent again."""
    return status in RETRIABLE_STATUSES or (500 <= status < 600 and status not in (501, 505))


def is_auth_refused(status: int) -> bool:
    return status in AUTH_REFUSED_STATUSES


def ceiling(attempt: int, base_s: float, cap_s: float) -> float:
    """The longest wait before retry number `attempt` (0 = the first retry)."""
    return min(cap_s, base_s * float(2 ** min(max(attempt, 0), 30)))


def full_jitter(
    attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None
) -> float:
    """A uniform delay in [0, ceiling]: "full jitter" (AWS Architecture Blog, 2015)."""
    return (rng or random).uniform(0.0, ceiling(attempt, base_s, cap_s))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date; None if absent
    or unreadable (then the back-off alone decides)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class Backoff:
    """How long to wait before the next attempt, for one feed (`<FEED>_BACKOFF_*` settings)."""

    base_s: float = 0.5
    cap_s: float = 30.0
    slow_factor: float = 10.0  # after "Connection limit exceeded": wait for connections to lapse
    reset_after_s: float | None = None  # a session streaming this long resets; None = cap_s

    def delay(
        self,
        attempt: int,
        slow: bool = False,
        retry_after_s: float | None = None,
        rng: random.Random | None = None,
    ) -> float:
        """Seconds to wait before attempt number `attempt` (0 = the first retry).

        `slow` (the provider's connection limit) waits in the upper half of a ten times longer
        ceiling: full jitter could retry at once and be refused again. A `Retry-After` the server
        sent is honoured as a floor, bounded by the slow ceiling so that no answer can park the
        connector for hours.
        """
        if slow:
            top = ceiling(attempt, self.base_s, self.cap_s) * self.slow_factor
            wait = (rng or random).uniform(top / 2, top)
        else:
            wait = full_jitter(attempt, self.base_s, self.cap_s, rng)
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, self.cap_s * self.slow_factor))
        return wait

    def attempt_after(self, attempt: int, streamed_s: float) -> int:
        """The retry number to wait for after a session that streamed `streamed_s` seconds: a
        healthy session (at least `reset_after_s`, by default one cap interval) starts at 0."""
        healthy_s = self.cap_s if self.reset_after_s is None else self.reset_after_s
        return 0 if streamed_s >= healthy_s else attempt
