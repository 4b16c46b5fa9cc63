"""The session loop both connectors share: connect, handshake, resync, read, and reconnect.

Each feed supplies a `FeedProtocol` (its URL, handshake, resync after (re)connect, message
handling, keep-alive); the loop owns everything else: the dead-connection verdict, error
classification, the retry policy (`backoff.py`; reset after a healthy session), stopping after
repeated non-retriable refusals (a wrong URL), session metrics, and stopping on request.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import uuid
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from connectors.backoff import Backoff, is_auth_refused, is_retriable, parse_retry_after
from connectors.errors import EndpointRefused, FatalSessionError, RetryableSessionError
from connectors.frames import Outcome, note_refused_frame
from connectors.metrics import ConnectorMetrics
from connectors.offsets import Position
from connectors.publisher import Connection

log = logging.getLogger(__name__)


class FeedProtocol(abc.ABC):
    """One provider's protocol, plugged into `SessionLoop`."""

    feed: str
    url_setting: str  # the setting a refused endpoint points at, e.g. MMAPI_WS_URL
    records_positions = False  # whether `restore` needs the last process's source offsets
    liveness_timeout_s: float | None = None  # no frame within this → the connection is dead
    max_frame_bytes: int = 2**23  # a larger frame closes the connection (1009)

    @abc.abstractmethod
    def url(self) -> str: ...

    def connect_options(self) -> dict[str, Any]:
        return {"ping_interval": None}

    @abc.abstractmethod
    async def handshake(self, ws: ClientConnection, session: Connection) -> None:
        """Subscribe; set `session.subscription_id`; raise Fatal/RetryableSessionError."""

    def restore(self, positions: dict[str, Position]) -> None:
        """Take over where the last process stopped (its recorded source offsets)."""
        return

    def open_gap(self, session: Connection) -> None:
        """At subscription, before any frame is read: mark where the gap to close begins."""
        return

    @abc.abstractmethod
    async def resync(self, session: Connection) -> None:
        """Close the gap after (re)connecting or restarting: REST backfill or rehydration."""

    @abc.abstractmethod
    async def handle(self, raw: str | bytes, session: Connection) -> Outcome:
        """Type and publish one message (awaiting backpressure); reject bad input to the DLQ."""

    async def keepalive(self, ws: ClientConnection) -> None:
        """Periodic application-level pings, if the protocol has them."""
        await asyncio.Event().wait()

    @abc.abstractmethod
    async def close(self) -> None:
        """Release what the protocol holds (REST sessions)."""


class DeadConnection(RetryableSessionError):
    """Neither heartbeat nor message within the liveness timeout."""


