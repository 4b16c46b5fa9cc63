"""The simulated MM API: `/ws/subscribe` WebSocket and the `/api/v1` REST side, one port.

Protocol as in `specs/mmapi-websocket.txt` and `specs/NOTES.md`; the shapes the specs leave
open (pong, heartbeat, unsubscribe, REST list envelopes) are documented in PROTOCOL.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from mmstream.simulators.config import ScenarioConfig
from mmstream.simulators.connection import Connection
from mmstream.simulators.rest import RateLimiter, TimeOrderedRows, int_param, json_error
from mmstream.simulators.scenario import DEFAULT_CLIENT, OTHER_CLIENT

log = logging.getLogger(__name__)
CLIENT_CHANNELS = frozenset({"orders", "bets", "accounts"})
GLOBAL_CHANNELS = frozenset({"scores", "emergency"})
CHANNELS = CLIENT_CHANNELS | GLOBAL_CHANNELS


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class Subscriber:
    """A connection that has subscribed: its key's client and its channels."""

    def __init__(self, connection: Connection, client: str, key: str) -> None:
        self.connection = connection
        self.client = client
        self.key = key
        self.channels: frozenset[str] = frozenset()
        self.subscription_id: int | None = None


def bad_frame(kind: str) -> str | None:
    """The MM API's bad frames for fault injection."""
    if kind == "malformed":
        return '{"type": "broadcast", "channel": "orders", "payload": {"orderId": 1'
    if kind == "unknown_channel":
        return json.dumps(
            {"type": "broadcast", "channel": "positions", "event": "UPDATE", "payload": {}}
        )
    if kind == "unknown_type":
        return json.dumps({"type": "maintenance", "message": "scheduled"})
    if kind == "wrong_type":
        return json.dumps(
            {
                "type": "broadcast",
                "channel": "orders",
                "event": "UPDATE",
                "payload": {"orderId": "not-a-number", "matchedStake": "lots"},
            }
        )
    return None


