"""Fault injection on a simulated connection: every switch is counted when it fires."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from mmstream.simulators.config import FaultConfig

# Builds a bad frame of the given kind for one feed ("malformed", "unknown_channel", …).
BadFrameFactory = Callable[[str], str | None]


@dataclass
class FaultPlan:
    """Decides, message by message, what faults fire on one connection."""

    config: FaultConfig
    rng: random.Random
    counters: Counter[str]
    bad_frame: BadFrameFactory
    sent: int = 0
    held: list[str] = field(default_factory=list)

    def frames_for(self, text: str) -> list[str]:
        """The frames to send (in order) in place of `text`."""
        c = self.config
        frames: list[str] = []
        for kind, p in (
            ("malformed", c.malformed_p),
            ("unknown_channel", c.unknown_channel_p),
            ("unknown_type", c.unknown_type_p),
            ("wrong_type", c.wrong_type_p),
        ):
            if p and self.rng.random() < p:
                bad = self.bad_frame(kind)
                if bad is not None:
                    frames.append(bad)
                    self.counters[kind] += 1
        if c.reorder_p and not self.held and self.rng.random() < c.reorder_p:
            self.held.append(text)
            self.counters["reordered"] += 1
            return frames
        frames.append(text)
        if c.duplicate_p and self.rng.random() < c.duplicate_p:
            frames.append(text)
            self.counters["duplicated"] += 1
        frames.extend(self.held)
        self.held.clear()
        return frames

    def should_disconnect(self) -> bool:
        """Count one delivered message; True when the connection must be cut now."""
        self.sent += 1
        every = self.config.disconnect_every
        if every and self.sent % every == 0:
            self.counters["disconnects"] += 1
            return True
        return False
