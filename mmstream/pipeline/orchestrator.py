"""`mmstream up`: the whole pipeline in one command.

Embedded default (no Kafka settings, no API keys): the Tansu broker (or, with `--broker kafka`,
a local Apache Kafka node) and the registry, the
topics, both simulators, the fixture map, both connectors and a Faust worker. With API keys the
connectors talk to the real providers and no simulator runs. Ctrl-C / SIGTERM / `--duration`
stop everything in order, connectors flushing first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from rich.console import Console
from rich.live import Live

from mmstream.core.errors import MmstreamError
from mmstream.core.kafka.admin import create_topics, require_listening
from mmstream.core.kafka.group_lag import Partition
from mmstream.core.runtime import Runtime, resolve_runtime
from mmstream.core.settings import KafkaSettings, load_settings
from mmstream.core.stackfile import STACK_FILE, update_stack_file
from mmstream.pipeline.drain import Drain
from mmstream.pipeline.plan import Plan
from mmstream.pipeline.supervisor import ChildFailed, Supervisor, SupervisorSettings
from mmstream.stack import EmbeddedStack
from mmstream.view.model import Dashboard, FeedStatus
from mmstream.view.render import render
from mmstream.view.sources import DerivedReader, update_agents, update_feed
from processors.settings import ProcessorSettings

log = logging.getLogger(__name__)
SIMULATOR_START_DEADLINE_S = 30.0
EXIT_WHEN_DONE_MARGIN_S = 120.0


@dataclass
class UpOptions:
    data_dir: Path
    broker: str = "tansu"
    seed: int = 7
    rate: float = 50.0
    duration_s: float | None = None
    live_view: bool = True
    summary_interval_s: float = 5.0
    exit_when_done: bool = False
    settle_s: float = 8.0
    drain_limit_s: float = EXIT_WHEN_DONE_MARGIN_S  # with exit_when_done: the safety net


class Orchestrator:
    def __init__(self, options: UpOptions) -> None:
        self.options = options
        self.plan = Plan.from_environment(options.data_dir)
        budget = load_settings(SupervisorSettings)
        self.supervisor = Supervisor(
            str(options.data_dir / "logs"),
            max_restarts=budget.max_restarts,
            restart_backoff=budget.restart_backoff_s,
            restart_window_s=budget.restart_window_s,
        )
        self.stack: EmbeddedStack | None = None
        self.board = Dashboard()
        self.lock = threading.Lock()
        self.stop = asyncio.Event()
        self.reader: DerivedReader | None = None
        self.console = Console(stderr=False)
        self.stop_reason = "stopped"
        self.drain: Drain | None = None  # with exit_when_done: the worker group's backlog
        self.backlog_shown: dict[Partition, int] = {}  # the backlog last printed
        # called with the board (under its lock) each time the view refreshes: what a test
        # of the demo waits on
        self.watchers: list[Callable[[Dashboard], None]] = []

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        # SIGHUP too: a closed terminal must stop the pipeline, not orphan its processes
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self._request_stop, sig.name)
        try:
            runtime = await self._start()
            await self._watch(runtime)
        except ChildFailed as exc:
            self.stop_reason = str(exc)
            log.error("%s", exc)
        finally:
            exits = await self._shutdown()
        clean = all(code == 0 for code in exits.values())
        self.console.print(
            f"mmstream up: {self.stop_reason}; "
            + ", ".join(
                f"{name}={code}{self._restarts(name)}" for name, code in sorted(exits.items())
            ),
            markup=False,
            soft_wrap=True,
        )
        self.console.print(self.board.summary_line(), markup=False, soft_wrap=True)
        return 0 if clean and self.supervisor.failure is None else 1

    def _restarts(self, name: str) -> str:
        restarts = self.supervisor.children[name].restarts
        return f" (restarted {restarts}x)" if restarts else ""

    def _request_stop(self, reason: str) -> None:
        self.stop_reason = f"stopped by {reason}"
        self.stop.set()

    async def _start(self) -> Runtime:
        kafka = load_settings(KafkaSettings)
        if kafka.embedded:
            self.stack = EmbeddedStack(self.options.data_dir, broker=self.options.broker)
            await asyncio.to_thread(self.stack.start)
            self.console.print(
                f"embedded broker {self.stack.bootstrap_servers} ({self.options.broker}), "
                f"registry {self.stack.registry_url}"
            )
        runtime = resolve_runtime()
        if not kafka.embedded:  # a cluster named by the user: nothing listening is an error now
            await asyncio.to_thread(require_listening, runtime.target)
        await asyncio.to_thread(create_topics, runtime.target, runtime.topics)
        if self.options.exit_when_done:
            app_id = load_settings(ProcessorSettings).app_id
            self.drain = Drain(runtime.target, runtime.topics, app_id)
        await asyncio.to_thread(self._register_schemas, runtime)
        simulator: dict[str, Any] | None = None
        if self.plan.simulated:
            simulator = await self._start_simulators()
            await self.supervisor.run_job(self.plan.fixture_load(simulator["fixture_map"]), 60)
        else:
            self.console.print("API keys found: connecting to the real providers")
        for feed in ("mmapi", "predexon"):
            if getattr(self.plan, feed):
                await self.supervisor.start(self.plan.connector(feed, simulator))
        await self.supervisor.start(self.plan.worker())
        self._publish_endpoints()
        for feed in ("mmapi", "predexon"):
            if getattr(self.plan, feed):
                self.board.feeds[feed] = FeedStatus(feed)
        self.reader = DerivedReader(runtime, self.board, self.lock)
        self.reader.start()
        return runtime

    def _publish_endpoints(self) -> None:
        """Every child's metrics / health / readiness URLs: printed, and kept in stack.json."""
        endpoints = self.plan.endpoints()
        update_stack_file(self.options.data_dir, endpoints=endpoints)
        for child, urls in endpoints.items():
            self.console.print(
                f"{child}: metrics {urls['metrics']}  health {urls['health']}  "
                f"ready {urls['ready']}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

    @staticmethod
    def _register_schemas(runtime: Runtime) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        from schemas.serde import AvroSerde

        AvroSerde(SchemaRegistryClient(runtime.registry_config()), runtime.topics).register_all()

    async def _start_simulators(self) -> dict[str, Any]:
        info_path = self.plan.simulator_info
        info_path.unlink(missing_ok=True)
        info_path.with_suffix(".done").unlink(missing_ok=True)
        # with --duration the scenario is that long (its ground truth is written); without,
        # it has no end and is generated as it plays
        await self.supervisor.start(
            self.plan.simulators(self.options.seed, self.options.rate, self.options.duration_s)
        )
        deadline = time.monotonic() + SIMULATOR_START_DEADLINE_S
        while not info_path.exists():
            if self.supervisor.failure is not None:
                raise self.supervisor.failure
            if time.monotonic() > deadline:
                raise MmstreamError("the simulators did not start; see var/logs/simulators.log")
            await asyncio.sleep(0.05)
        info: dict[str, Any] = json.loads(info_path.read_text())
        return info

    async def _watch(self, runtime: Runtime) -> None:
        started = time.monotonic()
        failure = asyncio.create_task(self.supervisor.wait_failure())
        urls = self.plan.metrics_urls()
        last_scrape, last_summary = time.monotonic(), 0.0
        live = (
            Live(render(self.board), console=self.console, refresh_per_second=2)
            if self.options.live_view
            else None
        )
        if live is not None:
            live.start()
        try:
            while not self.stop.is_set():
                if failure.done():
                    raise failure.result()
                now = time.monotonic()
                await asyncio.to_thread(self._scrape, urls, now - last_scrape)
                last_scrape = now
                with self.lock:
                    for watcher in self.watchers:
                        watcher(self.board)
                if live is not None:
                    with self.lock:
                        live.update(render(self.board))
                elif now - last_summary >= self.options.summary_interval_s:
                    last_summary = now
                    with self.lock:
                        print(self.board.summary_line(), flush=True)
                if self.options.duration_s and now - started >= self._time_limit():
                    self.stop_reason = "duration reached"
                    break
                if self.options.exit_when_done and await self._done():
                    self.stop_reason = "scenario sent and processed"
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), 1.0)
        finally:
            failure.cancel()
            if live is not None:
                live.stop()

    def _time_limit(self) -> float:
        """--duration alone: run that long. With --exit-when-done it is the scenario's length,
        and the run ends when its outputs settle; the limit is then only a safety net."""
        assert self.options.duration_s is not None
        if self.options.exit_when_done:
            return self.options.duration_s + self.options.settle_s + self.options.drain_limit_s
        return self.options.duration_s

    def _scrape(self, urls: dict[str, str], elapsed_s: float) -> None:
        for feed, status in self.board.feeds.items():
            update_feed(status, urls[feed], elapsed_s)
        with self.lock:
            update_agents(self.board, urls["worker"])

    async def _done(self) -> bool:
        """The scenario was sent and has settled (`_settled`), and the broker shows the worker
        group's committed offsets at the end of every partition its agents read: every raw
        record reached the agents, and their outputs were flushed before the commit."""
        if not self._settled() or self.drain is None:
            return False
        try:
            backlog = await asyncio.to_thread(self.drain.backlog)
        except (KafkaException, TimeoutError, RuntimeError) as exc:
            log.warning("worker group's offsets not read from the broker: %s", exc)
            return False
        if backlog and backlog != self.backlog_shown:
            shown = ", ".join(f"{p.topic}[{p.partition}]={n}" for p, n in sorted(backlog.items()))
            self.console.print(
                f"waiting for the worker: {sum(backlog.values())} records not committed on "
                f"{len(backlog)} partitions ({shown})",
                markup=False,
                soft_wrap=True,
            )
        self.backlog_shown = backlog
        return not backlog

    def _settled(self) -> bool:
        """The scenario was sent and no derived record came for the settle time since (nor
        since the worker last (re)started: a restarted worker recovers before it produces)."""
        done_file = self.plan.simulator_info.with_suffix(".done")
        if not self.plan.simulated or not done_file.exists():
            return False
        reader = self.reader
        if reader is None:
            return False
        worker = self.supervisor.children.get("worker")
        quiet_for = time.monotonic() - max(
            reader.last_record_at,
            done_file.stat().st_mtime - time.time() + time.monotonic(),
            worker.started_at if worker is not None else 0.0,
        )
        return quiet_for >= self.options.settle_s

    async def _shutdown(self) -> dict[str, int | None]:
        exits = await self.supervisor.stop()
        if self.reader is not None:
            await asyncio.to_thread(self.reader.close)
        if self.stack is not None:
            await asyncio.to_thread(self.stack.stop)
        else:
            (self.options.data_dir / STACK_FILE).unlink(missing_ok=True)
        return exits
