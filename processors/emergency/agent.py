"""Faust wiring of emergency detection: the feed's flag plus the other agents' signals."""

from __future__ import annotations

import time
from typing import Any

from processors.app import Pipeline, record_time
from processors.common import Output
from processors.emergency import logic
from processors.signals import Activity, decode_record

AGENT = "emergency"
STATE_KEY = b"state"


def register(p: Pipeline) -> None:
    settings = p.settings
    table = p.table("emergency-state")
    started = int(time.time() * 1000)
    flags = p.input("emergency", "accounts")

    def load() -> logic.State:
        state: logic.State | None = table.get(STATE_KEY)
        return state if state is not None else logic.new_state(started)

    @p.failures.agent(flags, f"{settings.app_id}-emergency-flag", AGENT)
    async def emergency_flag(stream: Any) -> None:
        async for raw in stream.events():
            p.metrics.records_in.labels(AGENT).inc()
            for event in p.failures.decoded(AGENT, [raw]):
                with p.failures.guard(AGENT, event):
                    p.send(AGENT, apply_record(event))

    def apply_record(event: Any) -> list[Output]:
        record = event.value
        state = load()
        at = record_time(record)
        outputs: list[Output] = logic.apply_signal(
            state, Activity("mmapi", at, int(time.time() * 1000), at), settings
        )
        if p.topic_id(event) == "emergency":
            payload = record["payload"]
            changed_at = payload.get("triggeredAt") or at
            outputs += logic.apply_flag(
                state, payload.get("emergency"), payload.get("reason"), changed_at
            )
        table[STATE_KEY] = state
        return outputs

    @p.failures.agent(p.outputs["signals"], f"{settings.app_id}-emergency-signals", AGENT)
    async def emergency_signals(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_size, settings.batch_within_s):
            state = load()
            outputs: list[Output] = []
            received = 0
            for event in events:
                for signal in decode_record(event.value):
                    outputs += logic.apply_signal(state, signal, settings)
                    received += 1
            table[STATE_KEY] = state
            p.metrics.records_in.labels(AGENT).inc(received)
            p.failures.liveness.processed(AGENT)
            p.send(AGENT, outputs)

    signals_topic = p.outputs["signals"].get_topic_name()

    @p.failures.timer(settings.tick_interval_s)
    async def emergency_ticks() -> None:
        """Silence is measured on the wall clock too: check it even when nothing arrives.
        The owner of the emergency state also publishes each scope's state as a gauge."""
        owned = {tp.topic for tp in p.app.consumer.assignment()}
        if signals_topic not in owned:  # another worker owns the emergency state
            p.metrics.emergency_active.clear()
            return
        state = load()
        outputs = logic.tick(state, int(time.time() * 1000), settings)
        if outputs:
            table[STATE_KEY] = state
            p.send(AGENT, outputs)
        for scope, info in state["scopes"].items():
            p.metrics.emergency_active.labels(scope).set(1 if info["active"] else 0)
