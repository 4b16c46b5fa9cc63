"""Frames of both feeds as a hostile or buggy provider would send them: valid, odd and
hostile (wrong types, NaN / Infinity, huge integers, lone surrogates, deep nesting, big frames,
names that collide with the schema's), plus the genuine update that must follow each."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

DAY_MS = 86_400_000
SKEW_MS = 300_000  # the connectors' default <FEED>_MAX_CLOCK_SKEW_S
DEEP = "__deep__"  # replaced by raw nested brackets (json.dumps cannot write them)
BIG = 1_100_000  # a frame larger than the default message.max.bytes


def iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def now_ms() -> int:
    return int(time.time() * 1000)


def render(frame: Any, depth: int = 0) -> str:
    text = json.dumps(frame)  # NaN / Infinity as their JS literals, surrogates as \udxxx
    if depth:
        text = text.replace(json.dumps(DEEP), "[" * depth + "]" * depth)
    return text


surrogates = st.sampled_from(["\ud800", "g3\udc00", "\udbffA", "ok\udfff"])
texts = st.one_of(st.text(max_size=8), surrogates)
huge_ints = st.sampled_from([2**63, 2**63 - 1, -(2**63), -(2**63) - 1, 10**30, 2**62])
numbers = st.one_of(
    st.integers(-1000, 1000),
    huge_ints,
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=8,
)


safe_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def plausible_times() -> st.SearchStrategy[Any]:
    """Times a sound provider sends: now or earlier (ISO or epoch ms), or an early-warning
    outlier ahead of the clock beyond the skew (by a margin that outlasts the test's run)."""
    fresh = st.integers(0, 30_000).map(lambda back: now_ms() - back)
    return st.one_of(
        fresh,
        fresh.map(iso),
        st.integers(0, 29 * DAY_MS).map(lambda back: iso(now_ms() - back)),  # a late arrival
        st.integers(60_000, DAY_MS - SKEW_MS - 60_000).map(
            lambda ahead: now_ms() + SKEW_MS + ahead
        ),
    )


def times() -> st.SearchStrategy[Any]:
    """Provider times: plausible, outliers, out of window, not times."""
    return st.one_of(
        plausible_times(),
        st.sampled_from(
            [
                10**15,
                -(10**14),
                0,
                "9999-12-31T23:59:59Z",
                "0001-01-01T00:00:00Z",
                "yesterday",
                float("nan"),
                float("inf"),
                None,
                True,
                2**63,
            ]
        ),
        json_values,
    )


def overrides(names: list[str], hostile: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A few fields set to odd values: known names, colliding names, unknown ones."""
    if not hostile:  # unknown fields only, some named like the schema's maps
        unknown = st.one_of(
            st.sampled_from(["periods", "extra", "envelope", "a.b", "x\\y"]), st.text(max_size=6)
        )
        return st.dictionaries(unknown.filter(lambda n: n not in names), safe_values, max_size=3)
    return st.dictionaries(st.one_of(st.sampled_from(names), texts), json_values, max_size=3)


CHANNEL_FIELDS = {
    "orders": ["orderId", "client", "matchedStake", "orderCents", "outcomeId", "createdAt"],
    "bets": ["betId", "orderId", "placedStake", "sentData", "receivedData", "placedAt"],
    "scores": ["fixtureId", "scores", "live", "statusId", "currentMinute"],
    "emergency": ["emergency", "reason"],
    "accounts": ["accountId", "id", "account_id", "balance", "venue"],
}
TIME_FIELD = {"orders": "updatedAt", "bets": "updatedAt", "scores": "updatedAt"}
TIME_FIELD |= {"emergency": "triggeredAt", "accounts": "updatedAt"}


def mmapi_payload(channel: str, entity: int, at: Any, step: int) -> dict[str, Any]:
    payloads: dict[str, dict[str, Any]] = {
        "orders": {"orderId": entity, "matchedStake": float(step), "orderStatus": "OPEN"},
        "bets": {"betId": entity, "orderId": entity, "placedStake": float(step)},
        "scores": {"fixtureId": f"f{entity}", "scores": {"home": step % 9, "away": 0}},
        "emergency": {"emergency": step % 2 == 0, "reason": f"r{step}"},
        "accounts": {"accountId": f"a{entity}", "balance": float(step)},
    }
    base = payloads[channel]
    return {**base, TIME_FIELD[channel]: at}


@st.composite
def mmapi_frames(draw: st.DrawFn) -> tuple[str, str, int]:
    """(frame text, channel of the entity, entity id); one in three is hostile."""
    hostile = draw(st.integers(0, 2)) == 0
    channel = draw(st.sampled_from(sorted(CHANNEL_FIELDS)))
    entity = draw(st.integers(1, 3))
    at = draw(times() if hostile else plausible_times())
    payload = mmapi_payload(channel, entity, at, draw(st.integers(0, 100)))
    payload.update(draw(overrides(CHANNEL_FIELDS[channel] + ["scores", "updatedAt"], hostile)))
    if channel == "scores" and not hostile and draw(st.booleans()):
        payload["scores"] = {"home": 1, "away": 2, "q1": 1, "periods": {"1": [1, 0]}}
    if channel == "bets" and not hostile and draw(st.booleans()):
        payload["sentData"] = {"price": 1.5, "extra": {"a": 1}, "x.y": [2]}
    controls = st.sampled_from(["pong", "heartbeat", "subscribed", "error", "Broadcast"])
    frame: dict[str, Any] = {
        "type": draw(st.one_of(controls, json_values) if hostile else st.just("broadcast")),
        "channel": draw(json_values) if hostile and draw(st.booleans()) else channel,
        "event": draw(json_values) if hostile and draw(st.booleans()) else "UPDATE",
        "payload": draw(json_values) if hostile and draw(st.booleans()) else payload,
    }
    if frame["type"] == "error":
        frame["message"] = draw(st.sampled_from(["Internal error", "Invalid API key", "x"]))
    if draw(st.booleans()):
        frame["old"] = draw(st.one_of(st.just({"orderStatus": "PLACED"}), json_values))
    extras = (
        st.dictionaries(texts, json_values) if hostile else st.dictionaries(st.text(), safe_values)
    )
    frame.update(draw(extras.map(lambda d: dict(list(d.items())[:2]))))  # next to the payload
    return nasty(draw, frame), channel, entity


def nasty(draw: st.DrawFn, frame: dict[str, Any]) -> str:
    """Sometimes deep, big, or not JSON at all."""
    kind = draw(st.sampled_from(["plain"] * 8 + ["deep", "big", "garbage"]))
    if kind == "deep":
        frame["nested"] = DEEP
        return render(frame, draw(st.sampled_from([33, 200, 1_000, 5_000])))
    if kind == "big":
        frame["blob"] = "x" * BIG
    if kind == "garbage":
        return render(frame)[: draw(st.integers(0, 40))]
    return render(frame)


def genuine_mmapi(channel: str, entity: int, step: int) -> str:
    """A genuine update `step` ms from now: -60 s before a fuzzed frame, then after it."""
    at = iso(now_ms() + step)
    payload = mmapi_payload(channel, entity, at, step)
    return json.dumps(
        {"type": "broadcast", "channel": channel, "event": "UPDATE", "payload": payload}
    )


GAME_FIELDS = ["sequence", "league", "home_team", "score", "reliability", "participants"]
GAME_FIELDS += ["extra", "envelope", "frame_extra", "live", "ended_at"]


@st.composite
def predexon_frames(draw: st.DrawFn, base_sequence: int) -> tuple[str, str]:
    """(frame text, game id); one in three is hostile; plausible sequences stay below
    `base_sequence + 20`."""
    hostile = draw(st.integers(0, 2)) == 0
    game = draw(st.sampled_from(["g1", "g2", "g3"]))
    plausible = st.integers(base_sequence - 2, base_sequence + 10)
    outliers = st.one_of(huge_ints, st.integers(-(2**63), -(2**40)))
    data: dict[str, Any] = {
        "event_type": "sports_live_state",
        "sequence": draw(st.one_of(plausible, outliers, json_values) if hostile else plausible),
        "game_id": draw(st.one_of(texts, json_values)) if hostile and draw(st.booleans()) else game,
        "updated_at": draw(times() if hostile else plausible_times()),
        "score": {"home": 1, "away": 0},
    }
    if hostile and draw(st.booleans()):
        data["event_type"] = draw(json_values)
    data.update(draw(overrides([*GAME_FIELDS, "updated_at", "game_id"], hostile)))
    controls = st.sampled_from(["ack", "connected", "error", "Event"])
    frame: dict[str, Any] = {
        "type": draw(st.one_of(controls, json_values) if hostile else st.just("event")),
        "data": draw(json_values) if hostile and draw(st.booleans()) else data,
    }
    extras = (
        st.dictionaries(texts, json_values) if hostile else st.dictionaries(st.text(), safe_values)
    )
    frame.update(draw(extras.map(lambda d: dict(list(d.items())[:2]))))
    return nasty(draw, frame), game


def genuine_predexon(game: str, sequence: int, step: int) -> str:
    data = {
        "event_type": "sports_live_state",
        "sequence": sequence,
        "game_id": game,
        "updated_at": iso(now_ms() + step),
        "score": {"home": abs(step) % 9, "away": 1},
    }
    return json.dumps({"type": "event", "data": data})
