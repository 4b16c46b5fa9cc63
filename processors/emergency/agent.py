"""Faust wiring of emergency detection: the feed's flag plus the other agents' signals."""

from __future__ import annotations

import time
from typing import Any

from mmstream.core.topics import EMERGENCY_STATE
from processors.app import Pipeline, record_time
from processors.common import Output
from processors.emergency import logic
from processors.signals import Activity, activity, decode_record

AGENT = "emergency"
STATE_KEY = b"state"


def register(p: Pipeline) -> None:
    settings = p.settings
    table = p.state_table("emergency-state")
    started = int(time.time() * 1000)
    flags = p.input(*EMERGENCY_STATE.topic_ids)
    flag_runner = p.runner(AGENT, table)
    signal_runner = p.runner(AGENT, table)

    def load() -> logic.State:
        state: logic.State | None = table.get(STATE_KEY)
        return state if state is not None else logic.new_state(started)

    @p.agent(flags, f"{settings.app_id}-emergency-flag", AGENT)
    async def emergency_flag(stream: Any) -> None:
        async for events in p.batches(stream):
            p.metrics.records_in.labels(AGENT).inc(len(events))
            work = flag_runner.fold(p.failures.decoded(AGENT, events), apply_record, one_key)
            flag_runner.finish(work, store, [])

    def apply_record(state: logic.State | None, event: Any) -> tuple[Any, list[Output]]:
        record = event.value
        state = state if state is not None else logic.new_state(started)
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
        return state, outputs

    @p.agent(p.input("accounts"), f"{settings.app_id}-emergency-accounts", AGENT)
    async def account_activity(stream: Any) -> None:
        """Account changes tell the emergency state only that the MM API feed is alive: they
        reach it as an activity signal. `mmapi.accounts` has several partitions, and the
        emergency state one: read into the state directly, each worker holding some of its
        partitions would fold them into a state of its own (two writers of one key)."""
        async for events in p.batches(stream):
            p.metrics.records_in.labels(AGENT).inc(len(events))
            newest = 0
            for event in p.failures.decoded(AGENT, events):
                with p.failures.guard(AGENT, event):
                    newest = max(newest, record_time(event.value))
            if newest:
                p.send(AGENT, [activity("mmapi", newest)])

    @p.agent(p.outputs["signals"], f"{settings.app_id}-emergency-signals", AGENT)
    async def emergency_signals(stream: Any) -> None:
        async for events in p.batches(stream):
            work = signal_runner.fold(events, apply_signals, one_key)
            p.failures.liveness.processed(AGENT)
            signal_runner.finish(work, store, [])

    def apply_signals(state: logic.State | None, event: Any) -> tuple[Any, list[Output]]:
        state = state if state is not None else logic.new_state(started)
        received = decode_record(event.value)
        outputs = logic.apply_signals(state, received, settings)
        p.metrics.records_in.labels(AGENT).inc(len(received))
        return state, outputs

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
            table.put(STATE_KEY, state)
            table.write_changelog()
            p.send(AGENT, outputs)
        for scope, info in state["scopes"].items():
            p.metrics.emergency_active.labels(scope).set(1 if info["active"] else 0)


def store(key: bytes, state: logic.State) -> tuple[Any, list[Output]]:
    return state, []


def one_key(event: Any) -> bytes:
    """Every record goes to the one emergency state (their own keys differ)."""
    return STATE_KEY
