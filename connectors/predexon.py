"""The Predexon sports-live protocol (`specs/predexon-sports-live.txt`): key in the URL path,
`connected` → `subscribe` → `ack` → `event`s, WebSocket ping/pong, REST rehydration after every
(re)subscribe, and per-game sequence ordering."""

from __future__ import annotations

import json
import logging
from typing import Any

from websockets.asyncio.client import ClientConnection

from connectors.errors import FatalSessionError, RejectedInput, RetryableSessionError
from connectors.metrics import ConnectorMetrics
from connectors.publisher import Publisher, Session, now_ms
from connectors.records import Converter
from connectors.rest import RestClient
from connectors.session import FeedProtocol
from connectors.settings import PredexonSettings
from connectors.state import PublishedState, SequenceTracker, fingerprint
from mmstream.logging import register_secret
from schemas import load_schema_dict

log = logging.getLogger(__name__)
CONTROL_TYPES = frozenset({"connected", "ack", "unsubscribed"})
STATE_EVENT = "sports_live_state"
REST_FILTER = {"leagues": "league", "sports": "sport"}


class PredexonProtocol(FeedProtocol):
    """Needs no recorded position: every session, a restarted process's first included, begins
    with a full REST rehydration of the subscribed games' current states."""

    feed = "predexon"
    url_setting = "PREDEXON_WS_URL"

    def __init__(
        self, settings: PredexonSettings, publisher: Publisher, metrics: ConnectorMetrics
    ) -> None:
        assert settings.api_key is not None
        self.settings = settings
        self.api_key = settings.api_key.get_secret_value()
        register_secret(self.api_key)
        self.publisher = publisher
        self.metrics = metrics
        self.filter_kind, self.filter_values = settings.subscription_filter()
        self.liveness_timeout_s = settings.silence_timeout_s or None
        self.converter = Converter(load_schema_dict("predexon_sports_live"))
        self.sequences = SequenceTracker()
        self.published = PublishedState(settings.remembered_entities)
        self.rest = RestClient(
            settings.rest_url,
            {"x-api-key": self.api_key},
            settings.rest_requests_per_min,
            settings.backoff(),
            settings.rest_max_attempts,
            "PREDEXON_REST_URL",
        )

    def url(self) -> str:
        return self.settings.websocket_url(self.api_key)

    def connect_options(self) -> dict[str, Any]:
        interval = self.settings.ping_interval_s
        return {"ping_interval": interval, "ping_timeout": interval}

    async def handshake(self, ws: ClientConnection, session: Session) -> None:
        subscribe = {
            "action": "subscribe",
            "platform": "predexon",
            "version": 1,
            "type": "sports_live",
            "filters": {self.filter_kind: self.filter_values},
        }
        await ws.send(json.dumps(subscribe))
        while True:
            try:
                body = json.loads(await ws.recv())
            except json.JSONDecodeError:
                raise RetryableSessionError("malformed reply during the handshake") from None
            kind = body.get("type") if isinstance(body, dict) else None
            if kind == "ack":
                session.subscription_id = str(body.get("subscription_id"))
                return
            if kind == "error":
                code = body.get("code")
                if code == "INVALID_FILTERS":
                    raise FatalSessionError(f"Predexon refused the filters: {body.get('message')}")
                raise RetryableSessionError(f"Predexon error {code}: {body.get('message')}")

    async def handle(self, raw: str | bytes, session: Session) -> None:
        received = now_ms()
        body = await self.publisher.parse(raw, session)
        if body is None:
            return
        kind = body.get("type")
        if kind == "event":
            await self._event(raw, body.get("data"), session, received)
        elif kind in CONTROL_TYPES:
            self.metrics.message(str(kind))
        elif kind == "error":
            log.warning("Predexon error %s: %s", body.get("code"), body.get("message"))
        else:
            await self.publisher.reject(
                raw, RejectedInput(f"unknown message type: {kind!r}"), session
            )

    async def _event(self, raw: str | bytes, data: Any, session: Session, received: int) -> None:
        if not isinstance(data, dict) or data.get("event_type") != STATE_EVENT:
            event_type = data.get("event_type") if isinstance(data, dict) else None
            await self.publisher.reject(
                raw, RejectedInput(f"unknown event type: {event_type!r}", "event"), session
            )
            return
        self.metrics.message("sports_live")
        try:
            value = self._typed(data, session, received, "LIVE")
        except RejectedInput as exc:
            exc.channel = "sports_live"
            await self.publisher.reject(raw, exc, session)
            return
        game_id, sequence = value["game_id"], value["sequence"]
        if self.published.is_older("game", game_id, value["updated_at"]):
            self.metrics.duplicates.labels(self.feed, "sports_live").inc()
            return  # older than a state rehydrated meanwhile
        if sequence is not None:
            fresh, missing = self.sequences.check(game_id, sequence)
            if not fresh:
                self.metrics.duplicates.labels(self.feed, "sports_live").inc()
                return
            if missing:
                self.metrics.gaps.labels(self.feed).inc(missing)
                log.warning(
                    "Predexon %s: %d sequence number(s) missing before %d",
                    game_id,
                    missing,
                    sequence,
                )
        await self._publish(value, data)

    def _typed(
        self, data: dict[str, Any], session: Session, received: int, origin: str
    ) -> dict[str, Any]:
        value = self.converter.record(
            self.converter.schema,
            {**data, "envelope": session.envelope("predexon", received, None, origin)},
            "data",
        )
        value["envelope"]["event_time"] = value["updated_at"]
        return value

    async def _publish(self, value: dict[str, Any], data: dict[str, Any]) -> None:
        game_id = value["game_id"]
        await self.publisher.record("sports_live", game_id, value, value["updated_at"])
        self.published.remember(
            "game", game_id, fingerprint(comparable(data)), value["updated_at"], {}
        )

    async def resync(self, session: Session) -> None:
        """Publish the current state of every subscribed game from REST (all pages)."""
        published = 0
        for params in self._rest_queries():
            cursor: str | None = None
            while True:
                body = await self.rest.get(
                    "/v2/sports/live",
                    {**params, "limit": self.settings.rest_page_size, "pagination_key": cursor},
                )
                for row in body.get("live_states", []):
                    published += await self._rehydrate(row, session)
                pagination = body.get("pagination") or {}
                cursor = pagination.get("pagination_key")
                if not pagination.get("has_more") or not cursor:
                    break
        log.info("Predexon rehydrated %d game states", published)

    def _rest_queries(self) -> list[dict[str, str]]:
        if self.filter_kind in REST_FILTER:
            return [{REST_FILTER[self.filter_kind]: v} for v in self.filter_values]
        return [{}]

    async def _rehydrate(self, row: Any, session: Session) -> int:
        raw = json.dumps(row)
        try:
            if not isinstance(row, dict):
                raise RejectedInput("live state: expected an object", "rest")
            wanted = (
                self.filter_kind != "game_ids"
                or "*" in self.filter_values
                or row.get("game_id") in self.filter_values
            )
            if not wanted:
                return 0
            value = self._typed(row, session, now_ms(), "REHYDRATED")
        except RejectedInput as exc:
            exc.channel = "rest"
            await self.publisher.reject(raw, exc, session)
            return 0
        game_id = value["game_id"]
        if self.published.is_repeat(
            "game", game_id, fingerprint(comparable(row))
        ) or self.published.is_stale("game", game_id, value["updated_at"]):
            self.metrics.duplicates.labels(self.feed, "rest").inc()
            return 0
        await self._publish(value, row)
        self.metrics.resynced.labels(self.feed, "sports_live").inc()
        return 1

    async def close(self) -> None:
        await self.rest.close()


NOT_COMPARED = frozenset(
    {
        "sequence",
        "event_type",
        "title",
        "game_date",
        "participants",
        "status_text",
        "sources",
        "significant_events",
        "last_play",
        "ended_at",
    }
)


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    """The part of a live state that both the WebSocket and REST carry."""
    return {k: v for k, v in state.items() if k not in NOT_COMPARED}
