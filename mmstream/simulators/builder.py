"""The scenario's builder: the config, its random source, and the steps scheduled but not yet
played (a heap by due time: only the live window of orders and games, never the whole run)."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mmstream.simulators.config import ScenarioConfig
from mmstream.simulators.timeline import Step


@dataclass
class Builder:
    config: ScenarioConfig
    rng: random.Random
    pending: list[tuple[int, int, Step]] = field(default_factory=list)  # heap by (t_ms, seq)
    scheduled: int = 0  # steps scheduled so far (the next one's tie-breaker)
    next_order_id: int = 1000
    next_bet_id: int = 50_000
    balances: dict[tuple[str, str], float] = field(default_factory=dict)
    bets: dict[int, dict[str, Any]] = field(default_factory=dict)  # latest state of open bets

    def emit(
        self,
        t_ms: int,
        feed: str,
        channel: str,
        event: str,
        payload: dict[str, Any],
        old: dict[str, Any] | None = None,
        client: str | None = None,
    ) -> bool:
        """Schedule a message; False when it falls after the scenario's end (not sent)."""
        end = self.config.end_ms
        if end is not None and t_ms > end:
            return False
        step = Step(t_ms, self.scheduled, feed, channel, client, event, dict(payload), old)
        self.scheduled += 1
        heapq.heappush(self.pending, (t_ms, step.seq, step))
        return True

    def due(self, until_ms: float) -> Iterator[Step]:
        """The scheduled steps due at or before `until_ms`, in (due time, seq) order."""
        pending = self.pending
        while pending and pending[0][0] <= until_ms:
            yield heapq.heappop(pending)[2]
