"""The Predexon connector: rehydration from REST, per-game sequence order, fatal bad key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from mmstream.core.settings import TopicSettings
from mmstream.simulators import FaultConfig
from tests.fixtures.kafka import TestCluster
from tests.fixtures.simulators import quick_config
from tests.helpers.kafka import consume
from tests.helpers.processes import Child
from tests.integration.connectors.test_mmapi_connector import stock_decoder


async def test_rehydrates_then_streams_in_sequence_order(
    simulators_factory: Any,
    run_connector: Callable[..., Child],
    cluster: TestCluster,
    topics: TopicSettings,
) -> None:
    faults = FaultConfig(duplicate_p=0.1, reorder_p=0.1)
    # 10 s: a connector process starting on a loaded machine still subscribes with live frames
    # (and their duplicates and reorderings) left to send; at 4 s it sometimes saw none
    sims = await simulators_factory(quick_config(duration_s=10, faults=faults))
    await asyncio.sleep(1.5)  # scenario time: games are under way before the connector starts
    connector = run_connector("predexon", sims)
    await asyncio.wait_for(sims.predexon.subscribed.wait(), 60)
    await sims.wait_finished(30)
    live = [m for m in sims.steps if m.feed == "predexon"]
    records = [  # read in a thread: the simulators on this loop must go on answering
        v
        for _, v, _ in await asyncio.to_thread(
            consume,
            cluster.target,
            topics.name("sports_live"),
            len(sims.truth.games),
            30,
            stock_decoder(cluster.registry_url),
            quiet_s=1.5,
        )
    ]
    rehydrated = [r for r in records if r["envelope"]["origin"] == "REHYDRATED"]
    assert rehydrated and all(r["sequence"] is None for r in rehydrated)
    # the socket is read while REST rehydrates: a game may get its state from either, first
    assert {r["game_id"] for r in records} == set(sims.truth.games), "every game's state"
    updated: dict[str, list[int]] = {}
    for record in records:
        updated.setdefault(record["game_id"], []).append(record["updated_at"])
    for game_id, times in updated.items():
        assert times == sorted(times), f"{game_id}: an older state published after a newer one"
    streamed = [r for r in records if r["envelope"]["origin"] == "LIVE"]
    by_game: dict[str, list[int]] = {}
    for record in streamed:
        by_game.setdefault(record["game_id"], []).append(record["sequence"])
    for game_id, sequences in by_game.items():
        assert sequences == sorted(set(sequences)), f"{game_id}: duplicates or reordering"
    assert set(by_game) <= {s.payload["game_id"] for s in live}
    assert sims.counters["duplicated"] + sims.counters["reordered"] > 0, (
        f"no fault hit a frame sent to the connector: {dict(sims.counters)}"
    )
    assert await connector.stop() == 0
    assert sims.predexon_api_key not in connector.output


async def test_a_rejected_key_stops_with_a_clear_message(
    simulators_factory: Any,
    run_connector: Callable[..., Child],
) -> None:
    sims = await simulators_factory(quick_config())
    connector = run_connector("predexon", sims, key="pdx_wrong_key_123")
    assert await connector.wait(30) == 3
    assert "refused the API key" in connector.output
    assert "pdx_wrong_key_123" not in connector.output
