"""A feed source faster than any client: pre-encoded frames of both feeds, written as fast as
the socket takes them, so a connector bench measures the connector and not the simulator.

Each connection gets the feed's handshake (MM API `subscribe` → `subscribed`; Predexon
`connected` → `subscribe` → `ack`), then every frame once. The REST endpoints answer empty
lists, so gap fills and rehydration cost nothing. Frames are realistic in variety — MM API:
order inserts, fills with `old`, hedge bets with sentData/receivedData, accounts, scores, an
occasional emergency; Predexon: many games, each with rising sequence numbers — and distinct
enough that no frame is a repeat (nothing is dropped as a duplicate).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from websockets.asyncio.server import ServerConnection, serve

API_KEY = "8d7f6c2e-1b3a-4c5d-9e8f-0a1b2c3d4e5f"
EPOCH_MS = int(time.time() * 1000)
CHUNK = 64  # frames per write


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def mmapi_frames(count: int) -> list[str]:
    """`count` MM API broadcasts cycling through the channels, in time order."""
    frames: list[str] = []
    order = 0
    for i in range(count):
        at = iso(EPOCH_MS + i)
        kind = i % 10
        if kind in (0, 1, 2):  # a new order
            order += 1
            body: dict[str, Any] = {
                "channel": "orders",
                "event": "INSERT",
                "payload": {
                    "orderId": order,
                    "fixtureId": f"id{1000 + order % 50}",
                    "outcomeId": 161,
                    "exchange": "polymarket",
                    "exchangeOrderId": f"0x{order:08x}",
                    "orderStatus": "PLACED",
                    "matchedStatus": "NOT_MATCHED",
                    "orderCents": 0.45,
                    "orderStake": 100.0,
                    "matchedStake": 0.0,
                    "createdAt": at,
                },
            }
        elif kind in (3, 4, 5):  # its fill, with the previous values
            body = {
                "channel": "orders",
                "event": "UPDATE",
                "payload": {
                    "orderId": order,
                    "fixtureId": f"id{1000 + order % 50}",
                    "orderStatus": "FILLED",
                    "matchedStatus": "FULLY_MATCHED",
                    "orderStake": 100.0,
                    "matchedStake": 100.0 - kind,
                    "matchedAt": at,
                    "updatedAt": at,
                },
                "old": {"orderStatus": "PLACED", "matchedStatus": "NOT_MATCHED", "matchedStake": 0},
            }
        elif kind in (6, 7, 8):  # a hedge bet for it
            body = {
                "channel": "bets",
                "event": "INSERT",
                "payload": {
                    "betId": i,
                    "orderId": order,
                    "client": "desk",
                    "bookmaker": "vertex",
                    "placedPrice": 1.808,
                    "placedStake": 33.0,
                    "betStatus": "placed",
                    "sentData": {"requestId": f"r{i}", "eventId": 98765, "price": 1.808},
                    "receivedData": {"betId": str(i), "status": "U"},
                    "placedAt": at,
                },
            }
        elif i % 1000 == 9:
            body = {
                "channel": "emergency",
                "event": "UPDATE",
                "payload": {"emergency": i % 2000 == 9, "reason": "bench", "triggeredAt": at},
            }
        elif i % 20 == 9:
            body = {
                "channel": "accounts",
                "event": "UPDATE",
                "payload": {"accountId": i % 7, "balance": 1000.0 + i, "updatedAt": at},
            }
        else:
            body = {
                "channel": "scores",
                "event": "UPDATE",
                "payload": {
                    "fixtureId": f"id{1000 + i % 50}",
                    "live": True,
                    "statusId": 1,
                    "currentPeriod": "2nd Half",
                    "currentMinute": i % 90,
                    "scores": {"home": i % 5, "away": i % 3},
                    "updatedAt": at,
                },
            }
        frames.append(json.dumps({"type": "broadcast", **body}))
    return frames


def predexon_frames(count: int, games: int = 500) -> list[str]:
    """`count` Predexon events over `games` games, each game's sequence rising."""
    frames = []
    for i in range(count):
        game, step = i % games, i // games
        home, away = step % 7, step % 5
        frames.append(
            json.dumps(
                {
                    "type": "event",
                    "subscription_id": "sub_01",
                    "data": {
                        "event_type": "sports_live_state",
                        "sequence": step + 1,
                        "game_id": f"mlb-a{game:03d}-h{game:03d}-2026-12-01",
                        "league": "mlb",
                        "sport": "baseball",
                        "home_team": {"code": f"h{game:03d}", "name": "Home"},
                        "away_team": {"code": f"a{game:03d}", "name": "Away"},
                        "updated_at": iso(EPOCH_MS + i),
                        "status": "InProgress",
                        "live": True,
                        "ended": False,
                        "period": f"Top {1 + step % 9}",
                        "clock": None,
                        "score": {"home": home, "away": away, "display": f"{home}-{away}"},
                        "winner": None,
                        "reliability": {
                            "state": "single_source",
                            "source_count": 1,
                            "sources": ["polymarket"],
                            "conflict": False,
                            "stale": False,
                        },
                    },
                }
            )
        )
    return frames


