"""Scenario, server and fault settings of the simulators."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

DEFAULT_START_MS = 1_771_149_600_000  # 2026-02-15T10:00:00Z: a fixed anchor keeps runs identical


@dataclass(frozen=True)
class FaultConfig:
    """Fault switches. Probabilities apply per message sent on a connection; 0 = off."""

    duplicate_p: float = 0.0  # send a message twice
    reorder_p: float = 0.0  # hold a message back and send it after the next one
    malformed_p: float = 0.0  # inject a truncated JSON text frame
    unknown_channel_p: float = 0.0  # inject an MM API broadcast on an unknown channel
    unknown_type_p: float = 0.0  # inject a message of an unknown type
    wrong_type_p: float = 0.0  # inject a broadcast whose field has the wrong type
    disconnect_every: int = 0  # abruptly close every connection after N messages sent on it
    restarts: int = 0  # restart both servers this many times, evenly spread over the scenario
    restart_downtime_s: float = 0.5
    heartbeats: bool = True  # False = never send MM API heartbeats (and Predexon pings)
    slow_consumer_queue: int = 10_000  # a connection whose send queue overflows is closed

    def any_enabled(self) -> bool:
        return self != FaultConfig()


@dataclass(frozen=True)
class ScenarioConfig:
    """One simulated world. The same seed gives the same messages in the same order."""

    seed: int = 7
    rate: float = 50.0  # messages per second, both feeds together (approximate)
    duration_s: float | None = 60.0  # scenario length; None = no end (generated as it plays)
    start_ms: int | None = DEFAULT_START_MS  # virtual clock anchor; None = wall clock at start
    games: int = 6  # games played at once; each is followed by another until the end
    game_s: float = 300.0  # a game's length (±20 %) when the scenario is longer than that
    emergency_every_s: float = 300.0  # without an end: one emergency window per this period
    unhedged_p: float = 0.08  # a fill that gets no hedge bet
    rejected_p: float = 0.06  # a hedge bet that the bookmaker rejects (replaced or not)
    split_p: float = 0.15  # a fill hedged by several bets
    bet_first_p: float = 0.15  # the bet reaches the socket before the fill UPDATE
    partial_p: float = 0.3  # an order filled in two steps
    emergency_windows: int = 1
    conflicts: int = 1  # score conflicts between the providers
    stale_windows: int = 1  # periods where Predexon stops updating a game
    other_client_share: float = 0.1  # orders of a second client, filtered from the default feed
    faults: FaultConfig = field(default_factory=FaultConfig)
    # servers
    auth_timeout_s: float = 30.0
    heartbeat_interval_s: float = 60.0
    predexon_ping_interval_s: float = 20.0
    max_connections_per_key: int = 5
    rest_rate_limit_per_min: int = 2000
    rest_history_s: float = 300.0  # REST lists rows updated within this (a bounded history)

    @property
    def end_ms(self) -> int | None:
        """The scenario's last moment (ms after its start), or None when it has no end."""
        return None if self.duration_s is None else int(self.duration_s * 1000)

    @property
    def default_api_key(self) -> str:
        return str(uuid.UUID(int=(self.seed * 7919 + 1) % (1 << 122)))

    @property
    def other_api_key(self) -> str:
        return str(uuid.UUID(int=(self.seed * 7919 + 2) % (1 << 122)))

    @property
    def inactive_api_key(self) -> str:
        return str(uuid.UUID(int=(self.seed * 7919 + 3) % (1 << 122)))

    @property
    def predexon_key(self) -> str:
        return f"pdx_sim_{self.seed:04d}_key"
