"""One simulated WebSocket client connection: a bounded send queue drained by a writer task,
with the fault plan applied to every frame. Shared by both servers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter

from aiohttp import WSCloseCode, web

from mmstream.simulators.config import FaultConfig
from mmstream.simulators.faults import BadFrameFactory, FaultPlan

log = logging.getLogger(__name__)


class Connection:
    """Frames queued for one client; a full queue means a slow consumer, which is disconnected."""

    def __init__(self, ws: web.WebSocketResponse, plan: FaultPlan, counters: Counter[str]) -> None:
        self.ws = ws
        self.plan = plan
        self.counters = counters
        self.queue: asyncio.Queue[str] = asyncio.Queue(plan.config.slow_consumer_queue)
        self.writer = asyncio.create_task(self._drain())
        self.closed = asyncio.Event()
        self._closing: asyncio.Future[bool] | None = None

    @classmethod
    def with_faults(
        cls,
        ws: web.WebSocketResponse,
        config: FaultConfig,
        rng: random.Random,
        counters: Counter[str],
        bad_frame: BadFrameFactory,
    ) -> Connection:
        """A connection with its own fault plan, seeded from the server's generator."""
        plan = FaultPlan(config, random.Random(rng.getrandbits(32)), counters, bad_frame)
        return cls(ws, plan, counters)

    def send(self, text: str, faults: bool = True) -> None:
        """Queue a frame (data frames go through the fault plan; control replies do not)."""
        if self.closed.is_set():
            return
        frames = self.plan.frames_for(text) if faults else [text]
        for frame in frames:
            try:
                self.queue.put_nowait(frame)
            except asyncio.QueueFull:
                self.counters["slow_consumer_disconnects"] += 1
                self.abort(WSCloseCode.POLICY_VIOLATION, "slow consumer")
                return

    async def _drain(self) -> None:
        try:
            while True:
                frame = await self.queue.get()
                await self.ws.send_str(frame)
                if self.plan.should_disconnect():
                    self.abort()
                    return
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            self.closed.set()

    def abort(self, code: int | None = None, reason: str = "") -> None:
        """Cut the connection: a close frame if `code` is given, else a dropped TCP connection."""
        self.closed.set()
        if code is not None:
            self._closing = asyncio.ensure_future(self.ws.close(code=code, message=reason.encode()))
            return
        transport = self.ws._req.transport if self.ws._req is not None else None
        if transport is not None:
            transport.abort()

    async def close(self) -> None:
        self.closed.set()
        self.writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.writer