class SessionLoop:
    """Keeps one session of a feed alive until `stop` is set."""

    def __init__(
        self,
        protocol: FeedProtocol,
        metrics: ConnectorMetrics,
        backoff: Backoff,
        stop: asyncio.Event,
        handshake_timeout_s: float = 10.0,
        refused_attempts: int = 3,
    ) -> None:
        self.protocol = protocol
        self.metrics = metrics
        self.backoff = backoff
        self.stop = stop
        self.handshake_timeout_s = handshake_timeout_s
        self.refused_attempts = refused_attempts
        self.sessions = 0
        self._subscribed_at: float | None = None

    async def run(self) -> None:
        attempt, refusals = 0, 0
        loop = asyncio.get_running_loop()
        while not self.stop.is_set():
            slow, retry_after, refused = False, None, False
            self._subscribed_at = None
            try:
                await self._one_session()
            except FatalSessionError:
                self.metrics.set_state("stopped")
                raise
            except EndpointRefused as exc:  # REST, during a resync
                refusals, refused = self._refused(refusals, exc.setting, str(exc)), True
            except RetryableSessionError as exc:
                slow = exc.slow
                log.warning("%s session ended: %s", self.protocol.feed, exc)
            except InvalidStatus as exc:
                status = exc.response.status_code
                if is_auth_refused(status):
                    self.metrics.set_state("stopped")
                    raise FatalSessionError(
                        f"{self.protocol.feed}: the server refused the API key (HTTP {status})"
                    ) from None
                if is_retriable(status):
                    retry_after = parse_retry_after(exc.response.headers.get("Retry-After"))
                    log.warning("%s handshake refused: HTTP %d", self.protocol.feed, status)
                else:
                    refusals = self._refused(
                        refusals, self.protocol.url_setting, f"handshake answered HTTP {status}"
                    )
            except (
                OSError,
                TimeoutError,
                websockets.ConnectionClosed,
                websockets.InvalidHandshake,
                websockets.InvalidURI,
            ) as exc:
                if isinstance(exc, websockets.ConnectionClosed):
                    note_refused_frame(exc, self.metrics)
                log.warning("%s connection lost: %s", self.protocol.feed, type(exc).__name__)
            if self.stop.is_set():
                break
            if self._subscribed_at is not None:
                refusals = refusals if refused else 0  # a session ended otherwise: URLs work
                attempt = self.backoff.attempt_after(attempt, loop.time() - self._subscribed_at)
            delay = self.backoff.delay(attempt, slow, retry_after)
            self.metrics.set_state("backing_off")
            log.info("%s reconnecting in %.2fs (retry %d)", self.protocol.feed, delay, attempt)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)
        self.metrics.set_state("stopped")

    def _refused(self, refusals: int, setting: str, reason: str) -> int:
        """Count an answer that will not change on retry (a wrong URL, most likely); stop after
        `refused_attempts` of them with no established session between (other failures, e.g. a
        503 from a load balancer, neither count nor reset the count)."""
        refusals += 1
        log.warning(
            "%s: %s (%d of %d before stopping)",
            self.protocol.feed,
            reason,
            refusals,
            self.refused_attempts,
        )
        if refusals >= self.refused_attempts:
            self.metrics.set_state("stopped")
            raise FatalSessionError(
                f"{self.protocol.feed}: {reason} ({refusals} refusals with no session between);"
                f" check {setting}"
            )
        return refusals

    async def _one_session(self) -> None:
        self.metrics.set_state("connecting")
        session = Connection(connection_id=str(uuid.uuid4()), resumed=self.sessions > 0)
        async with connect(
            self.protocol.url(),
            open_timeout=self.handshake_timeout_s,
            close_timeout=2,
            max_size=self.protocol.max_frame_bytes,
            **self.protocol.connect_options(),
        ) as ws:
            await asyncio.wait_for(self.protocol.handshake(ws, session), self.handshake_timeout_s)
            if self.sessions:
                self.metrics.reconnects.labels(self.protocol.feed).inc()
            self.sessions += 1
            self._subscribed_at = asyncio.get_running_loop().time()
            self.protocol.open_gap(session)
            self.metrics.set_state("subscribed")
            log.info(
                "%s subscribed (subscription %s, connection %s)",
                self.protocol.feed,
                session.subscription_id,
                session.connection_id,
            )
            await self._stream(ws, session)

    async def _stream(self, ws: ClientConnection, session: Connection) -> None:
        """Read the socket while the gap is closed from REST: a connection left unread during a
        long resync would be dropped by the server as a slow consumer, and resync again."""
        reader = asyncio.create_task(self._read(ws, session))
        keepalive = asyncio.create_task(self.protocol.keepalive(ws))
        stopper = asyncio.create_task(self.stop.wait())
        resync = asyncio.create_task(self._resync(session))
        tasks = {reader, keepalive, stopper, resync}
        try:
            running = set(tasks)
            while running:
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not stopper:
                        task.result()  # surfaces the session's end: closed, dead, fatal
                if done != {resync}:
                    return
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _resync(self, session: Connection) -> None:
        await self.protocol.resync(session)
        self.metrics.set_state("streaming")
        log.info("%s in sync (connection %s)", self.protocol.feed, session.connection_id)

    async def _read(self, ws: ClientConnection, session: Connection) -> None:
        """Hand every frame to the protocol; a connection silent for the liveness timeout is
        dead. The silence is watched beside the reads rather than with a timeout around each
        `recv` (a timer scheduled and cancelled per frame is a tenth of the frame's cost)."""
        timeout = self.protocol.liveness_timeout_s
        if timeout is None:
            while True:
                await self.protocol.handle(await ws.recv(), session)
        loop = asyncio.get_running_loop()
        # when the pending `recv` began; None while a frame is handled (backpressure from Kafka
        # may hold it for long: that is not the provider's silence)
        waiting_since: list[float | None] = [loop.time()]

        async def read() -> None:
            while True:
                raw = await ws.recv()
                waiting_since[0] = None
                await self.protocol.handle(raw, session)
                waiting_since[0] = loop.time()

        async def watch() -> None:
            while True:
                since = waiting_since[0]
                silent = 0.0 if since is None else loop.time() - since
                if silent >= timeout:
                    raise DeadConnection(f"no frame within {timeout:.0f}s")
                await asyncio.sleep(timeout - silent)

        tasks = [asyncio.create_task(read()), asyncio.create_task(watch())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
