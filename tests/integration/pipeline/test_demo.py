"""`make demo` (= `mmstream up`, no flags) on the real stack: within 30 s the live view shows
both feeds streaming, a reconciled game and a hedged fill, and its tables hold each order or
game once, newest first.

The orchestrator runs in the test's process (its children are the real simulators, connectors
and worker, on the session broker) so that the test reads the very board the live view
renders, each time the view refreshes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from mmstream.core.settings import TopicSettings
from mmstream.pipeline.orchestrator import Orchestrator, UpOptions
from mmstream.view.model import Dashboard
from tests.fixtures.kafka import TestCluster

DEMO_PROMISE_S = 30.0  # issue 18 item 6


def everything_shown(board: Dashboard) -> bool:
    feeds = board.feeds.values()
    reconciled = [
        g
        for g in board.games.newest_first()
        if g.get("mmapi_score") is not None and g.get("predexon_score") is not None
    ]
    hedged = [f for f in board.latest_fills.newest_first() if f.get("status") == "HEDGED"]
    return (
        len(board.feeds) == 2
        and all(f.messages_total > 0 for f in feeds)
        and bool(reconciled)
        and bool(hedged)
    )


def newest_first(arrivals: list[str]) -> list[str]:
    """Keys ordered by their latest arrival, newest first."""
    last = {key: index for index, key in enumerate(arrivals)}
    return sorted(last, key=lambda key: -last[key])


async def test_the_demo_shows_both_feeds_games_and_hedged_fills_within_30_s(
    cluster: TestCluster, topics: TopicSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        **cluster.env(topics),
        "MMSTREAM_DATA_DIR": str(tmp_path),
        "MMSTREAM_PROCESSOR_APP_ID": f"demo-{tmp_path.name}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("MMAPI_API_KEY", "PREDEXON_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    orchestrator = Orchestrator(UpOptions(data_dir=tmp_path, live_view=False))
    defaults = UpOptions(data_dir=tmp_path)
    assert (defaults.seed, defaults.rate, defaults.duration_s) == (7, 50.0, None), "the demo's"

    arrivals: dict[str, list[str]] = {"hedge_fills": [], "scores_reconciled": []}
    fold = orchestrator.board.apply_record

    def spy(topic_id: str, key: str | None, value: dict[str, Any] | None) -> None:
        if value is not None and topic_id in arrivals:
            field = "order_id" if topic_id == "hedge_fills" else "game_id"
            arrivals[topic_id].append(str(value.get(field) or key))
        fold(topic_id, key, value)

    orchestrator.board.apply_record = spy  # type: ignore[method-assign]
    shown: asyncio.Future[tuple[list[str], list[str], list[str], list[str]]]
    shown = asyncio.get_running_loop().create_future()

    def watch(board: Dashboard) -> None:
        if not shown.done() and everything_shown(board):
            shown.set_result(
                (
                    board.latest_fills.keys(),
                    newest_first(arrivals["hedge_fills"]),
                    board.games.keys(),
                    newest_first(arrivals["scores_reconciled"]),
                )
            )

    orchestrator.watchers.append(watch)
    started = time.monotonic()
    run = asyncio.create_task(orchestrator.run())
    try:
        first: set[asyncio.Future[Any]] = {shown, run}
        done, _ = await asyncio.wait(
            first, timeout=DEMO_PROMISE_S, return_when=asyncio.FIRST_COMPLETED
        )
        assert shown in done, (
            f"not everything shown {time.monotonic() - started:.0f} s after start: "
            f"{orchestrator.board.summary_line()}"
        )
        print(f"the demo showed everything {time.monotonic() - started:.1f} s after start")
    finally:
        orchestrator.stop.set()
        code = await asyncio.wait_for(run, 120)
    assert code == 0

    fills, fill_arrivals, games, game_arrivals = shown.result()
    assert len(fills) == len(set(fills)) and fills == fill_arrivals[: len(fills)]
    assert len(games) == len(set(games)) and games == game_arrivals[: len(games)]
