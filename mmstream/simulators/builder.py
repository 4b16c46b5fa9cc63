"""The scenario's builder: the config, its random source, and the steps scheduled so far."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from mmstream.simulators.config import ScenarioConfig
from mmstream.simulators.timeline import Step


@dataclass
class Builder:
    config: ScenarioConfig
    rng: random.Random
    steps: list[Step] = field(default_factory=list)
    next_order_id: int = 1000
    next_bet_id: int = 50_000
    balances: dict[tuple[str, str], float] = field(default_factory=dict)
    bets: dict[int, dict[str, Any]] = field(default_factory=dict)  # latest state by betId

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
        end = int(self.config.duration_s * 1000)
        if t_ms > end:
            return False
        self.steps.append(
            Step(t_ms, len(self.steps), feed, channel, client, event, dict(payload), old)
        )
        return True
