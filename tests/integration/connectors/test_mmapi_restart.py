"""A restarted MM API connector closes the gap its killed predecessor left: the position it had
reached survives in `connectors.offsets`, and the new process gap-fills from there."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from mmstream.core.settings import TopicSettings
from mmstream.simulators import SimulatorCluster
from mmstream.simulators.scenario import DEFAULT_CLIENT
from mmstream.simulators.timeline import render
from tests.fixtures.kafka import TestCluster
from tests.fixtures.simulators import quick_config
from tests.helpers.kafka import consume, consume_until
from tests.helpers.processes import Child, wait_for
from tests.integration.connectors.test_mmapi_connector import identity, stock_decoder

ENTITY = {"orders": "orderId", "bets": "betId"}
FAST_OFFSETS = {"MMAPI_OFFSET_FLUSH_INTERVAL_S": "0.2"}


def final_states(sims: SimulatorCluster, steps: int | None = None) -> dict[str, dict[Any, int]]:
    """Channel → entity → index of the step that sent its last state (of the first `steps`)."""
    last: dict[str, dict[Any, int]] = {"orders": {}, "bets": {}}
    for index, step in enumerate(sims.steps[:steps]):
        if step.feed == "mmapi" and step.channel in ENTITY and step.client == DEFAULT_CLIENT:
            last[step.channel][step.payload[ENTITY[step.channel]]] = index
    return last


def newest_is(
    channel: str, expected: dict[Any, Any], records: list[tuple[str | None, Any]]
) -> bool:
    """Whether the newest record of each entity is its final state (one key, one partition:
    topic order is publish order, what a compacted topic's reader ends with)."""
    newest = {r["payload"][ENTITY[channel]]: identity(channel, r["payload"]) for _, r in records}
    return newest == expected


async def subscribed(connector: Child) -> None:
    await wait_for(lambda: "subscribed" in connector.output, 30, "the connector to subscribe")


async def test_a_connector_killed_mid_stream_closes_its_gap_when_restarted(
    simulators_factory: Any,
    run_connector: Callable[..., Child],
    cluster: TestCluster,
    topics: TopicSettings,
) -> None:
    sims = await simulators_factory(quick_config(duration_s=10), autoplay=False)
    first = run_connector("mmapi", sims, **FAST_OFFSETS)
    await subscribed(first)
    assert "no position recorded by an earlier process: starting from now" in first.output
    sims.play()
    decode = stock_decoder(cluster.registry_url)
    offsets_topic = topics.name("connector_offsets")
    await asyncio.to_thread(
        consume_until,
        cluster.target,
        offsets_topic,
        lambda records: {k for k, v in records if v["watermark"]} >= {"mmapi/orders", "mmapi/bets"},
        30,
        decode,
    )
    first.kill()  # SIGKILL: no flush, no final position, records in flight lost
    killed_at = sims.sent
    await wait_for(lambda: sims.sent >= killed_at + 150, 30, "orders and bets to change meanwhile")
    second = run_connector("mmapi", sims, **FAST_OFFSETS)
    await subscribed(second)
    restarted_at = sims.sent
    await sims.wait_finished(60)

    final = final_states(sims)
    down = {  # entities whose final state was sent while no connector was running
        (channel, entity)
        for channel, last in final.items()
        for entity, index in last.items()
        if killed_at <= index < restarted_at
    }
    assert down, "the scenario changed some order or bet for the last time during the outage"
    newest_time: dict[str, int] = {}
    for channel, last in final.items():
        expected = {
            entity: identity(channel, render(sims.steps[index].payload, sims.anchor_ms))
            for entity, index in last.items()
        }

        records = await asyncio.to_thread(
            consume_until,
            cluster.target,
            topics.name(channel),
            functools.partial(newest_is, channel, expected),
            60,
            decode,
        )
        origins = {r["envelope"]["origin"] for _, r in records}
        assert "BACKFILL" in origins, f"{channel}: the gap was closed from REST"
        newest_time[channel] = max(r["envelope"]["event_time"] or 0 for _, r in records)
    assert "resuming orders where the last process stopped" in second.output
    assert "resuming bets where the last process stopped" in second.output
    assert await second.stop() == 0
    positions = consume(cluster.target, offsets_topic, 1, 30, decode, quiet_s=0.5)
    newest = {key: value for key, value, _ in positions}
    for channel in ENTITY:
        position = newest[f"mmapi/{channel}"]
        assert position["gap_from"] is None, f"{channel}: the finished gap fill was recorded"
        assert position["watermark"] == newest_time[channel], "a clean stop records the newest"
