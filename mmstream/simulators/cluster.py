"""Both simulated providers on free loopback ports, fed by one scenario player.

async with run_simulators(ScenarioConfig(seed=3, rate=200, duration_s=10)) as sims:
    sims.mmapi_ws_url, sims.mmapi_api_key, sims.predexon_ws_base_url, …
    await sims.wait_finished()
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from mmstream.core.child_process import free_port
from mmstream.simulators.config import ScenarioConfig
from mmstream.simulators.games import FIXTURE_ROUNDS, fixture_rows
from mmstream.simulators.ground_truth import GameTruth, GroundTruth
from mmstream.simulators.mmapi_server import MmapiServer
from mmstream.simulators.predexon_server import PredexonServer
from mmstream.simulators.scenario import Scenario, new_truth, scenario_truth
from mmstream.simulators.timeline import Step, iso, render

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
PRUNE_EVERY_MS = 1000  # how often (scenario time) the REST history drops its oldest rows
CATCH_UP_BURST = 16  # messages a late player sends before the connections' writers run


@dataclass
class Site:
    """One provider's aiohttp application, restartable on the same port."""

    app: web.Application
    port: int
    runner: web.AppRunner | None = None

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, HOST, self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


class SimulatorCluster:
    """The two servers, the scenario player, the ground truth and the fixture-map files."""

    def __init__(
        self, config: ScenarioConfig, out_dir: Path, mmapi_port: int = 0, predexon_port: int = 0
    ) -> None:
        self.config = config
        self.out_dir = out_dir
        self.counters: Counter[str] = Counter()
        self.mmapi = MmapiServer(config, self.counters)
        self.predexon = PredexonServer(config, self.counters)
        if config.end_ms is None and config.faults.restarts:
            raise ValueError("faults.restarts are spread over the scenario: it needs an end")
        # a bounded scenario's truth is filled as it plays (written when it has been sent);
        # one with no end keeps none, only its fixture map
        self._played = new_truth(config) if config.end_ms is not None else None
        self._generated: tuple[int, GroundTruth] | None = None  # (anchor, truth), on demand
        self._steps: list[Step] | None = None
        self.mmapi_site = Site(self._app(self.mmapi.routes()), mmapi_port or free_port())
        self.predexon_site = Site(self._app(self.predexon.routes()), predexon_port or free_port())
        self.finished = asyncio.Event()
        self.sent = 0
        self.anchor_ms = 0
        self._player: asyncio.Task[None] | None = None

    @staticmethod
    def _app(routes: list[web.RouteDef]) -> web.Application:
        app = web.Application()
        app.add_routes(routes)
        return app

    # --- addresses -----------------------------------------------------------------------------

    @property
    def mmapi_ws_url(self) -> str:
        return f"ws://{HOST}:{self.mmapi_site.port}/ws/subscribe"

    @property
    def mmapi_rest_url(self) -> str:
        return f"http://{HOST}:{self.mmapi_site.port}"

    @property
    def mmapi_api_key(self) -> str:
        return self.config.default_api_key

    @property
    def predexon_ws_base_url(self) -> str:
        """The client appends `/v1/<KEY>`."""
        return f"ws://{HOST}:{self.predexon_site.port}"

    @property
    def predexon_rest_url(self) -> str:
        return f"http://{HOST}:{self.predexon_site.port}"

    @property
    def predexon_api_key(self) -> str:
        return self.config.predexon_key

    @property
    def fixture_map_path(self) -> Path:
        return self.out_dir / "fixture_map.json"

    @property
    def ground_truth_path(self) -> Path:
        return self.out_dir / "ground_truth.json"

    @property
    def truth(self) -> GroundTruth:
        """The bounded scenario's ground truth: the player's once it has sent everything,
        before that the same generated apart (without holding its steps)."""
        if self._played is None:
            raise ValueError("a scenario with no end has no ground truth")
        if self.finished.is_set():
            return self._played
        if self._generated is None or self._generated[0] != self.anchor_ms:
            generated = scenario_truth(self.config)
            self._anchor(generated)
            self._generated = (self.anchor_ms, generated)
        return self._generated[1]

    def ground_truth(self) -> GroundTruth:
        return self.truth

    @property
    def steps(self) -> list[Step]:
        """The whole timeline of a bounded scenario, generated again and held (tests only:
        the player generates its own as it plays)."""
        if self._steps is None:
            if self.config.end_ms is None:
                raise ValueError("a scenario with no end cannot be listed")
            self._steps = list(Scenario(self.config))
        return self._steps

    def games(self) -> list[GameTruth]:
        """The fixture map's games: every game the scenario can play (those of as many rounds
        as fit in it, or of the first `FIXTURE_ROUNDS` when it has no end), known before it
        plays."""
        end = self.config.end_ms
        shortest_game_ms = int(self.config.game_s * 1000 * 0.8)
        rounds = FIXTURE_ROUNDS if end is None else 1 + end // max(1, shortest_game_ms)
        return fixture_rows(self.config, rounds)

    def accepted_past_s(self) -> int:
        """How far back a connector must accept times (`<FEED>_TIME_WINDOW_PAST_S`) for this
        scenario, which is stamped at a fixed past moment unless it runs on the wall clock."""
        age_s = (time.time() * 1000 - self.anchor_ms) / 1000
        return int(max(30 * 86_400, age_s + 86_400))

    def info(self) -> dict[str, Any]:
        """Everything a client needs, as printed by `mmstream simulate`."""
        return {
            "mmapi_ws_url": self.mmapi_ws_url,
            "mmapi_rest_url": self.mmapi_rest_url,
            "mmapi_api_key": self.mmapi_api_key,
            "predexon_ws_url": self.predexon_ws_base_url,
            "predexon_rest_url": self.predexon_rest_url,
            "predexon_api_key": self.predexon_api_key,
            "fixture_map": str(self.fixture_map_path),
            "ground_truth": None if self._played is None else str(self.ground_truth_path),
            # what the rate offers: the exact count is known once sent (`ground_truth`)
            "offered_messages": None
            if self.config.duration_s is None
            else round(self.config.rate * self.config.duration_s),
            "duration_s": self.config.duration_s,
        }

    # --- life cycle ----------------------------------------------------------------------------

    async def start(self, autoplay: bool = True) -> None:
        """Serve both providers; play the scenario now, or later with `play()`."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._write_files()
        await self.mmapi_site.start()
        await self.predexon_site.start()
        self.anchor_ms = (
            self.config.start_ms if self.config.start_ms is not None else int(time.time() * 1000)
        )
        if autoplay:
            self.play()

    def play(self) -> None:
        """Start sending the scenario (once). On the live clock the scenario's times start
        now, so a scenario played later than the servers started is not stamped in the past."""
        if self._player is not None:
            return
        if self.config.start_ms is None:
            self.anchor_ms = int(time.time() * 1000)
        self._player = asyncio.create_task(self._play(), name="scenario-player")

    async def play_when_subscribed(self) -> None:
        """Play once both feeds have had a subscriber, so no connector that is still starting
        misses the scenario's first messages (what `mmstream up` runs)."""
        await self.mmapi.subscribed.wait()
        await self.predexon.subscribed.wait()
        self.play()

    async def stop(self) -> None:
        if self._player is not None:
            self._player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._player
        self.mmapi.drop_connections()
        self.predexon.drop_connections()
        await self.mmapi_site.stop()
        await self.predexon_site.stop()

    async def wait_finished(self, deadline_s: float | None = None) -> None:
        await asyncio.wait_for(self.finished.wait(), deadline_s)

    async def restart_servers(self, downtime_s: float = 0.5) -> None:
        """Stop both servers (every connection dropped) and start them again on the same ports."""
        self.counters["restarts"] += 1
        self.mmapi.drop_connections()
        self.predexon.drop_connections()
        await self.mmapi_site.stop()
        await self.predexon_site.stop()
        await asyncio.sleep(downtime_s)
        await self.mmapi_site.start()
        await self.predexon_site.start()

    def drop_connections(self) -> None:
        self.counters["dropped_by_test"] += 1
        self.mmapi.drop_connections()
        self.predexon.drop_connections()

    # --- the player ----------------------------------------------------------------------------

    def timeline(self) -> Scenario:
        """The scenario the player plays: generated as it goes, filling the truth."""
        return Scenario(self.config, self._played)

    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        restarts = self._restart_times()
        next_prune = PRUNE_EVERY_MS
        unyielded = 0  # messages sent since the player last let the connections' writers run
        for step in self.timeline():
            while restarts and step.t_ms >= restarts[0]:
                restarts.pop(0)
                await self.restart_servers(self.config.faults.restart_downtime_s)
            delay = started + step.t_ms / 1000 - loop.time()
            if delay > 0.001:
                await asyncio.sleep(delay)
                unyielded = 0
            elif unyielded >= CATCH_UP_BURST:
                # behind its schedule (a late timer, a busy machine) the player would queue
                # the whole backlog before any of it reached a socket
                await asyncio.sleep(0)
                unyielded = 0
            self._send(step)
            unyielded += 1
            if step.t_ms >= next_prune:
                next_prune = step.t_ms + PRUNE_EVERY_MS
                self._prune_history(step.t_ms)
        self.write_truth()
        self.finished.set()
        log.info("scenario finished: %d messages sent", self.sent)

    def _prune_history(self, t_ms: int) -> None:
        """Forget REST rows not updated within `rest_history_s` (memory stays bounded)."""
        cutoff = iso(self.anchor_ms, t_ms - int(self.config.rest_history_s * 1000))
        self.mmapi.orders.forget_before(cutoff)
        self.mmapi.bets.forget_before(cutoff)
        self.predexon.forget_ended_before(cutoff)

    def _restart_times(self) -> list[int]:
        count = self.config.faults.restarts
        span = self.config.end_ms or 0
        return [span * (i + 1) // (count + 1) for i in range(count)]

    def _send(self, step: Step) -> None:
        payload = render(step.payload, self.anchor_ms)
        if step.feed == "predexon":
            self.predexon.publish(payload)
        else:
            message: dict[str, Any] = {
                "type": "broadcast",
                "channel": step.channel,
                "event": step.event,
                "payload": payload,
            }
            if step.old is not None:
                message["old"] = render(step.old, self.anchor_ms)
            self.mmapi.publish(step.channel, step.client, json.dumps(message), payload)
        self.sent += 1

    # --- files ---------------------------------------------------------------------------------

    def write_truth(self) -> None:
        """Write a bounded scenario's truth, filled as it played (once everything is sent)."""
        if self._played is not None:
            self._anchor(self._played)
            self._played.write(self.ground_truth_path)

    def _anchor(self, truth: GroundTruth) -> None:
        """Move a truth generated on the scenario's own anchor to the one it plays on."""
        truth.shift_times(self.anchor_ms - truth.start_ms)
        truth.start_ms = self.anchor_ms
        truth.end_ms = self.anchor_ms + (self.config.end_ms or 0)

    def _write_files(self) -> None:
        rows = [
            {
                "fixtureId": g.fixture_id,
                "game_id": g.game_id,
                "league": g.league,
                "sport": g.sport,
            }
            for g in self.games()
        ]
        self.fixture_map_path.write_text(json.dumps(rows, indent=1))
        with (self.out_dir / "fixture_map.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["fixtureId", "game_id", "league", "sport"])
            writer.writeheader()
            writer.writerows(rows)


@contextlib.asynccontextmanager
async def run_simulators(
    config: ScenarioConfig,
    out_dir: Path | None = None,
    mmapi_port: int = 0,
    predexon_port: int = 0,
    autoplay: bool = True,
) -> AsyncIterator[SimulatorCluster]:
    """Start both simulators; stop them (and drop every connection) on exit."""
    with contextlib.ExitStack() as stack:
        directory = out_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        cluster = SimulatorCluster(config, directory, mmapi_port, predexon_port)
        await cluster.start(autoplay)
        try:
            yield cluster
        finally:
            await cluster.stop()
