"""The simulated Predexon gateway: `/v1/<KEY>` WebSocket and REST `/v2/sports/live`, one port.

Protocol as in `specs/predexon-sports-live.txt` and `specs/NOTES.md`; choices where they are
silent are documented in PROTOCOL.md.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from mmstream.simulators.config import ScenarioConfig
from mmstream.simulators.connection import Connection
from mmstream.simulators.rest import RateLimiter, int_param, json_error

log = logging.getLogger(__name__)
FILTER_KINDS = ("game_ids", "leagues", "sports")
INVALID_FILTERS = "Sports live subscriptions require exactly one of game_ids, leagues, or sports"
REST_ONLY_FIELDS = ("title", "game_date", "participants", "status_text", "sources")


@dataclass
class Subscription:
    subscription_id: str
    kind: str
    values: frozenset[str]

    def matches(self, state: dict[str, Any]) -> bool:
        if self.kind == "game_ids":
            return "*" in self.values or state.get("game_id") in self.values
        field = "league" if self.kind == "leagues" else "sport"
        return state.get(field) in self.values


def bad_frame(kind: str) -> str | None:
    if kind == "malformed":
        return '{"type": "event", "data": {"game_id": "x'
    if kind == "unknown_type":
        return json.dumps({"type": "maintenance", "message": "gateway upgrade"})
    if kind == "wrong_type":
        return json.dumps(
            {
                "type": "event",
                "subscription_id": "sub_00",
                "data": {"event_type": "sports_live_state", "game_id": 42, "sequence": "x"},
            }
        )
    if kind == "unknown_channel":
        return json.dumps({"type": "event", "data": {"event_type": "fifa_world_cup_state"}})
    return None


class PredexonServer:
    """State, connections and routes of the simulated Predexon gateway."""

    def __init__(self, config: ScenarioConfig, counters: Counter[str]) -> None:
        self.config = config
        self.counters = counters
        self.key = config.predexon_key
        self.states: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[Connection, list[Subscription]] = {}
        self.subscribed = asyncio.Event()  # set at the first subscription
        self.next_subscription = 1
        self.connection_rng = random.Random(config.seed * 31 + 2)
        self.rate_limiter = RateLimiter(config.rest_rate_limit_per_min)

    def publish(self, state: dict[str, Any]) -> None:
        """Record a game's new state (for REST) and send it to matching subscriptions."""
        game_id = str(state["game_id"])
        self.states[game_id] = state
        for connection, subscriptions in self.subscriptions.items():
            for subscription in subscriptions:
                if subscription.matches(state):
                    message = {
                        "type": "event",
                        "subscription_id": subscription.subscription_id,
                        "data": state,
                    }
                    connection.send(json.dumps(message))

    def forget_ended_before(self, cutoff: str) -> None:
        """Drop the states of games that ended before `cutoff` (ISO text): REST lists the
        games of the recent past, not every game ever played."""
        for game_id in [
            g for g, state in self.states.items() if state["ended"] and state["updated_at"] < cutoff
        ]:
            del self.states[game_id]

    # --- WebSocket -----------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["key"] != self.key:
            self.counters["predexon_rejected_keys"] += 1
            return json_error(401, {"error": "Unauthorized", "message": "Invalid API key"})
        heartbeat = self.config.predexon_ping_interval_s if self.config.faults.heartbeats else None
        ws = web.WebSocketResponse(heartbeat=heartbeat, autoping=True)
        await ws.prepare(request)
        connection = Connection.with_faults(
            ws, self.config.faults, self.connection_rng, self.counters, bad_frame
        )
        self.subscriptions[connection] = []
        self.counters["predexon_connections"] += 1
        self._reply(connection, {"type": "connected", "message": "Connected to Predexon WebSocket"})
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._handle(connection, message.data)
        finally:
            self.subscriptions.pop(connection, None)
            await connection.close()
        return ws

    def _reply(self, connection: Connection, body: dict[str, Any]) -> None:
        connection.send(json.dumps(body), faults=False)

    def _error(self, connection: Connection, code: str, message: str) -> None:
        self.counters[f"predexon_error:{code}"] += 1
        self._reply(connection, {"type": "error", "code": code, "message": message})

    def _handle(self, connection: Connection, text: str) -> None:
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            self._error(connection, "INVALID_MESSAGE", "Message is not valid JSON")
            return
        action = body.get("action")
        if action == "subscribe":
            self._subscribe(connection, body)
        elif action == "unsubscribe":
            wanted = body.get("subscription_id")
            subscriptions = self.subscriptions.get(connection, [])
            kept = [s for s in subscriptions if s.subscription_id != wanted]
            if len(kept) == len(subscriptions):
                self._error(connection, "UNKNOWN_SUBSCRIPTION", f"No subscription {wanted}")
                return
            self.subscriptions[connection] = kept
            self._reply(connection, {"type": "unsubscribed", "subscription_id": wanted})
        else:
            self._error(connection, "INVALID_ACTION", f"Unknown action: {action}")

    def _subscribe(self, connection: Connection, body: dict[str, Any]) -> None:
        if body.get("type") != "sports_live":
            self._error(connection, "INVALID_TYPE", f"Unsupported type: {body.get('type')}")
            return
        filters = body.get("filters") or {}
        given = [k for k in FILTER_KINDS if filters.get(k)]
        if len(given) != 1 or not isinstance(filters[given[0]], list):
            self._error(connection, "INVALID_FILTERS", INVALID_FILTERS)
            return
        subscription = Subscription(
            f"sub_{self.next_subscription:02d}",
            given[0],
            frozenset(str(v) for v in filters[given[0]]),
        )
        self.next_subscription += 1
        self.subscriptions[connection].append(subscription)
        self.subscribed.set()
        self._reply(
            connection,
            {
                "type": "ack",
                "subscription_id": subscription.subscription_id,
                "channel": "sports_live",
            },
        )

    def drop_connections(self) -> None:
        for connection in list(self.subscriptions):
            connection.abort()

    # --- REST ----------------------------------------------------------------------------------

    async def sports_live(self, request: web.Request) -> web.Response:
        if request.headers.get("x-api-key") != self.key:
            return json_error(401, {"error": "Unauthorized", "message": "Invalid API key"})
        if not self.rate_limiter.allow(self.key):
            return json_error(429, {"error": "Too Many Requests"}, **{"Retry-After": "1"})
        self.counters["predexon_rest_requests"] += 1
        limit = int_param(request, "limit", 50, 1, 200)
        offset = decode_cursor(request.query.get("pagination_key"))
        if offset is None:
            return json_error(400, {"error": "Bad Request", "message": "invalid pagination_key"})
        q = request.query
        rows = [
            rest_row(state)
            for game_id, state in sorted(self.states.items())
            if (not q.get("sport") or state.get("sport") == q["sport"])
            and (not q.get("league") or state.get("league") == q["league"])
            and (not q.get("game_date") or game_id.endswith(q["game_date"]))
            and (q.get("live_only", "false") != "true" or state.get("live"))
        ]
        page = rows[offset : offset + limit]
        has_more = offset + limit < len(rows)
        return web.json_response(
            {
                "live_states": page,
                "pagination": {
                    "limit": limit,
                    "has_more": has_more,
                    "pagination_key": encode_cursor(offset + limit) if has_more else None,
                },
            }
        )

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/{key}", self.websocket),
            web.get("/v2/sports/live", self.sports_live),
        ]


def rest_row(state: dict[str, Any]) -> dict[str, Any]:
    """A live state as REST returns it: no event_type / sequence, plus REST-only fields."""
    row = {k: v for k, v in state.items() if k not in ("event_type", "sequence")}
    home, away = state.get("home_team") or {}, state.get("away_team") or {}
    row["title"] = f"{away.get('name')} @ {home.get('name')}"
    row["game_date"] = str(state["game_id"])[-10:]
    row["participants"] = [away, home]
    row["status_text"] = str(state.get("status"))
    row["sources"] = list((state.get("reliability") or {}).get("sources", []))
    row.setdefault("significant_events", [])
    row.setdefault("last_play", None)
    row.setdefault("ended_at", None)
    return row


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "o" and number.isdigit() else None
