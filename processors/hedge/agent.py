"""Faust wiring of the fill ↔ hedge join: `mmapi.orders` + `mmapi.bets` → `hedge.fills`."""

from __future__ import annotations

import time
from typing import Any

from processors.app import Pipeline, record_time
from processors.batch import KEEP
from processors.clock import StreamClock, consumer_highwater
from processors.common import Output
from processors.due import DueIndex
from processors.hedge import logic
from processors.hedge.state import copy_state
from processors.signals import activity

AGENT = "hedge"
DEADLINE_TICK_S = 0.1


def register(p: Pipeline) -> None:
    table = p.state_table("hedge-state")
    settings = p.settings
    clock = StreamClock(
        {p.runtime.topics.name("orders"), p.runtime.topics.name("bets")},
        int(settings.out_of_order_grace_s * 1000),
        consumer_highwater(p.app),
    )
    due = DueIndex()
    runner = p.runner(AGENT, table, copy_state)

    def stored(key: bytes, state: logic.State, outputs: list[Output]) -> tuple[Any, list[Output]]:
        """The state to store, with its next deadline scheduled; its outputs and the emergency
        agent's signals (exposure only when it changed), to send."""
        sent = logic.emergency_signals(state, outputs)
        kept = logic.close_if_settled(state)
        due.schedule(key, logic.next_due(kept, settings))
        return kept, outputs + sent

    @table.table.on_recover
    async def reindex() -> None:
        """Recovered (or newly assigned) orders get their deadlines scheduled again."""
        due.rebuild((key, logic.next_due(state, settings)) for key, state in table.store.items())

    @p.agent(p.input("orders", "bets"), f"{settings.app_id}-hedge-join", AGENT)
    async def hedge_join(stream: Any) -> None:
        async for events in p.batches(stream):
            join(events)

    def join(events: list[Any]) -> None:
        """One batch: fold each record into its order, evaluate each order once, sweep."""
        read_at = wall_ms()
        newest = 0

        def fold(state: logic.State | None, event: Any) -> tuple[Any, list[Output]]:
            nonlocal newest
            record = event.value
            if state is None:
                state = logic.new_state(int(record["payload"]["orderId"]))
            state = logic.step(state, p.topic_id(event), record, read_at)
            at = record_time(record)
            newest = max(newest, at)
            message = event.message
            clock.observe(message.topic, message.partition, at, message.offset)
            return state, []

        work = runner.fold(p.failures.decoded(AGENT, events), fold)
        p.metrics.records_in.labels(AGENT).inc(len(events))
        now = clock.now()

        def finish(key: bytes, state: logic.State) -> tuple[Any, list[Output]]:
            return stored(key, state, logic.advance(state, now, settings, read_at))

        runner.finish(work, finish, [activity("mmapi", newest)])
        if now:
            sweep(now)

    def sweep(now: int) -> None:
        """The orders due at stream time `now` (only those): deadlines, expiry."""

        def finish(key: bytes, state: logic.State) -> tuple[Any, list[Output]]:
            if logic.expired(state, now, settings):
                return None, logic.leaving(state, now)
            outputs = logic.advance(state, now, settings, wall_ms())
            if outputs:
                return stored(key, state, outputs)
            # due in stream time, not yet in wall time: look again soon
            due.schedule(key, max(now + 1, logic.next_due(state, settings) or now + 1))
            return KEEP, []

        runner.sweep(due.pop_due(now), finish, [])

    @p.failures.timer(min(settings.tick_interval_s, DEADLINE_TICK_S))
    async def hedge_deadlines() -> None:
        """Deadlines fall due with stream time even when no record arrives; expired orders go.
        A short tick (popping only what is due costs nothing when nothing is), and a sweep
        after each batch too, so an alert is raised close to its deadline."""
        now = clock.now()
        if not now:
            return
        sweep(now)
        p.metrics.table_size.labels("hedge").set(len(table))


def wall_ms() -> int:
    return int(time.time() * 1000)
