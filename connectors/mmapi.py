"""The MM API protocol (`specs/mmapi-websocket.txt`): subscribe, JSON pings, broadcasts, and the
REST gap fill after a reconnect (the socket has no replay)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection

from connectors.channels import CHANNELS, ChangeRecords
from connectors.edge import check_document
from connectors.errors import FatalSessionError, RejectedInput, RetryableSessionError
from connectors.frames import Outcome
from connectors.gaps import Gaps
from connectors.metrics import ConnectorMetrics
from connectors.offsets import Position
from connectors.publisher import Connection, Publisher, now_ms, parse_frame, subscription_text
from connectors.records import frame_extra
from connectors.rest import RestClient
from connectors.session import FeedProtocol
from connectors.settings import MmapiSettings
from connectors.state import PublishedState

log = logging.getLogger(__name__)
FATAL_ERRORS = ("Invalid API key", "Invalid apiKey format", "apiKey required")
SLOW_RETRY_ERRORS = ("Connection limit exceeded",)
CONTROL_TYPES = frozenset({"subscribed", "pong", "heartbeat", "unsubscribed"})
FRAME_FIELDS = frozenset({"type", "channel", "event", "payload", "old"})
BACKFILLED = ("orders", "bets")


class MmapiProtocol(FeedProtocol):
    feed = "mmapi"
    url_setting = "MMAPI_WS_URL"
    records_positions = True

    def __init__(
        self, settings: MmapiSettings, publisher: Publisher, metrics: ConnectorMetrics
    ) -> None:
        assert settings.api_key is not None
        self.settings = settings
        self.api_key = settings.api_key.get_secret_value()
        self.publisher = publisher
        self.metrics = metrics
        self.liveness_timeout_s = 2 * settings.heartbeat_interval_s
        self.max_frame_bytes = settings.max_frame_bytes
        self.limits = settings.edge_limits()
        self.records = {
            name: ChangeRecords(channel, self.limits) for name, channel in CHANNELS.items()
        }
        self.published = PublishedState(
            settings.remembered_entities,
            settings.remembered_bytes,
            int(settings.max_clock_skew_s * 1000),
        )
        margin_ms = int(settings.backfill_margin_s * 1000)
        self.gaps = Gaps(self.feed, BACKFILLED, margin_ms, publisher.position)
        self.status_due = False  # the emergency flag to refresh from REST after a gap
        self.rest = RestClient(
            settings.rest_url,
            {"X-API-Key": self.api_key},
            settings.rest_requests_per_min,
            settings.backoff(),
            settings.rest_max_attempts,
            "MMAPI_REST_URL",
        )

    def url(self) -> str:
        return self.settings.ws_url

    async def handshake(self, ws: ClientConnection, session: Connection) -> None:
        await ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "apiKey": self.api_key,
                    "channels": self.settings.channel_list,
                }
            )
        )
        while True:
            body = parse_control(await ws.recv())
            kind = body.get("type")
            if kind == "subscribed":
                session.subscription_id = subscription_text(body.get("subscriptionId"))
                return
            if kind == "error":
                raise classify_error(str(body.get("message", ""))[:200])
            # heartbeats or pongs may precede the confirmation

    async def keepalive(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.settings.ping_interval_s)
            await ws.send('{"type": "ping"}')

    async def handle(self, raw: str | bytes, session: Connection) -> Outcome:
        return await self.publisher.frame(raw, session, self._frame(raw, session))

    async def _frame(self, raw: str | bytes, session: Connection) -> Outcome:
        received = now_ms()
        body = parse_frame(raw, self.limits)
        kind = body.get("type")
        if not isinstance(kind, str):
            raise RejectedInput(f"type: expected a string, got {type(kind).__name__}")
        if kind == "broadcast":
            return await self._broadcast(body, session, received)
        if kind in CONTROL_TYPES:
            self.metrics.message(kind)
            return Outcome.CONTROL
        if kind == "error":
            raise classify_error(str(body.get("message", ""))[:200])
        raise RejectedInput(f"unknown message type: {kind!r:.80}")

    async def _broadcast(self, body: dict[str, Any], session: Connection, received: int) -> Outcome:
        name = body.get("channel")
        records = self.records.get(name) if isinstance(name, str) else None
        if records is None or not isinstance(name, str):
            raise RejectedInput(f"unknown channel: {name!r:.80}")
        self.metrics.message(name)
        try:
            event = body.get("event") or "UPDATE"
            if not isinstance(event, str):
                raise RejectedInput(f"event: expected a string, got {type(event).__name__}")
            envelope = session.envelope("mmapi", received, None, "LIVE")
            extra = {} if FRAME_FIELDS.issuperset(body) else frame_extra(body, FRAME_FIELDS)
            topic_id = records.channel.topic_id
            data, payload, print_ = records.written(
                self.publisher.prefix(topic_id),
                event,
                body.get("payload"),
                body.get("old"),
                envelope,
                extra,
            )
            key, entity = records.key(payload), records.entity(payload)
        except RejectedInput as exc:
            exc.channel = name
            raise
        event_time = envelope["event_time"]
        if self.published.is_repeat(name, entity, print_) or self.published.is_older(
            name, entity, event_time
        ):
            self.metrics.duplicates.labels(self.feed, name).inc()
            return Outcome.DROPPED
        await self.publisher.record_bytes(topic_id, key, data, event_time)
        trusted = self.published.remember(name, entity, print_, event_time, payload, received)
        self._advance(name, event_time, trusted)
        return Outcome.PUBLISHED

    def _advance(self, name: str, event_time: int | None, trusted: bool) -> None:
        """Move the gap-fill watermark, note the source offset; a time too far ahead of its
        arrival is not trusted (it neither orders the entity nor moves the watermark)."""
        if not trusted:
            self.metrics.outliers.labels(self.feed, name, "future_time").inc()
            log.warning("mmapi %s: time %s is ahead of the clock; not ordering", name, event_time)
        self.gaps.published(name, event_time if trusted else None)

    def restore(self, positions: dict[str, Position]) -> None:
        self.gaps.restore(positions)

    def open_gap(self, session: Connection) -> None:
        self.status_due = "emergency" in self.settings.channel_list and (
            session.resumed or self.gaps.restored
        )
        self.gaps.open(session.resumed, self.settings.channel_list)

    async def resync(self, session: Connection) -> None:
        """After a reconnect or a restart, publish from REST what changed meanwhile: only the gap
        (`Gaps.start` to this subscription plus the margin; newer changes arrive on the socket,
        read meanwhile). Pages in time order are walked by their last time, not by number, so
        rows changing during the walk cannot shift a row past a page boundary, and the walk's
        progress survives a dropped connection or a restart (it is in the recorded position)."""
        until_ms = now_ms() + self.gaps.margin_ms
        if self.status_due:
            await self._emergency_status(session)
            self.status_due = False
        for name in [n for n in BACKFILLED if n in self.gaps.gap_from_ms]:
            await self._backfill(name, until_ms, session)
            self.gaps.progressed(name, None)

    async def _emergency_status(self, session: Connection) -> None:
        """The emergency flag has no REST history, only `GET /api/v1/trading/status`: after a
        gap, publish the current flag if it differs from the one published (after a restart it
        is unknown: published; the processors act on transitions only)."""
        before = self.published.get("emergency", "mmapi")
        body = await self.rest.get("/api/v1/trading/status", {})
        flag = body.get("emergencyActive") if isinstance(body, dict) else None
        if not isinstance(flag, bool):
            log.warning("mmapi trading status without emergencyActive: flag not refreshed")
            return
        after = self.published.get("emergency", "mmapi")
        if (after and after.record) is not (before and before.record):
            return  # a broadcast arrived meanwhile: it is newer than this status
        if before is not None and before.payload.get("emergency") == flag:
            return
        status = {k: v for k, v in body.items() if k != "emergencyActive"}
        records = self.records["emergency"]
        envelope = session.envelope("mmapi", now_ms(), None, "BACKFILL")
        try:
            value = records.build("SNAPSHOT", {**status, "emergency": flag}, None, envelope)
        except RejectedInput as exc:
            exc.channel = "emergency"
            await self.publisher.reject(json.dumps(body), exc, session)
            return
        await self.publisher.record("emergency", records.key(value["payload"]), value, None)
        self.published.remember(
            "emergency",
            "mmapi",
            records.fingerprint(*self.publisher.encode("emergency", value)),
            None,
            value["payload"],
        )
        self.metrics.resynced.labels(self.feed, "emergency").inc()
        log.info("mmapi emergency flag from the trading status: %s", flag)

    async def _backfill(self, name: str, until_ms: int, session: Connection) -> None:
        records = self.records[name]
        since_ms = self.gaps.gap_from_ms[name]
        page, published = 1, 0
        while True:
            body = await self.rest.get(
                f"/api/v1/{name}",
                {
                    "fromDate": iso_ms(self.gaps.gap_from_ms[name]),
                    "toDate": iso_ms(until_ms),
                    "page": page,
                    "pageSize": self.settings.rest_page_size,
                },
            )
            rows = body.get("data", []) if isinstance(body, dict) else body
            for row in rows:
                published += await self._backfill_row(name, records, row, session)
            pagination = body.get("pagination", {}) if isinstance(body, dict) else {}
            if page >= int(pagination.get("totalPages", page)) or not rows:
                break
            page_end = records.page_end(rows)
            if page_end is not None and page_end > self.gaps.gap_from_ms[name]:
                self.gaps.progressed(name, page_end)
                page = 1
            else:
                page += 1
        log.info(
            "mmapi backfill of %s from %s to %s: %d records",
            name,
            iso_ms(since_ms),
            iso_ms(until_ms),
            published,
        )

    async def _backfill_row(
        self, name: str, records: ChangeRecords, row: Any, session: Connection
    ) -> int:
        raw = json.dumps(row)
        try:
            if not isinstance(row, dict):
                raise RejectedInput("row: expected an object")
            check_document(row, self.limits.max_depth, "row")
            entity = records.entity(row)
            updated = records.row_time(row)
            if self.published.is_stale(name, entity, updated):
                self.metrics.duplicates.labels(self.feed, name).inc()
                return 0
            envelope = session.envelope("mmapi", now_ms(), updated, "BACKFILL")
            value = records.build("SNAPSHOT", row, None, envelope)
            # as of an INSERT broadcast of this state (old not yet set)
            print_ = records.fingerprint(*self.publisher.encode(records.channel.topic_id, value))
            if self.published.is_repeat(name, entity, print_):
                self.metrics.duplicates.labels(self.feed, name).inc()
                return 0
            old = self.published.changed_from(name, entity, value["payload"])
            if old is not None:
                value["old"] = {**dict.fromkeys(value["payload"]), **old}
                value["changed_fields"] = sorted(old)
            await self.publisher.record(
                records.channel.topic_id, records.key(value["payload"]), value, updated
            )
        except RejectedInput as exc:
            exc.channel = name
            await self.publisher.reject(raw, exc, session)
            return 0
        trusted = self.published.remember(name, entity, print_, updated, value["payload"], now_ms())
        self._advance(name, updated, trusted)
        self.metrics.resynced.labels(self.feed, name).inc()
        return 1

    async def close(self) -> None:
        await self.rest.close()


def iso_ms(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def parse_control(raw: str | bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise RetryableSessionError("malformed reply during the handshake") from None
    if not isinstance(body, dict):
        raise RetryableSessionError("unexpected reply during the handshake")
    return body


def classify_error(message: str) -> Exception:
    """Fatal (stop: the key is wrong) or retryable (slowly, for the connection limit)."""
    if message in FATAL_ERRORS:
        return FatalSessionError(f"MM API refused the subscription: {message}")
    if message in SLOW_RETRY_ERRORS:
        return RetryableSessionError(f"MM API: {message}", slow=True)
    return RetryableSessionError(f"MM API error: {message}")