@dataclass
class Firehose:
    ws_url: str  # MM API: the subscribe URL; Predexon: the base URL (the key goes in the path)
    rest_url: str
    sent: int = 0


def text_frame(text: str) -> bytes:
    """A server's unmasked, unfragmented WebSocket text frame (RFC 6455 §5.2), as
    `websockets` writes it with compression off."""
    data = text.encode()
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 1 << 16:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + data
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + data


async def _write_all(ws: ServerConnection, frames: list[str], source: Firehose) -> None:
    """Every frame, framed once and written in chunks of `CHUNK` frames straight to the
    transport (waiting on the connection's flow control between chunks): `ws.send` per frame
    costs the server about as much CPU as the client spends receiving, so it would be the
    ceiling of a bench that shares the machine's cores with the client and the broker."""
    framed = [text_frame(frame) for frame in frames]
    for start in range(0, len(framed), CHUNK):
        ws.transport.write(b"".join(framed[start : start + CHUNK]))
        source.sent += len(framed[start : start + CHUNK])
        await ws.drain()
    await ws.wait_closed()  # keep the session open: the client decides when it has enough


def mmapi_handler(frames: list[str], source: Firehose) -> Any:
    async def handle(ws: ServerConnection) -> None:
        subscribe = json.loads(await ws.recv())
        await ws.send(
            json.dumps(
                {"type": "subscribed", "subscriptionId": 1, "channels": subscribe["channels"]}
            )
        )
        await _write_all(ws, frames, source)

    return handle


def predexon_handler(frames: list[str], source: Firehose) -> Any:
    async def handle(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "connected", "message": "Connected"}))
        await ws.recv()
        await ws.send(json.dumps({"type": "ack", "subscription_id": "sub_01", "channel": "x"}))
        await _write_all(ws, frames, source)

    return handle


async def _empty_rest() -> tuple[web.AppRunner, str]:
    async def orders(_: web.Request) -> web.Response:
        return web.json_response([])

    async def live(_: web.Request) -> web.Response:
        return web.json_response({"live_states": [], "pagination": {"has_more": False}})

    app = web.Application()
    app.router.add_get("/api/v1/orders", orders)
    app.router.add_get("/api/v1/bets", orders)
    app.router.add_get("/v2/sports/live", live)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@asynccontextmanager
async def firehose(feed: str, frames: list[str]) -> AsyncIterator[Firehose]:
    """Serve `frames` of `feed` ("mmapi" or "predexon") to every connection on 127.0.0.1."""
    runner, rest_url = await _empty_rest()
    source = Firehose("", rest_url)
    handler = mmapi_handler if feed == "mmapi" else predexon_handler
    # max_size None: the frames are ours; compression off: as fast as the socket takes them
    async with serve(
        handler(frames, source), "127.0.0.1", 0, compression=None, max_size=None
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        base = f"ws://127.0.0.1:{port}"
        source.ws_url = f"{base}/ws/subscribe" if feed == "mmapi" else base
        try:
            yield source
        finally:
            await runner.cleanup()


def subscribe_message(feed: str) -> dict[str, Any]:
    if feed == "mmapi":
        return {
            "type": "subscribe",
            "apiKey": API_KEY,
            "channels": ["orders", "bets", "accounts", "scores", "emergency"],
        }
    return {
        "action": "subscribe",
        "platform": "predexon",
        "version": 1,
        "type": "sports_live",
        "filters": {"game_ids": ["*"]},
    }


def client_url(feed: str, source: Firehose) -> str:
    return source.ws_url if feed == "mmapi" else f"{source.ws_url}/v1/{API_KEY}"
