"""What every agent's pure logic shares: outputs, alerts, event times."""

from __future__ import annotations

import hashlib
import json
import marshal
from typing import Any, NamedTuple

from schemas.values import millis


class Output(NamedTuple):
    """One derived record to send: topic id, key, value (a named tuple: built several times per
    key per batch, a frozen dataclass's `__init__` cost 4% of the hedge join)."""

    topic_id: str
    key: str
    value: dict[str, Any]


def alert(
    alert_type: str,
    subject: str,
    state: str,
    severity: str,
    message: str,
    opened_at: int,
    resolved_at: int | None = None,
    **fields: Any,
) -> Output:
    """A `risk.alerts` record; its id is deterministic, so replays give the same key."""
    alert_id = f"{alert_type}:{subject}"
    details = {k: str(v) for k, v in fields.pop("details", {}).items()}
    value = {
        "alert_id": alert_id,
        "alert_type": alert_type,
        "subject": subject,
        "state": state,
        "severity": severity,
        "message": message,
        "opened_at": opened_at,
        "resolved_at": resolved_at,
        "order_id": fields.get("order_id"),
        "game_id": fields.get("game_id"),
        "fixture_id": fields.get("fixture_id"),
        "details": details,
    }
    return Output("risk_alerts", alert_id, value)


def event_time(record: dict[str, Any], *fields: str) -> int:
    """The provider's time of a raw record (first present of `fields` in its payload), else
    the envelope's event time, else the connector's receive time."""
    payload = record.get("payload") or record
    for name in fields:
        value = millis(payload.get(name))
        if value is not None:
            return value
    envelope = record.get("envelope") or {}
    return millis(envelope.get("event_time")) or millis(envelope.get("received_at")) or 0


def fingerprint(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, default=str)


DIGEST_FORMAT = "m"  # the first character of a digest: marshal format 2


def digest(value: dict[str, Any]) -> str:
    """A short identity of a value of plain types (dicts and lists of str, int, float, bool,
    None) built in a fixed key order, cheaper than `fingerprint`: blake2b of its marshal in
    format 2, which depends on the values alone (no references between equal objects, floats in
    binary; a third of `repr`'s cost), behind a letter naming that format."""
    return DIGEST_FORMAT + hashlib.blake2b(marshal.dumps(value, 2), digest_size=12).hexdigest()


def repr_digest(value: dict[str, Any]) -> str:
    """The digest states stored before `digest` (24 hex digits of blake2b over `repr`)."""
    return hashlib.blake2b(repr(value).encode(), digest_size=12).hexdigest()


def changed(known: str | None, value: dict[str, Any]) -> str | None:
    """`value`'s digest if it is not the value `known` digests (None: the same value), in
    either format, so that a state stored before the format changed is not reported again."""
    new = digest(value)
    if new == known:
        return None
    if known is not None and not known.startswith(DIGEST_FORMAT) and repr_digest(value) == known:
        return None
    return new
