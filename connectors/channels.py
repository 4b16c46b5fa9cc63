"""The MM API channels: how each maps onto its topic, and the change records built for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.edge import EdgeLimits
from connectors.errors import RejectedInput
from connectors.fingerprints import span_print
from connectors.records import Converter, change_record, field_schema
from connectors.wire import ChangeWriter
from schemas import load_schema_dict

# what makes a change a repeat: a run of the change record's fields, digested as encoded
COMPARED = ("payload", "old", "changed_fields", "payload_extra", "old_extra")


@dataclass(frozen=True)
class Channel:
    """How one MM API channel maps onto its topic."""

    topic_id: str
    schema_name: str
    entity_field: str  # what identifies the entity (dedup)
    key_field: str | None  # the record key; None = the constant "mmapi"
    time_fields: tuple[str, ...]  # the provider's event time, first present wins
    aliases: tuple[tuple[str, str], ...] = ()


CHANNELS: dict[str, Channel] = {
    "orders": Channel(
        "orders", "mmapi_order", "orderId", "orderId", ("updatedAt", "matchedAt", "createdAt")
    ),
    "bets": Channel("bets", "mmapi_bet", "betId", "orderId", ("updatedAt", "placedAt")),
    "accounts": Channel(
        "accounts",
        "mmapi_account",
        "accountId",
        "accountId",
        ("updatedAt",),
        (("id", "accountId"), ("account_id", "accountId")),
    ),
    "scores": Channel("scores", "mmapi_score", "fixtureId", "fixtureId", ("updatedAt",)),
    "emergency": Channel("emergency", "mmapi_emergency", "", None, ("triggeredAt",)),
}


class ChangeRecords:
    """Builds the change record of one channel from a broadcast (or a REST row)."""

    def __init__(self, channel: Channel, limits: EdgeLimits | None = None) -> None:
        self.channel = channel
        schema = load_schema_dict(channel.schema_name)
        self.converter = Converter(schema, limits)
        self.payload_schema = field_schema(schema, "payload")
        self.old_schema = field_schema(schema, "old")
        self._payload = self.converter.record_function(self.payload_schema)
        self._old = self.converter.record_function(self.old_schema)
        names = [f["name"] for f in schema["fields"]]
        first, last = names.index(COMPARED[0]), names.index(COMPARED[-1]) + 1
        if tuple(names[first:last]) != COMPARED:
            raise ValueError(f"{channel.schema_name}: {COMPARED} must be consecutive fields")
        self.compared = (first, last)
        self.wire = ChangeWriter(self.converter)

    def build(
        self,
        event: str,
        payload: Any,
        old: Any,
        envelope: dict[str, Any],
        extra: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        payload = self._checked(payload)
        payload_extra: dict[str, str] = {}
        typed = self._payload(payload, "payload", payload_extra, None)
        value = change_record(envelope, str(event), typed, payload_extra, extra)
        if old is not None:
            if not isinstance(old, dict):
                raise RejectedInput("old: expected an object", self.channel.topic_id)
            value["old"] = self._old(old, "old", value["old_extra"], None)
            value["changed_fields"] = list(old)
        return value

    def _checked(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise RejectedInput("payload: expected an object", self.channel.topic_id)
        for alias, name in self.channel.aliases:
            if alias in payload and name not in payload:
                payload = {**payload, name: payload[alias]}
        checked: dict[str, Any] = payload
        return checked

    def written(
        self,
        prefix: bytes,
        event: str,
        payload: Any,
        old: Any,
        envelope: dict[str, Any],
        extra: dict[str, str],
    ) -> tuple[bytes, dict[str, Any], bytes]:
        """`build`, encoded after `prefix` (the Confluent framing) and fingerprinted, in one
        pass (`connectors.wire`): (the bytes, the typed payload, the repeat fingerprint). The
        envelope's `event_time` is set to the payload's event time."""
        data, typed, begin, end = self.wire.write(
            prefix, envelope, event, self._checked(payload), old, extra, self.event_time
        )
        return data, typed, span_print(data, begin, end)

    def fingerprint(self, data: bytes, starts: list[int]) -> bytes:
        """The repeat fingerprint of an encoded change record (`AvroSerde.encode_fields`)."""
        first, last = self.compared
        return span_print(data, starts[first], starts[last])

    def key(self, payload: dict[str, Any]) -> str:
        field = self.channel.key_field
        return "mmapi" if field is None else str(payload[field])

    def entity(self, payload: dict[str, Any]) -> str:
        field = self.channel.entity_field
        return "mmapi" if not field else str(payload.get(field))

    def event_time(self, payload: dict[str, Any]) -> int | None:
        for name in self.channel.time_fields:
            if payload.get(name) is not None:
                return int(payload[name])
        return None

    def row_time(self, row: dict[str, Any]) -> int | None:
        """The event time of a REST row, whose times are ISO 8601 text."""
        fields = self.channel.time_fields
        times = {k: self.converter.time_ms(row[k], k) for k in fields if row.get(k)}
        return self.event_time(times)

    def page_end(self, rows: list[Any]) -> int | None:
        """The newest time of a REST page whose rows are in time order, else None."""
        times: list[int] = []
        for row in rows:
            try:
                time = self.row_time(row) if isinstance(row, dict) else None
            except RejectedInput:
                return None
            if time is None:
                return None
            times.append(time)
        return times[-1] if times and times == sorted(times) else None
