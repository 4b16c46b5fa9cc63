"""Faust wiring of the fill ↔ hedge join: `mmapi.orders` + `mmapi.bets` → `hedge.fills`."""

from __future__ import annotations

import time
from typing import Any

from processors.app import Pipeline, record_time
from processors.clock import StreamClock, consumer_highwater
from processors.common import Output
from processors.due import DueIndex
from processors.hedge import logic
from processors.signals import activity

AGENT = "hedge"
DEADLINE_TICK_S = 0.1


def register(p: Pipeline) -> None:
    table = p.table("hedge-state")
    settings = p.settings
    clock = StreamClock(
        {p.runtime.topics.name("orders"), p.runtime.topics.name("bets")},
        int(settings.out_of_order_grace_s * 1000),
        consumer_highwater(p.app),
    )

    due = DueIndex()

    def finish(key: bytes, state: logic.State, outputs: list[Output]) -> list[Output]:
        """Store the state and schedule its next deadline; its outputs and the emergency
        agent's signals (exposure only when it changed), to send."""
        sent = logic.emergency_signals(state, outputs)
        stored = logic.close_if_settled(state)
        table[key] = stored
        due.schedule(key, logic.next_due(stored, settings))
        return outputs + sent

    @table.on_recover
    async def reindex() -> None:
        """Recovered (or newly assigned) orders get their deadlines scheduled again."""
        due.rebuild((key, logic.next_due(state, settings)) for key, state in table.items())

    @p.failures.agent(p.input("orders", "bets"), f"{settings.app_id}-hedge-join", AGENT)
    async def hedge_join(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_size, settings.batch_within_s):
            states: dict[bytes, logic.State] = {}
            newest = 0
            read_at = wall_ms()
            for event in p.failures.decoded(AGENT, events):
                with p.failures.guard(AGENT, event):
                    record = event.value
                    key = event.key
                    state = states.get(key) or table.get(key)
                    if state is None:
                        state = logic.new_state(int(record["payload"]["orderId"]))
                    states[key] = logic.step(state, p.topic_id(event), record, read_at)
                    at = record_time(record)
                    newest = max(newest, at)
                    clock.observe(
                        event.message.topic, event.message.partition, at, event.message.offset
                    )
            p.metrics.records_in.labels(AGENT).inc(len(events))
            now = clock.now()
            outputs = [activity("mmapi", newest)]
            for key, state in states.items():
                outputs += finish(key, state, logic.advance(state, now, settings, read_at))
            p.send(AGENT, outputs + (sweep(now) if now else []))

    def sweep(now: int) -> list[Output]:
        """The orders due at stream time `now` (only those): deadlines, expiry."""
        pending: list[Output] = []
        for key in due.pop_due(now):
            state = table.get(key)
            if state is None:
                continue  # its partition moved to another worker
            if logic.expired(state, now, settings):
                del table[key]
                pending += logic.leaving(state, now)
                continue
            outputs = logic.advance(state, now, settings, wall_ms())
            if outputs:
                pending += finish(key, state, outputs)
            else:  # due in stream time, not yet in wall time: look again soon
                due.schedule(key, max(now + 1, logic.next_due(state, settings) or now + 1))
        return pending

    @p.failures.timer(min(settings.tick_interval_s, DEADLINE_TICK_S))
    async def hedge_deadlines() -> None:
        """Deadlines fall due with stream time even when no record arrives; expired orders go.
        A short tick (popping only what is due costs nothing when nothing is), and a sweep
        after each batch too, so an alert is raised close to its deadline."""
        now = clock.now()
        if not now:
            return
        p.send(AGENT, sweep(now))
        p.metrics.table_size.labels("hedge").set(len(table))


def wall_ms() -> int:
    return int(time.time() * 1000)
