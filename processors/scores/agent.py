"""Faust wiring of score reconciliation.

Stage 1 (`score-router`): `mmapi.scores` (keyed by fixtureId) and `predexon.sports_live` (keyed
by game_id) become provider views keyed by game_id, through the fixture map, so that both
providers' views of one game meet in one partition. Stage 2 (`reconcile`): per game, the pure
logic decides AGREE / CATCHING_UP / CONFLICT / STALE / ONE_SIDED and the conflict and
stale windows (README, "Score reconciliation").
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from processors.app import Pipeline
from processors.batch import KEEP
from processors.clock import StreamClock
from processors.common import Output
from processors.scores import logic
from processors.scores.fixture_map_reader import FixtureMap
from processors.signals import activity

log = logging.getLogger(__name__)
AGENT = "scores"
ROUTER = "score-router"


def register(p: Pipeline) -> None:
    settings = p.settings
    fixtures = FixtureMap(p)
    table = p.state_table("score-state")
    clock = StreamClock({p.outputs["score_views"].get_topic_name()})
    router = p.runner(ROUTER, None)
    reconciler = p.runner(AGENT, table)

    @p.agent(p.input("scores", "sports_live"), f"{settings.app_id}-score-router", ROUTER)
    async def score_router(stream: Any) -> None:
        # The fixture map is waited for inside the loop, not before it: `p.batches` registers
        # the topics with the bulk intake when first iterated, and records the consumer
        # fetched before that go Faust's per-record way into a queue nobody reads (never
        # routed, and committed past once later records are acked). Seen on the 3-node
        # cluster: the map loaded 0.1 s after the worker took the partitions over, and a
        # game's first two Predexon records, its flagged conflict among them, were lost.
        async for events in p.batches(stream):
            if not fixtures.caught_up.is_set():
                await asyncio.to_thread(fixtures.wait_loaded)
            route_batch(events)

    def route_batch(events: list[Any]) -> None:
        newest: dict[str, int] = {}

        def fold(_: None, event: Any) -> tuple[None, list[Output]]:
            return None, route(event, newest)

        work = router.fold(p.failures.decoded(ROUTER, events), fold)
        p.metrics.records_in.labels(ROUTER).inc(len(events))
        router.finish(work, unchanged, [activity(f, t) for f, t in newest.items()])

    def route(event: Any, newest: dict[str, int]) -> list[Output]:
        """The provider view of one raw score record, keyed by game (none if unmapped)."""
        record = event.value
        if p.topic_id(event) == "scores":
            provider, view = "mmapi", logic.mmapi_view(record)
            fixture_id = record["payload"]["fixtureId"]
            game_id = fixtures.game_for(fixture_id)
        else:
            provider, view = "predexon", logic.predexon_view(record)
            game_id = record["game_id"]
            fixture_id = fixtures.fixture_for(game_id)
        newest[provider] = max(newest.get(provider, 0), view["received_at"])
        if game_id is None or fixture_id is None:
            fixtures.unmapped(provider, fixture_id or game_id)
            return []
        value = {"provider": provider, "game_id": game_id, "fixture_id": fixture_id, "view": view}
        return [Output("score_views", game_id, value)]

    @p.agent(p.outputs["score_views"], f"{settings.app_id}-reconcile", AGENT)
    async def reconcile(stream: Any) -> None:
        async for events in p.batches(stream):
            reconcile_batch(events)

    def fold_view(state: logic.State | None, event: Any) -> tuple[Any, list[Output]]:
        item = event.value
        if state is None:
            state = logic.new_state(item["game_id"], item["fixture_id"])
        state = logic.apply_view(state, item["provider"], item["view"], settings)
        message = event.message
        clock.observe(message.topic, message.partition, item["view"]["received_at"])
        return state, []

    def reconcile_batch(events: list[Any]) -> None:
        work = reconciler.fold(events, fold_view)
        p.metrics.records_in.labels(AGENT).inc(len(events))
        p.failures.liveness.processed(AGENT)
        now = clock.now()

        def finish(key: bytes, state: logic.State) -> tuple[Any, list[Output]]:
            return state, logic.advance(state, now, settings)

        reconciler.finish(work, finish, [])

    @p.failures.timer(settings.tick_interval_s)
    async def score_ticks() -> None:
        """Grace periods and conflict durations fall due with time, not only with records."""
        now = clock.now()
        if not now:
            return

        def finish(key: bytes, state: logic.State) -> tuple[Any, list[Output]]:
            outputs = logic.advance(state, now, settings)
            return (state if outputs else KEEP), outputs

        # in place, as Faust's table was: a tick's bookkeeping without an output is not logged
        reconciler.sweep(list(table.store), finish, [], in_place=True)
        p.metrics.table_size.labels("scores").set(len(table))


def unchanged(key: bytes, state: None) -> tuple[Any, list[Output]]:
    """The router's per-key step: no state, no output of its own."""
    return KEEP, []