class MmapiServer:
    """State, connections and routes of the simulated MM API."""

    def __init__(self, config: ScenarioConfig, counters: Counter[str]) -> None:
        self.config = config
        self.counters = counters
        self.clients = {config.default_api_key: DEFAULT_CLIENT, config.other_api_key: OTHER_CLIENT}
        self.inactive = {config.inactive_api_key}
        self.subscribers: list[Subscriber] = []
        self.subscribed = asyncio.Event()  # set at the first subscription
        self.next_subscription = 1
        self.connection_rng = random.Random(config.seed * 31 + 1)
        self.rate_limiter = RateLimiter(config.rest_rate_limit_per_min)
        self.orders = TimeOrderedRows("orderId")
        self.bets = TimeOrderedRows("betId")
        self.emergency: dict[str, Any] = {"emergency": False}
        self.connections: set[Connection] = set()

    # --- world ---------------------------------------------------------------------------------

    def publish(self, channel: str, client: str | None, text: str, payload: dict[str, Any]) -> None:
        """Record the new state (for REST) and broadcast `text` to the subscribers."""
        if channel == "orders":
            self.orders.put(payload)
        elif channel == "bets":
            self.bets.put(payload)
        elif channel == "emergency":
            self.emergency = payload
        for subscriber in self.subscribers:
            if channel not in subscriber.channels:
                continue
            if channel in CLIENT_CHANNELS and subscriber.client != client:
                continue
            subscriber.connection.send(text)

    # --- WebSocket -----------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        if not ws.can_prepare(request).ok:
            return json_error(426, {"detail": "Upgrade Required: use a WebSocket client"})
        await ws.prepare(request)
        connection = Connection.with_faults(
            ws, self.config.faults, self.connection_rng, self.counters, bad_frame
        )
        self.connections.add(connection)
        self.counters["mmapi_connections"] += 1
        subscriber: Subscriber | None = None
        heartbeat: asyncio.Task[None] | None = None
        try:
            subscriber = await self._authenticate(ws, connection)
            if subscriber is not None:
                heartbeat = asyncio.create_task(self._heartbeats(connection))
                await self._serve(ws, connection, subscriber)
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
            if subscriber is not None and subscriber in self.subscribers:
                self.subscribers.remove(subscriber)
            self.connections.discard(connection)
            await connection.close()
        return ws

    def _reply(self, connection: Connection, body: dict[str, Any]) -> None:
        connection.send(json.dumps(body), faults=False)

    async def _reject(self, ws: web.WebSocketResponse, connection: Connection, error: str) -> None:
        self.counters[f"mmapi_error:{error}"] += 1
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(json.dumps({"type": "error", "message": error}))
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=error.encode())

    async def _authenticate(
        self, ws: web.WebSocketResponse, connection: Connection
    ) -> Subscriber | None:
        """Wait for a valid subscribe within the auth timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.auth_timeout_s
        while True:
            try:
                message = await asyncio.wait_for(ws.receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                self.counters["mmapi_auth_timeouts"] += 1
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"Auth timeout")
                return None
            if message.type != WSMsgType.TEXT:
                return None
            try:
                body = json.loads(message.data)
            except json.JSONDecodeError:
                self._reply(connection, {"type": "error", "message": "Invalid JSON"})
                continue
            if body.get("type") == "ping":
                self._reply(connection, {"type": "pong", "timestamp": now_iso()})
                continue
            if body.get("type") != "subscribe":
                self._reply(connection, {"type": "error", "message": "Subscribe first"})
                continue
            return await self._subscribe(ws, connection, body)

    async def _subscribe(
        self, ws: web.WebSocketResponse, connection: Connection, body: dict[str, Any]
    ) -> Subscriber | None:
        key = body.get("apiKey")
        if not key:
            await self._reject(ws, connection, "apiKey required")
            return None
        if not isinstance(key, str) or not is_uuid(key):
            await self._reject(ws, connection, "Invalid apiKey format")
            return None
        if key in self.inactive or key not in self.clients:
            await self._reject(ws, connection, "Invalid API key")
            return None
        if sum(1 for s in self.subscribers if s.key == key) >= self.config.max_connections_per_key:
            await self._reject(ws, connection, "Connection limit exceeded")
            return None
        subscriber = Subscriber(connection, self.clients[key], key)
        self._activate(subscriber, body.get("channels"))
        self.subscribers.append(subscriber)
        self.subscribed.set()
        return subscriber

    def _activate(self, subscriber: Subscriber, channels: object) -> None:
        wanted = channels if isinstance(channels, list) else sorted(CHANNELS)
        subscriber.channels = frozenset(c for c in wanted if c in CHANNELS)
        subscriber.subscription_id = self.next_subscription
        self.next_subscription += 1
        self._reply(
            subscriber.connection,
            {
                "type": "subscribed",
                "subscriptionId": subscriber.subscription_id,
                "channels": [c for c in wanted if c in CHANNELS],
            },
        )

    async def _serve(
        self, ws: web.WebSocketResponse, connection: Connection, subscriber: Subscriber
    ) -> None:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                body = json.loads(message.data)
            except json.JSONDecodeError:
                self._reply(connection, {"type": "error", "message": "Invalid JSON"})
                continue
            kind = body.get("type")
            if kind == "ping":
                self._reply(connection, {"type": "pong", "timestamp": now_iso()})
            elif kind == "unsubscribe":
                self._reply(
                    connection,
                    {"type": "unsubscribed", "subscriptionId": subscriber.subscription_id},
                )
                subscriber.channels = frozenset()
            elif kind == "subscribe":
                self._activate(subscriber, body.get("channels"))
            else:
                self._reply(connection, {"type": "error", "message": f"Unknown type: {kind}"})

    async def _heartbeats(self, connection: Connection) -> None:
        while self.config.faults.heartbeats:
            await asyncio.sleep(self.config.heartbeat_interval_s)
            self._reply(connection, {"type": "heartbeat", "timestamp": now_iso()})

    def drop_connections(self) -> None:
        """Abruptly cut every WebSocket connection (no close frame)."""
        for connection in list(self.connections):
            connection.abort()

    # --- REST ----------------------------------------------------------------------------------

    def _authorize(self, request: web.Request) -> str | web.Response:
        key = request.headers.get("X-API-Key", "")
        if not key:
            return json_error(401, {"detail": "Missing API key"})
        if not is_uuid(key):
            return json_error(401, {"detail": "Invalid API key format"})
        if key not in self.clients:
            return json_error(401, {"detail": "Invalid API key"})
        if not self.rate_limiter.allow(key):
            self.counters["mmapi_rest_429"] += 1
            return json_error(429, {"detail": "Rate limit exceeded"}, **{"Retry-After": "1"})
        self.counters["mmapi_rest_requests"] += 1
        return self.clients[key]

    def _listing(
        self, request: web.Request, rows: TimeOrderedRows, status_field: str
    ) -> web.Response:
        client = self._authorize(request)
        if isinstance(client, web.Response):
            return client
        try:
            since = parse_time(request.query.get("fromDate"))
            until = parse_time(request.query.get("toDate"))
        except ValueError as exc:
            return json_error(422, {"detail": str(exc)})
        statuses = {s for s in request.query.get("status", "").split(",") if s}
        fixture = request.query.get("fixtureId")
        page = int_param(request, "page", 1, 1, 1_000_000)
        size = int_param(request, "pageSize", 100, 1, 2000)
        selected = [
            row
            for row in rows.between(since, until)
            if row.get("client") == client
            and (not statuses or row.get(status_field) in statuses)
            and (fixture is None or row.get("fixtureId") == fixture)
        ]
        total = len(selected)
        chunk = selected[(page - 1) * size : page * size]
        return web.json_response(
            {
                "data": chunk,
                "pagination": {
                    "page": page,
                    "pageSize": size,
                    "total": total,
                    "totalPages": (total + size - 1) // size,
                },
            }
        )

    async def list_orders(self, request: web.Request) -> web.Response:
        return self._listing(request, self.orders, "orderStatus")

    async def list_bets(self, request: web.Request) -> web.Response:
        return self._listing(request, self.bets, "betStatus")

    async def trading_status(self, request: web.Request) -> web.Response:
        client = self._authorize(request)
        if isinstance(client, web.Response):
            return client
        emergency = bool(self.emergency.get("emergency"))
        return web.json_response(
            {
                "client": client,
                "clientName": client,
                "oddsFormat": "decimal",
                "status": "emergency" if emergency else "live",
                "tradingActive": not emergency,
                "manualPaused": False,
                "manualStopped": False,
                "systemTradingBlocked": emergency,
                "emergencyActive": emergency,
                "systemStopped": False,
                "softPaused": False,
            }
        )

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/ws/subscribe", self.websocket),
            web.get("/api/v1/orders", self.list_orders),
            web.get("/api/v1/bets", self.list_bets),
            web.get("/api/v1/trading/status", self.trading_status),
        ]


def parse_time(value: str | None) -> str | None:
    """Validate an ISO 8601 time and return it in the feed's own sortable text form."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"invalid date: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
