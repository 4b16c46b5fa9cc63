"""Issue 15's defects, each with its minimal frame: one outcome per frame, never a crash, and
the entity's next genuine update is still published."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.frames import Outcome
from tests.helpers.frames import Harness, harness

HOUR_MS = 3_600_000


def iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def now_ms() -> int:
    return int(time.time() * 1000)


def order(order_id: int = 1, at_ms: int | None = None, **fields: Any) -> str:
    payload = {"orderId": order_id, "updatedAt": iso(at_ms or now_ms()), **fields}
    frame = {"type": "broadcast", "channel": "orders", "event": "UPDATE", "payload": payload}
    return json.dumps(frame)


def emergency(at_ms: int, on: bool) -> str:
    payload = {"emergency": on, "reason": "test", "triggeredAt": iso(at_ms)}
    return json.dumps({"type": "broadcast", "channel": "emergency", "payload": payload})


def game(sequence: int | None, at_ms: int | None = None, game_id: str = "g1", **data: Any) -> str:
    body = {
        "event_type": "sports_live_state",
        "sequence": sequence,
        "game_id": game_id,
        "updated_at": iso(at_ms or now_ms()),
        **data,
    }
    return json.dumps({"type": "event", "data": body})


def dead_letters(h: Harness) -> list[dict[str, Any]]:
    return h.dead_letters()


async def assert_dead_lettered(h: Harness, frame: str | bytes, reason: str) -> None:
    before = h.count("dlq")
    assert await h.send(frame) is Outcome.DEAD_LETTERED
    assert h.count("dlq") == before + 1
    assert reason in dead_letters(h)[-1]["reason"]


@pytest.mark.parametrize(
    ("feed", "frame", "reason"),
    [
        (
            "mmapi",
            '{"type":[],"channel":"orders","event":"UPDATE","payload":{"orderId":1}}',
            "type: expected a string",
        ),
        ("mmapi", '{"type":"broadcast","channel":{"c":1},"payload":{}}', "unknown channel"),
        ("mmapi", '{"type":"broadcast","channel":"orders","event":[1],"payload":{}}', "event:"),
        ("predexon", '{"type":{"t":1},"data":{}}', "type: expected a string"),
        ("predexon", '{"type":"event","data":{"event_type":["x"]}}', "unknown event type"),
    ],
)
async def test_a_type_of_another_json_type_is_dead_lettered(
    feed: str, frame: str, reason: str
) -> None:  # defect 1
    h = harness(feed)
    await assert_dead_lettered(h, frame, reason)
    genuine = order(1) if feed == "mmapi" else game(1)
    assert await h.send(genuine) is Outcome.PUBLISHED


async def test_nan_and_infinity_times_are_dead_lettered_with_the_field() -> None:  # defect 2
    h = harness("mmapi")
    frame = '{"type":"broadcast","channel":"orders","payload":{"orderId":11,"updatedAt":NaN}}'
    await assert_dead_lettered(h, frame, "payload.updatedAt")
    assert await h.send(order(11)) is Outcome.PUBLISHED
    p = harness("predexon")
    frame = '{"type":"event","data":{"event_type":"sports_live_state","game_id":"g",'
    frame += '"updated_at":Infinity}}'
    await assert_dead_lettered(p, frame, "data.updated_at")
    assert await p.send(game(1, game_id="g")) is Outcome.PUBLISHED


async def test_integers_beyond_avro_long_are_dead_lettered() -> None:  # defect 3
    h = harness("mmapi")
    await assert_dead_lettered(h, order(9223372036854775808), "payload.orderId")
    await assert_dead_lettered(h, order(1, outcomeId=-(2**63) - 1), "payload.outcomeId")
    assert await h.send(order(9223372036854775807)) is Outcome.PUBLISHED  # the largest long fits
    p = harness("predexon")
    await assert_dead_lettered(p, game(9223372036854775808), "data.sequence")
    assert await p.send(game(1)) is Outcome.PUBLISHED


@pytest.mark.parametrize(
    ("feed", "frame", "reason"),
    [
        ("mmapi", order(1, client="\ud800"), "payload.client: text is not valid Unicode"),
        ("mmapi", order(1, **{"note\udc00": 1}), "payload: a field name is not valid Unicode"),
        ("predexon", game(1, game_id="g3\udc00"), "data.game_id: text is not valid Unicode"),
        ("predexon", game(1, foo={"\ud83d": "x"}), "data.foo: a field name"),
    ],
)
async def test_lone_surrogates_are_dead_lettered(feed: str, frame: str, reason: str) -> None:
    h = harness(feed)  # defect 4: json.dumps escapes them as \ud800, json.loads brings them back
    await assert_dead_lettered(h, frame, reason)
    assert dead_letters(h)[-1]["raw"] == frame.encode()
    genuine = order(1) if feed == "mmapi" else game(1, game_id="g3")
    assert await h.send(genuine) is Outcome.PUBLISHED


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
async def test_deep_nesting_is_dead_lettered(depth: int) -> None:  # defect 5
    h = harness("mmapi")
    nested = "[" * depth + "]" * depth
    frame = order(1).replace('"orderId": 1', f'"orderId": 1, "deep": {nested}')
    await assert_dead_lettered(h, frame, "nested deeper than 32")
    assert await h.send(order(1)) is Outcome.PUBLISHED


@pytest.mark.parametrize("size", [1_100_000, 8 * 2**20 - 1000])
async def test_a_frame_too_large_for_a_record_is_dead_lettered_truncated(size: int) -> None:
    h = harness("mmapi")  # defect 6
    frame = order(1, blob="x" * size)
    assert await h.send(frame) is Outcome.DEAD_LETTERED
    letter = dead_letters(h)[-1]
    assert "exceeds message.max.bytes" in letter["reason"]
    assert letter["mmstream"]["raw.truncated"] == "true"
    assert letter["raw_size"] == len(frame.encode())
    assert letter["mmstream"]["raw.sha256"] == hashlib.sha256(frame.encode()).hexdigest()
    assert frame.encode().startswith(letter["raw"])
    assert letter["connect"]["stage"] == "KAFKA_PRODUCE"
    assert letter["connect"]["exception.class.name"] == "connectors.errors.RecordTooLarge"
    assert max(len(r.value) for r in h.producer.records) < 1_000_000
    assert await h.send(order(1)) is Outcome.PUBLISHED


async def test_malformed_frames_too_large_for_a_record_are_dead_lettered_truncated() -> None:
    h = harness("predexon", max_message_bytes=100_000)
    frame = b"{" + b"x" * 500_000
    assert await h.send(frame) is Outcome.DEAD_LETTERED
    letter = dead_letters(h)[-1]
    assert letter["mmstream"]["raw.truncated"] == "true" and letter["raw_size"] == len(frame)
    assert "malformed JSON" in letter["reason"] and len(h.producer.records[-1].value) < 100_000


async def test_a_far_future_order_never_becomes_the_gap_fill_watermark() -> None:  # defect 7
    h = harness("mmapi")
    frame = json.dumps(
        {"type": "broadcast", "channel": "orders", "payload": {"orderId": 5, "updatedAt": 10**15}}
    )
    await assert_dead_lettered(h, frame, "payload.updatedAt: time 1000000000000000 ms is outside")
    assert h.protocol.gaps.watermark_ms == {}  # type: ignore[union-attr]
    genuine = now_ms()
    assert await h.send(order(5, genuine)) is Outcome.PUBLISHED
    assert h.protocol.gaps.watermark_ms == {"orders": genuine}  # type: ignore[union-attr]


async def test_a_year_9999_emergency_does_not_hide_the_next_changes() -> None:  # defect 8
    h = harness("mmapi")
    poison = '{"type":"broadcast","channel":"emergency","payload":{"emergency":true,'
    poison += '"triggeredAt":"9999-12-31T23:59:59Z"}}'
    await assert_dead_lettered(h, poison, "payload.triggeredAt")
    start = now_ms() - 3000
    outcomes = [await h.send(emergency(start + i * 1000, i % 2 == 0)) for i in range(3)]
    assert outcomes == [Outcome.PUBLISHED] * 3


async def test_an_in_window_future_time_is_published_but_does_not_order_the_entity() -> None:
    h = harness("mmapi")  # defect 8, within the +1 day window: an outlier, counted
    assert await h.send(emergency(now_ms() + 12 * HOUR_MS, True)) is Outcome.PUBLISHED
    start = now_ms() - 3000
    outcomes = [await h.send(emergency(start + i * 1000, i % 2 == 1)) for i in range(3)]
    assert outcomes == [Outcome.PUBLISHED] * 3
    outliers = h.metrics.registry.get_sample_value(
        "mmstream_connector_outliers_total",
        {"feed": "mmapi", "channel": "emergency", "kind": "future_time"},
    )
    assert outliers == 1
    assert await h.send(order(7, now_ms() + 12 * HOUR_MS)) is Outcome.PUBLISHED
    watermarks = h.protocol.gaps.watermark_ms  # type: ignore[union-attr]
    assert watermarks == {}, "an outlier never moves the gap fill"


async def test_a_huge_sequence_does_not_hide_later_game_events() -> None:  # defect 8
    h = harness("predexon")
    assert await h.send(game(10)) is Outcome.PUBLISHED
    assert await h.send(game(4611686018427387904)) is Outcome.PUBLISHED  # kept, not trusted
    outcomes = [await h.send(game(seq)) for seq in (11, 12, 13)]
    assert outcomes == [Outcome.PUBLISHED] * 3
    gaps = h.metrics.registry.get_sample_value(
        "mmstream_connector_sequence_gaps_total", {"feed": "predexon"}
    )
    assert gaps in (None, 0.0)
    assert await h.send(game(12)) is Outcome.DROPPED, "the game's order still holds"


async def test_times_a_stock_deserializer_cannot_read_are_never_published() -> None:  # defect 9
    h = harness("mmapi")
    for stamp in (10**15, -(10**14)):
        payload = {"orderId": 3, "updatedAt": now_ms(), "createdAt": stamp}
        frame = json.dumps({"type": "broadcast", "channel": "orders", "payload": payload})
        await assert_dead_lettered(h, frame, "payload.createdAt")
    assert await h.send(order(3)) is Outcome.PUBLISHED
    assert len(h.decoded("orders")) == 1


async def test_fields_named_like_the_schemas_own_maps_are_kept() -> None:  # defect 12
    h = harness("mmapi")
    score = {
        "type": "broadcast",
        "channel": "scores",
        "seq": 77,
        "payload": {
            "fixtureId": "f1",
            "updatedAt": now_ms(),
            "scores": {"home": 1, "away": 0, "q1": 1, "periods": {"1": [1, 0]}},
        },
    }
    assert await h.send(json.dumps(score)) is Outcome.PUBLISHED
    value = h.decoded("scores")[-1]
    assert value["payload"]["scores"]["periods"] == {"q1": 1}
    assert json.loads(value["payload_extra"]["scores.periods"]) == {"1": [1, 0]}
    assert value["frame_extra"] == {"seq": "77"}
    bet = {
        "type": "broadcast",
        "channel": "bets",
        "payload": {
            "betId": 1,
            "orderId": 2,
            "updatedAt": now_ms(),
            "sentData": {"price": 1.5, "extra": {"a": 1}, "x.y": 2},
        },
    }
    assert await h.send(json.dumps(bet)) is Outcome.PUBLISHED
    sent = h.decoded("bets")[-1]["payload"]["sentData"]
    assert json.loads(sent["extra"]["extra"]) == {"a": 1} and sent["extra"]["x\\.y"] == "2"


async def test_predexon_fields_named_extra_or_envelope_and_frame_fields_are_kept() -> None:
    h = harness("predexon")  # defect 12
    frame = json.loads(game(1, extra={"k": 1}, envelope={"source": "provider"}))
    frame["ts"] = 123
    assert await h.send(json.dumps(frame)) is Outcome.PUBLISHED
    value = h.decoded("sports_live")[-1]
    assert json.loads(value["extra"]["extra"]) == {"k": 1}
    assert json.loads(value["extra"]["envelope"]) == {"source": "provider"}
    assert value["envelope"]["source"] == "predexon"
    assert value["frame_extra"] == {"ts": "123"}


async def test_dead_letter_metric_labels_stay_bounded_whatever_the_field_names() -> None:
    h = harness("mmapi")
    for i in range(5):
        nan: dict[str, Any] = {f"key{i}": float("nan")}
        await assert_dead_lettered(h, order(1, **nan), f"payload.key{i}")
    await assert_dead_lettered(h, order(1, blob="x" * 1_100_000), "record too large")
    reasons = {
        sample.labels["reason"]
        for family in h.metrics.registry.collect()
        if family.name == "mmstream_connector_dlq"
        for sample in family.samples
        if "reason" in sample.labels
    }
    assert reasons == {"invalid field", "record too large"}
