"""Reconnect back-off: capped exponential with "equal" jitter (half fixed, half random)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base_s: float = 0.5
    cap_s: float = 30.0
    slow_factor: float = 10.0  # after "Connection limit exceeded": wait for connections to lapse

    def delay(self, attempt: int, slow: bool = False, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt number `attempt` (0 = the first retry)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** min(attempt, 30))
        if slow:
            ceiling = min(self.cap_s * self.slow_factor, ceiling * self.slow_factor)
        return (rng or random).uniform(ceiling / 2, ceiling)
