"""Endpoints as users write them: the documented Predexon URL form is accepted, a wrong URL stops
the connector (exit 3) naming the setting; REST follows the same retry policy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from connectors.backoff import Backoff
from connectors.errors import EndpointRefused, FatalSessionError, RetryableSessionError
from connectors.rest import RestClient
from mmstream.core.child_process import free_port
from tests.fixtures.simulators import quick_config
from tests.helpers.processes import Child, wait_for


async def test_a_wrong_websocket_url_stops_the_connector_naming_the_setting(
    simulators_factory: Any, run_connector: Callable[..., Child]
) -> None:
    sims = await simulators_factory(quick_config())
    wrong = f"{sims.predexon_ws_base_url}/v2/stream"  # the gateway answers 404 there
    connector = run_connector("predexon", sims, PREDEXON_WS_URL=wrong)
    assert await connector.wait(60) == 3
    assert "HTTP 404" in connector.output and "check PREDEXON_WS_URL" in connector.output
    assert sims.predexon_api_key not in connector.output


@pytest.mark.parametrize("form", ["placeholder", "key"])
async def test_the_documented_predexon_url_form_is_accepted(
    simulators_factory: Any, run_connector: Callable[..., Child], form: str
) -> None:
    sims = await simulators_factory(quick_config())
    key = sims.predexon_api_key
    if form == "placeholder":  # wss://wss.predexon.com/v1/<API_KEY>, key from PREDEXON_API_KEY
        connector = run_connector(
            "predexon", sims, PREDEXON_WS_URL=f"{sims.predexon_ws_base_url}/v1/<API_KEY>"
        )
    else:  # the key written into the URL, as the document shows it
        connector = run_connector(
            "predexon",
            sims,
            PREDEXON_WS_URL=f"{sims.predexon_ws_base_url}/v1/{key}",
            PREDEXON_API_KEY="",
        )
    await wait_for(lambda: "in sync" in connector.output, 30, "the connector to subscribe")
    assert await connector.stop() == 0
    assert key not in connector.output


class Provider:
    """A REST endpoint answering from a script of statuses, then 200."""

    def __init__(self, *statuses: int, retry_after: str | None = None) -> None:
        self.statuses = list(statuses)
        self.retry_after = retry_after
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.statuses:
            status = self.statuses.pop(0)
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.json_response({"error": "no"}, status=status, headers=headers)
        return web.json_response({"data": [], "page": request.query.get("page")})


@pytest.fixture
async def provider() -> AsyncIterator[Callable[[Provider], Any]]:
    runners: list[web.AppRunner] = []

    async def start(script: Provider) -> str:
        app = web.Application()
        app.router.add_get("/api/v1/orders", script.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


def client(url: str, attempts: int = 4) -> RestClient:
    return RestClient(url, {}, 60_000, Backoff(0.01, 0.05), attempts, "MMAPI_REST_URL")


async def test_rest_retries_429_and_5xx_then_answers(provider: Any) -> None:
    script = Provider(429, 503, retry_after="0.2")
    rest = client(await provider(script))
    loop_time = asyncio.get_running_loop().time
    started = loop_time()
    try:
        assert await rest.get("/api/v1/orders", {"page": 1}) == {"data": [], "page": "1"}
    finally:
        await rest.close()
    assert script.calls == 3
    assert loop_time() - started >= 0.4, "Retry-After (0.2 s) honoured on both retries"


async def test_rest_gives_up_after_its_attempts(provider: Any) -> None:
    script = Provider(*[503] * 10)
    rest = client(await provider(script), attempts=4)
    try:
        with pytest.raises(RetryableSessionError, match="no answer after 4 attempts"):
            await rest.get("/api/v1/orders", {})
    finally:
        await rest.close()
    assert script.calls == 4


@pytest.mark.parametrize("status", [404, 400])
async def test_rest_does_not_retry_an_answer_that_would_repeat(provider: Any, status: int) -> None:
    script = Provider(status)
    rest = client(await provider(script))
    try:
        with pytest.raises(EndpointRefused, match="check MMAPI_REST_URL") as refused:
            await rest.get("/api/v1/orders", {})
    finally:
        await rest.close()
    assert refused.value.status == status and script.calls == 1


async def test_rest_stops_on_a_refused_key(provider: Any) -> None:
    rest = client(await provider(Provider(401)))
    try:
        with pytest.raises(FatalSessionError, match="API key refused"):
            await rest.get("/api/v1/orders", {})
    finally:
        await rest.close()
