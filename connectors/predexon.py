"""The Predexon sports-live protocol (`specs/predexon-sports-live.txt`): key in the URL path,
`connected` → `subscribe` → `ack` → `event`s, WebSocket ping/pong, REST rehydration after every
(re)subscribe, and per-game sequence ordering."""

from __future__ import annotations

import json
import logging
from typing import Any

from websockets.asyncio.client import ClientConnection

from connectors.edge import check_document
from connectors.errors import FatalSessionError, RejectedInput, RetryableSessionError
from connectors.frames import Outcome
from connectors.metrics import ConnectorMetrics
from connectors.publisher import Connection, Publisher, now_ms, parse_frame, subscription_text
from connectors.records import Converter, frame_extra
from connectors.rest import RestClient
from connectors.session import FeedProtocol
from connectors.settings import PredexonSettings
from connectors.state import PublishedState, SequenceTracker, SequenceVerdict
from connectors.wire import LiveStateWriter
from mmstream.core.logging import register_secret
from schemas import load_schema_dict

log = logging.getLogger(__name__)
CONTROL_TYPES = frozenset({"connected", "ack", "unsubscribed"})
FRAME_FIELDS = frozenset({"type", "data"})
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
        self.max_frame_bytes = settings.max_frame_bytes
        self.limits = settings.edge_limits()
        self.converter = Converter(load_schema_dict("predexon_sports_live"), self.limits)
        self.wire = LiveStateWriter(self.converter, compared_fields(self.converter.schema))
        self.sequences = SequenceTracker(settings.max_sequence_jump)
        self.published = PublishedState(
            settings.remembered_entities,
            settings.remembered_bytes,
            int(settings.max_clock_skew_s * 1000),
        )
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

    async def handshake(self, ws: ClientConnection, session: Connection) -> None:
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
            except (ValueError, RecursionError):
                raise RetryableSessionError("malformed reply during the handshake") from None
            kind = body.get("type") if isinstance(body, dict) else None
            if kind == "ack":
                session.subscription_id = subscription_text(body.get("subscription_id"))
                return
            if kind == "error":
                code = body.get("code")
                if code == "INVALID_FILTERS":
                    raise FatalSessionError(f"Predexon refused the filters: {body.get('message')}")
                raise RetryableSessionError(f"Predexon error {code}: {body.get('message')}")

    async def handle(self, raw: str | bytes, session: Connection) -> Outcome:
        return await self.publisher.frame(raw, session, self._frame(raw, session))

    async def _frame(self, raw: str | bytes, session: Connection) -> Outcome:
        received = now_ms()
        body = parse_frame(raw, self.limits)
        kind = body.get("type")
        if not isinstance(kind, str):
            raise RejectedInput(f"type: expected a string, got {type(kind).__name__}")
        if kind == "event":
            return await self._event(body, session, received)
        if kind in CONTROL_TYPES:
            self.metrics.message(kind)
        elif kind == "error":
            log.warning("Predexon error %.100r: %.200r", body.get("code"), body.get("message"))
        else:
            raise RejectedInput(f"unknown message type: {kind!r:.80}")
        return Outcome.CONTROL

    async def _event(self, body: dict[str, Any], session: Connection, received: int) -> Outcome:
        data = body.get("data")
        if not isinstance(data, dict) or data.get("event_type") != STATE_EVENT:
            event_type = data.get("event_type") if isinstance(data, dict) else None
            raise RejectedInput(f"unknown event type: {event_type!r:.80}", "event")
        self.metrics.message("sports_live")
        extra = {} if FRAME_FIELDS.issuperset(body) else frame_extra(body, FRAME_FIELDS)
        try:
            encoded, value, print_ = self._written(data, session, received, "LIVE", extra)
        except RejectedInput as exc:
            exc.channel = "sports_live"
            raise
        game_id, sequence = value["game_id"], value["sequence"]
        if self.published.is_older("game", game_id, value["updated_at"]):
            self.metrics.duplicates.labels(self.feed, "sports_live").inc()
            return Outcome.DROPPED  # older than a state rehydrated meanwhile
        if sequence is not None:
            check = self.sequences.check(game_id, sequence)
            if not check.publish:
                self.metrics.duplicates.labels(self.feed, "sports_live").inc()
                return Outcome.DROPPED
            if check.verdict is not SequenceVerdict.NEXT:
                self.metrics.outliers.labels(self.feed, "sports_live", check.verdict).inc()
                log.warning("Predexon %s: sequence %d is %s", game_id, sequence, check.verdict)
            if check.missing:
                self.metrics.gaps.labels(self.feed).inc(check.missing)
                log.warning(
                    "Predexon %s: %d sequence number(s) missing before %d",
                    game_id,
                    check.missing,
                    sequence,
                )
        await self._publish(encoded, value, print_, received)
        return Outcome.PUBLISHED

    def _written(
        self,
        data: dict[str, Any],
        session: Connection,
        received: int,
        origin: str,
        extra: dict[str, str] | None = None,
    ) -> tuple[bytes, dict[str, Any], bytes]:
        """The live state typed, encoded and fingerprinted in one pass (`connectors.wire`):
        (its bytes, the typed record, the repeat fingerprint); the envelope's event time is
        the state's `updated_at`."""
        owned = {
            "envelope": session.envelope("predexon", received, None, origin),
            "frame_extra": extra or {},
        }
        return self.wire.write(self.publisher.prefix("sports_live"), data, owned)

    async def _publish(
        self, encoded: bytes, value: dict[str, Any], print_: bytes, received: int
    ) -> None:
        game_id = value["game_id"]
        await self.publisher.record_bytes("sports_live", game_id, encoded, value["updated_at"])
        if not self.published.remember("game", game_id, print_, value["updated_at"], {}, received):
            self.metrics.outliers.labels(self.feed, "sports_live", "future_time").inc()
            log.warning("Predexon %s: updated_at is ahead of the clock; not ordering", game_id)

    async def resync(self, session: Connection) -> None:
        """Publish the current state of every subscribed game from REST (all pages)."""
        published = 0
        for params in self._rest_queries():
            cursor: str | None = None
            while True:
                body = await self.rest.get(
                    "/v2/sports/live",
                    {**params, "limit": self.settings.rest_page_size, "pagination_key": cursor},
                )
                rows = body.get("live_states", []) if isinstance(body, dict) else None
                if not isinstance(rows, list):
                    raise RetryableSessionError("Predexon REST: unexpected live-state listing")
                for row in rows:
                    published += await self._rehydrate(row, session)
                pagination = body.get("pagination") or {}
                if not isinstance(pagination, dict):
                    raise RetryableSessionError("Predexon REST: unexpected pagination")
                cursor = pagination.get("pagination_key")
                if not pagination.get("has_more") or not cursor:
                    break
        log.info("Predexon rehydrated %d game states", published)

    def _rest_queries(self) -> list[dict[str, str]]:
        if self.filter_kind in REST_FILTER:
            return [{REST_FILTER[self.filter_kind]: v} for v in self.filter_values]
        return [{}]

    async def _rehydrate(self, row: Any, session: Connection) -> int:
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
            check_document(row, self.limits.max_depth, "row")
            encoded, value, print_ = self._written(row, session, now_ms(), "REHYDRATED")
        except RejectedInput as exc:
            exc.channel = "rest"
            await self.publisher.reject(raw, exc, session)
            return 0
        game_id = value["game_id"]
        if self.published.is_repeat("game", game_id, print_) or self.published.is_stale(
            "game", game_id, value["updated_at"]
        ):
            self.metrics.duplicates.labels(self.feed, "rest").inc()
            return 0
        try:
            await self._publish(encoded, value, print_, now_ms())
        except RejectedInput as exc:
            exc.channel = "rest"
            await self.publisher.reject(raw, exc, session)
            return 0
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


def compared_fields(schema: dict[str, Any]) -> list[str]:
    """The fields of a live state that both the WebSocket and REST carry (what makes a state
    a repeat), besides what the connector fills itself."""
    own = {"envelope", "frame_extra"}
    return [f["name"] for f in schema["fields"] if f["name"] not in NOT_COMPARED | own]
