"""The session loop's retry policy against a real WebSocket server on 127.0.0.1: back-off grows
over failed attempts and starts again at the base delay after a session that streamed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from connectors.backoff import Backoff
from connectors.errors import EndpointRefused, FatalSessionError
from connectors.metrics import ConnectorMetrics
from connectors.publisher import Connection
from connectors.session import FeedProtocol, SessionLoop

BASE_S, CAP_S = 0.02, 0.2
RETRY = re.compile(r"reconnecting in ([0-9.]+)s \(retry (\d+)\)")


class Script:
    """What the server does with each connection, in order: "busy" (HTTP 503), "missing"
    (HTTP 404), "short" (subscribe, close at once), "healthy" (stream frames for longer than
    the cap, then close), "last" (subscribe; the test stops the loop)."""

    def __init__(self, *plan: str) -> None:
        self.plan = list(plan)
        self.index = 0
        self.last_subscribed = asyncio.Event()

    def current(self) -> str:
        return self.plan[min(self.index, len(self.plan) - 1)]

    def refuse(self, connection: ServerConnection, request: Request) -> Response | None:
        kind = self.current()
        if kind in ("busy", "missing"):
            self.index += 1
            return connection.respond(503 if kind == "busy" else 404, f"{kind}\n")
        return None

    async def handler(self, connection: ServerConnection) -> None:
        kind = self.current()
        self.index += 1
        await connection.recv()  # the client's subscribe
        await connection.send("subscribed")
        if kind == "healthy":
            end = asyncio.get_running_loop().time() + 1.5 * CAP_S
            while asyncio.get_running_loop().time() < end:
                await connection.send("frame")
                await asyncio.sleep(0.01)
        elif kind == "last":
            self.last_subscribed.set()
            await connection.wait_closed()


class Echo(FeedProtocol):
    feed = "test"
    url_setting = "TEST_WS_URL"

    def __init__(self, url: str, rest_status: int | None = None) -> None:
        self._url = url
        self.rest_status = rest_status  # what the (imagined) REST endpoint of resync answers
        self.frames = 0

    def url(self) -> str:
        return self._url

    async def handshake(self, ws: ClientConnection, session: Connection) -> None:
        await ws.send("subscribe")
        session.subscription_id = str(await ws.recv())

    async def resync(self, session: Connection) -> None:
        if self.rest_status is not None:
            status = self.rest_status
            raise EndpointRefused(f"HTTP {status}; check TEST_REST_URL", status, "TEST_REST_URL")

    async def handle(self, raw: str | bytes, session: Connection) -> None:  # type: ignore[override]
        self.frames += 1

    async def close(self) -> None:
        return


@pytest.fixture
async def server() -> AsyncIterator[Any]:
    servers: list[Server] = []

    async def start(script: Script) -> str:
        server = await serve(
            script.handler, "127.0.0.1", 0, process_request=script.refuse, ping_interval=None
        )
        servers.append(server)
        port = next(iter(server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/feed"

    yield start
    for s in servers:
        s.close()
        await s.wait_closed()


def retries(caplog: pytest.LogCaptureFixture) -> list[tuple[int, float]]:
    found = [RETRY.search(r.getMessage()) for r in caplog.records]
    return [(int(m.group(2)), float(m.group(1))) for m in found if m]


async def test_backoff_resets_after_a_healthy_session(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="connectors.session")
    script = Script("busy", "busy", "busy", "short", "busy", "healthy", "last")
    protocol = Echo(await server(script))
    stop = asyncio.Event()
    loop = SessionLoop(protocol, ConnectorMetrics("test"), Backoff(BASE_S, CAP_S), stop, 5.0)
    running = asyncio.create_task(loop.run())
    await asyncio.wait_for(script.last_subscribed.wait(), 30)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert protocol.frames > 0, "the healthy session streamed"
    numbers = [n for n, _ in retries(caplog)]
    # three refusals, a session closed at once (not healthy: keeps growing), one more refusal,
    # then the healthy session: the wait after it is the base delay's again
    assert numbers == [0, 1, 2, 3, 4, 0]
    after_healthy = retries(caplog)[-1][1]
    assert after_healthy <= BASE_S


async def test_an_endpoint_that_keeps_answering_404_stops_the_loop_naming_the_setting(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script("missing", "busy", "missing", "missing", "missing", "last")
    protocol = Echo(await server(script))
    loop = SessionLoop(
        protocol, ConnectorMetrics("test"), Backoff(BASE_S, CAP_S), asyncio.Event(), 5.0, 3
    )
    with pytest.raises(FatalSessionError, match=r"HTTP 404 \(3 refusals .*\); check TEST_WS_URL"):
        await asyncio.wait_for(loop.run(), 30)
    assert script.index == 4, "the 503 between neither counts nor resets: stopped at the 3rd 404"


async def test_a_session_between_refusals_resets_their_count(server: Any) -> None:
    script = Script("missing", "missing", "short", "missing", "missing", "last")
    protocol = Echo(await server(script))
    stop = asyncio.Event()
    loop = SessionLoop(protocol, ConnectorMetrics("test"), Backoff(BASE_S, CAP_S), stop, 5.0, 3)
    running = asyncio.create_task(loop.run())
    await asyncio.wait_for(script.last_subscribed.wait(), 30)
    stop.set()
    await asyncio.wait_for(running, 10)  # no FatalSessionError: never 3 refusals in a row


async def test_a_rest_endpoint_refusing_every_resync_stops_the_loop_naming_its_setting(
    server: Any,
) -> None:
    script = Script("last")  # the socket is fine; every session's gap fill gets a 404
    protocol = Echo(await server(script), rest_status=404)
    loop = SessionLoop(
        protocol, ConnectorMetrics("test"), Backoff(BASE_S, CAP_S), asyncio.Event(), 5.0, 3
    )
    with pytest.raises(FatalSessionError, match="check TEST_REST_URL"):
        await asyncio.wait_for(loop.run(), 30)
    assert script.index == 3, "three sessions, three refused gap fills"
