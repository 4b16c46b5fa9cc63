"""The simulators speak the documented protocols, checked with a plain `websockets` client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mmstream.simulators import FaultConfig
from tests.fixtures.simulators import quick_config

ALL = ["orders", "bets", "accounts", "scores", "emergency"]


async def connect(url: str) -> Any:
    # an unbounded client queue: tests read after the scenario, and a full queue would stop
    # the client from answering the server's pings
    return await websockets.connect(url, max_queue=None)


async def subscribe(url: str, key: str | None, channels: list[str] = ALL) -> Any:
    ws = await connect(url)
    body: dict[str, Any] = {"type": "subscribe", "channels": channels}
    if key is not None:
        body["apiKey"] = key
    await ws.send(json.dumps(body))
    return ws


async def recv_json(ws: Any, wait_s: float = 3.0) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), wait_s)))


async def drain(ws: Any, quiet_s: float = 0.8, deadline_s: float = 15.0) -> list[dict[str, Any]]:
    """Every message until none but heartbeats came for `quiet_s` (bounded by `deadline_s`)."""
    loop = asyncio.get_running_loop()
    messages: list[dict[str, Any]] = []
    end = loop.time() + deadline_s
    last_data = loop.time()
    try:
        while loop.time() < end and loop.time() - last_data < quiet_s:
            message = json.loads(await asyncio.wait_for(ws.recv(), quiet_s))
            messages.append(message)
            if message.get("type") not in ("heartbeat", "pong"):
                last_data = loop.time()
    except (TimeoutError, ConnectionClosed):
        pass
    return messages


@pytest.mark.parametrize(
    ("key", "error"),
    [
        (None, "apiKey required"),
        ("not-a-uuid", "Invalid apiKey format"),
        ("inactive", "Invalid API key"),
        ("unknown", "Invalid API key"),
    ],
)
async def test_mmapi_subscribe_errors(simulators_factory: Any, key: str | None, error: str) -> None:
    sims = await simulators_factory(quick_config())
    keys = {
        "inactive": sims.config.inactive_api_key,
        "unknown": "00000000-0000-4000-8000-000000000000",
    }
    ws = await subscribe(sims.mmapi_ws_url, keys.get(key or "", key))
    assert await recv_json(ws) == {"type": "error", "message": error}
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 3)


async def test_mmapi_connection_limit_and_auth_timeout(simulators_factory: Any) -> None:
    sims = await simulators_factory(quick_config())
    sockets = [await subscribe(sims.mmapi_ws_url, sims.mmapi_api_key) for _ in range(5)]
    for ws in sockets:
        assert (await recv_json(ws))["type"] == "subscribed"
    sixth = await subscribe(sims.mmapi_ws_url, sims.mmapi_api_key)
    assert await recv_json(sixth) == {"type": "error", "message": "Connection limit exceeded"}
    silent = await connect(sims.mmapi_ws_url)
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(silent.recv(), 3)
    assert closed.value.rcvd is not None and closed.value.rcvd.reason == "Auth timeout"
    for ws in sockets:
        await ws.close()


async def test_mmapi_subscribe_ping_heartbeat_unsubscribe(simulators_factory: Any) -> None:
    sims = await simulators_factory(quick_config(duration_s=30))
    ws = await subscribe(sims.mmapi_ws_url, sims.mmapi_api_key, ["scores"])
    confirmation = await recv_json(ws)
    assert confirmation["type"] == "subscribed" and confirmation["channels"] == ["scores"]
    assert isinstance(confirmation["subscriptionId"], int)
    await ws.send(json.dumps({"type": "ping"}))
    kinds = set()
    for _ in range(50):
        message = await recv_json(ws)
        kinds.add(message["type"])
        if message["type"] == "broadcast":
            assert message["channel"] == "scores"
        if {"pong", "heartbeat"} <= kinds:
            break
    assert {"pong", "heartbeat"} <= kinds
    await ws.send(json.dumps({"type": "unsubscribe"}))
    after = await drain(ws, 0.5)
    unsubscribed = [m for m in after if m["type"] == "unsubscribed"]
    assert unsubscribed
    tail = after[after.index(unsubscribed[0]) + 1 :]
    assert not [m for m in tail if m["type"] == "broadcast"], "no broadcast after unsubscribe"
    await ws.close()


async def test_mmapi_client_filtering_and_change_shapes(simulators_factory: Any) -> None:
    sims = await simulators_factory(quick_config())
    mine = await subscribe(sims.mmapi_ws_url, sims.mmapi_api_key)
    other = await subscribe(sims.mmapi_ws_url, sims.config.other_api_key)
    await recv_json(mine)
    await recv_json(other)
    await sims.wait_finished(10)
    mine_messages = [m for m in await drain(mine) if m["type"] == "broadcast"]
    other_messages = [m for m in await drain(other) if m["type"] == "broadcast"]
    clients = {m["payload"]["client"] for m in mine_messages if m["channel"] in ("orders", "bets")}
    assert clients == {"desk-alpha"}
    other_clients = {
        m["payload"]["client"] for m in other_messages if m["channel"] in ("orders", "bets")
    }
    assert other_clients <= {"desk-beta"}
    scores = [m for m in mine_messages if m["channel"] == "scores"]
    assert scores and len(scores) == len([m for m in other_messages if m["channel"] == "scores"])
    inserts = [m for m in mine_messages if m["event"] == "INSERT"]
    updates = [m for m in mine_messages if m["channel"] == "orders" and m["event"] == "UPDATE"]
    assert inserts and all("old" not in m for m in inserts)
    for update in updates:
        assert update["old"], "UPDATE carries the previous values"
        for field, previous in update["old"].items():
            assert update["payload"][field] != previous, "old holds changed fields only"
    await mine.close()
    await other.close()


async def test_mmapi_rest_serves_the_broadcast_state(simulators_factory: Any) -> None:
    sims = await simulators_factory(quick_config(rest_rate_limit_per_min=5))
    await sims.wait_finished(10)
    async with aiohttp.ClientSession() as http:
        headers = {"X-API-Key": sims.mmapi_api_key}
        url = f"{sims.mmapi_rest_url}/api/v1/orders"
        async with http.get(url, params={"pageSize": 5}, headers=headers) as response:
            body = await response.json()
            assert response.status == 200 and len(body["data"]) == 5
            assert body["pagination"]["total"] == len(sims.truth.client_orders())
        async with http.get(url, headers={"X-API-Key": "bad"}) as response:
            assert response.status == 401 and "detail" in await response.json()
        async with http.get(url, params={"fromDate": "nope"}, headers=headers) as response:
            assert response.status == 422
        async with http.get(
            f"{sims.mmapi_rest_url}/api/v1/trading/status", headers=headers
        ) as response:
            assert (await response.json())["emergencyActive"] is False
        statuses = []
        for _ in range(3):
            async with http.get(url, headers=headers) as response:
                statuses.append(response.status)
        assert statuses[-1] == 429


async def test_predexon_protocol(simulators_factory: Any) -> None:
    sims = await simulators_factory(quick_config())
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(f"{sims.predexon_ws_base_url}/v1/wrong-key")
    assert refused.value.response.status_code == 401
    ws = await connect(f"{sims.predexon_ws_base_url}/v1/{sims.predexon_api_key}")
    assert (await recv_json(ws))["type"] == "connected"
    await ws.send(
        json.dumps(
            {
                "action": "subscribe",
                "platform": "predexon",
                "version": 1,
                "type": "sports_live",
                "filters": {"leagues": ["nba"], "sports": ["soccer"]},
            }
        )
    )
    error = await recv_json(ws)
    assert (error["type"], error["code"]) == ("error", "INVALID_FILTERS")
    await ws.send(
        json.dumps(
            {
                "action": "subscribe",
                "platform": "predexon",
                "version": 1,
                "type": "sports_live",
                "filters": {"leagues": ["nba"]},
            }
        )
    )
    ack = await recv_json(ws)
    assert ack["type"] == "ack" and ack["channel"] == "sports_live"
    await sims.wait_finished(10)
    events = [m for m in await drain(ws) if m["type"] == "event"]
    assert events and {e["data"]["league"] for e in events} == {"nba"}
    assert all(e["subscription_id"] == ack["subscription_id"] for e in events)
    by_game: dict[str, list[int]] = {}
    for event in events:
        by_game.setdefault(event["data"]["game_id"], []).append(event["data"]["sequence"])
    assert all(seq == sorted(seq) for seq in by_game.values())
    await ws.send(json.dumps({"action": "unsubscribe", "subscription_id": ack["subscription_id"]}))
    assert (await recv_json(ws))["type"] == "unsubscribed"
    await ws.close()


async def test_predexon_rest_paginates_every_game(simulators_factory: Any) -> None:
    sims = await simulators_factory(quick_config(games=7))
    await sims.wait_finished(10)
    seen, cursor, pages = [], None, 0
    async with aiohttp.ClientSession() as http:
        headers = {"x-api-key": sims.predexon_api_key}
        while True:
            params = {"limit": 3, **({"pagination_key": cursor} if cursor else {})}
            async with http.get(
                f"{sims.predexon_rest_url}/v2/sports/live", params=params, headers=headers
            ) as response:
                body = await response.json()
            pages += 1
            seen += [row["game_id"] for row in body["live_states"]]
            cursor = body["pagination"]["pagination_key"]
            if not body["pagination"]["has_more"]:
                break
        async with http.get(f"{sims.predexon_rest_url}/v2/sports/live") as response:
            assert response.status == 401
    assert pages == 3 and sorted(seen) == sorted(sims.truth.games)


async def test_same_seed_gives_the_same_stream(simulators_factory: Any) -> None:
    streams = []
    for _ in range(2):
        # played once subscribed: a subscription racing the first messages is not the point
        sims = await simulators_factory(quick_config(duration_s=2), autoplay=False)
        ws = await subscribe(sims.mmapi_ws_url, sims.mmapi_api_key)
        await recv_json(ws)
        sims.play()
        await sims.wait_finished(10)
        streams.append([m for m in await drain(ws, 0.5) if m["type"] == "broadcast"])
        await ws.close()
    assert streams[0] and streams[0] == streams[1]


async def test_fault_switches_reach_the_client(simulators_factory: Any) -> None:
    faults = FaultConfig(
        duplicate_p=0.05,
        malformed_p=0.05,
        unknown_channel_p=0.05,
        unknown_type_p=0.05,
        wrong_type_p=0.05,
        heartbeats=False,
    )
    sims = await simulators_factory(quick_config(faults=faults))
    ws = await subscribe(sims.mmapi_ws_url, sims.mmapi_api_key)
    await recv_json(ws)
    await sims.wait_finished(10)
    raw: list[str] = []
    try:
        while True:
            raw.append(await asyncio.wait_for(ws.recv(), 0.8))
    except TimeoutError:
        pass
    parsed = []
    malformed = 0
    for text in raw:
        try:
            parsed.append(json.loads(text))
        except json.JSONDecodeError:
            malformed += 1
    counts = sims.counters
    assert malformed == counts["malformed"] > 0
    assert sum(m.get("channel") == "positions" for m in parsed) == counts["unknown_channel"] > 0
    assert sum(m.get("type") == "maintenance" for m in parsed) == counts["unknown_type"] > 0
    assert not [m for m in parsed if m.get("type") == "heartbeat"], "heartbeats switched off"
    texts = [t for t in raw if '"broadcast"' in t]
    assert len(texts) - len(set(texts)) >= counts["duplicated"] > 0
    await ws.close()


async def test_disconnect_and_restart_faults_cut_connections(simulators_factory: Any) -> None:
    sims = await simulators_factory(quick_config(faults=FaultConfig(disconnect_every=20)))
    ws = await subscribe(sims.mmapi_ws_url, sims.mmapi_api_key)
    await recv_json(ws)
    received = 0
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 5)
            received += 1
    assert received == 19 and sims.counters["disconnects"] == 1
    await sims.restart_servers(0.1)
    again = await subscribe(sims.mmapi_ws_url, sims.mmapi_api_key)
    assert (await recv_json(again))["type"] == "subscribed"
    await again.close()
