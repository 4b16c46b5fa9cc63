"""Replaying both providers' score records through the reconciliation logic, as the agent does:
each record applied and evaluated at its receive time, and a tick between records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from processors.common import Output
from processors.scores import logic
from processors.scores.state import State, View
from processors.settings import ProcessorSettings

SETTINGS = ProcessorSettings(
    max_lag_s=10.0, conflict_grace_s=2.0, resolve_hysteresis_s=2.0, stale_s=60.0
)
T0 = 1_771_149_600_000
TICK_MS = 250


@dataclass(frozen=True)
class Shown:
    """One provider's record: the score it shows at `at_ms` (after T0), and its flags."""

    at_ms: int
    provider: str
    home: int
    away: int
    conflict: bool = False
    stale: bool = False
    live: bool = True


@dataclass
class Replay:
    outputs: list[Output] = field(default_factory=list)
    statuses: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def alerts(self, alert_type: str, state: str) -> list[dict[str, Any]]:
        return [
            o.value
            for o in self.outputs
            if o.topic_id == "risk_alerts"
            and o.value["alert_type"] == alert_type
            and o.value["state"] == state
        ]

    def signals(self) -> list[dict[str, Any]]:
        return [o.value for o in self.outputs if o.topic_id == "signals"]

    def seen(self, status: str) -> list[int]:
        return [at for at, record in self.statuses if record["status"] == status]


def view(record: Shown) -> View:
    at = T0 + record.at_ms
    return {
        "home": record.home,
        "away": record.away,
        "period": "1st",
        "clock": None,
        "live": record.live,
        "ended": (not record.live) if record.provider == "predexon" else None,
        "updated_at": at,
        "received_at": at,
        "reliability": "multi_source",
        "conflict": record.conflict if record.provider == "predexon" else None,
        "stale": record.stale if record.provider == "predexon" else None,
    }


def replay(
    records: list[Shown],
    settings: ProcessorSettings = SETTINGS,
    tail_ms: int = 20_000,
    held: tuple[int, int] | None = None,
) -> tuple[State, Replay]:
    """`held` (from, to): the records shown in [from, to) reach the agent only at `to`, in one
    batch, with their own receive times (a worker reading a backlog after a broker failover or
    a rebalance): no evaluation or tick between them."""
    state = logic.new_state("g1", "f1")
    result = Replay()
    ordered = sorted(records, key=lambda r: r.at_ms)
    end = (ordered[-1].at_ms if ordered else 0) + tail_ms

    def run(now: int) -> None:
        outputs = logic.advance(state, T0 + now, settings)
        result.outputs += outputs
        for output in outputs:
            if output.topic_id == "scores_reconciled":
                result.statuses.append((now, output.value))

    clock = 0
    for index, record in enumerate(ordered):
        while clock + TICK_MS < record.at_ms:
            clock += TICK_MS
            run(clock)
        logic.apply_view(state, record.provider, view(record), settings)
        if held is not None and held[0] <= record.at_ms < held[1]:
            clock = held[1] - 1
            following = ordered[index + 1 :]
            if following and following[0].at_ms < held[1]:
                continue  # more of the backlog to come in the same batch
            clock = held[1]
        else:
            clock = record.at_ms
        run(clock)
    while clock < end:
        clock += TICK_MS
        run(clock)
    return state, result
