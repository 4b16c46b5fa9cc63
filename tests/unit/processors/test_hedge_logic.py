"""Fill ↔ hedge join logic: totals are right whatever the order, duplication or delay of input."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.hedge import logic
from processors.hedge.state import State
from processors.settings import ProcessorSettings

SETTINGS = ProcessorSettings(hedge_deadline_s=5.0)
T0 = 1_771_149_600_000


def envelope(at: int) -> dict[str, Any]:
    return {
        "source": "mmapi",
        "connection_id": "c",
        "subscription_id": "1",
        "received_at": at + 5,
        "event_time": at,
        "origin": "LIVE",
    }


def order(
    at: int,
    matched: float,
    status: str = "PLACED",
    settlement: str = "UNDECIDED",
    matched_at: int | None = None,
) -> dict[str, Any]:
    return {
        "envelope": envelope(at),
        "event": "UPDATE",
        "payload": {
            "orderId": 7,
            "client": "desk",
            "fixtureId": "f1",
            "exchange": "kalshi",
            "orderStake": 100.0,
            "orderCents": 0.45,
            "matchedStake": matched,
            "matchedAt": matched_at,
            "orderStatus": status,
            "settlementStatus": settlement,
            "updatedAt": at,
        },
    }


def bet(bet_id: int, at: int, stake: float, status: str, placed_at: int) -> dict[str, Any]:
    return {
        "envelope": envelope(at),
        "event": "UPDATE",
        "payload": {
            "betId": bet_id,
            "orderId": 7,
            "bookmaker": "vertex",
            "placedPrice": 1.9,
            "placedStake": stake,
            "betStatus": status,
            "placedAt": placed_at,
            "updatedAt": at,
            "settlementStatus": "UNDECIDED",
        },
    }


def fold(records: list[tuple[str, dict[str, Any]]], now: int) -> tuple[State, list[Any]]:
    state: State = logic.new_state(7)
    outputs = []
    for topic_id, record in records:
        state = logic.step(state, topic_id, record)
        outputs += logic.advance(state, now, SETTINGS)
    return state, outputs


@st.composite
def order_histories(draw: st.DrawFn) -> tuple[list[tuple[str, dict[str, Any]]], float, float]:
    """An order's records (fills and bets), shuffled, some duplicated; with the true totals."""
    steps = sorted(draw(st.sets(st.integers(1, 20), min_size=1, max_size=3)))
    fills = [float(s * 5) for s in steps]
    records: list[tuple[str, dict[str, Any]]] = [("orders", order(T0, 0.0))]
    for i, matched in enumerate(fills):
        at = T0 + 1000 * (i + 1)
        records.append(("orders", order(at, matched, matched_at=at)))
    hedged = 0.0
    for n in range(draw(st.integers(0, 4))):
        stake = float(draw(st.integers(1, 40)))
        final = draw(st.sampled_from(["matched", "rejected", "settled", "failed"]))
        placed = T0 + 1500 + 100 * n
        records.append(("bets", bet(100 + n, placed, stake, "placed", placed)))
        records.append(("bets", bet(100 + n, placed + 400, stake, final, placed)))
        if final not in ("rejected", "failed"):
            hedged += stake
    shuffled = draw(st.permutations(records))
    duplicates = draw(st.lists(st.sampled_from(records), max_size=4))
    return list(shuffled) + duplicates, fills[-1], hedged


@settings(max_examples=300, deadline=None)
@given(order_histories())
def test_totals_equal_the_truth_under_any_interleaving(
    history: tuple[list[tuple[str, dict[str, Any]]], float, float],
) -> None:
    records, filled, hedged = history
    state, _outputs = fold(records, T0)
    assert state["closed"] is False  # no settlement in these histories: the order stays open
    fill = logic.hedge_fill(state, SETTINGS)
    assert fill["filled_stake"] == filled
    assert abs(fill["hedged_stake"] - hedged) < 1e-9
    assert abs(fill["unhedged_stake"] - max(0.0, filled - hedged)) < 1e-9
    expected = (
        "HEDGED"
        if abs(hedged - filled) < 0.005
        else ("OVER_HEDGED" if hedged > filled else ("PARTIALLY_HEDGED" if hedged else None))
    )
    if expected:
        assert fill["status"] == expected
    else:
        assert fill["status"] in ("UNHEDGED", "HEDGE_REJECTED")


@settings(max_examples=100, deadline=None)
@given(order_histories())
def test_replaying_the_same_input_gives_the_same_outputs(
    history: tuple[list[tuple[str, dict[str, Any]]], float, float],
) -> None:
    records, _, _ = history
    _, first = fold(records, T0 + 10_000)
    _, second = fold(records, T0 + 10_000)
    assert first == second


def test_bet_before_fill_then_fill_is_hedged_and_latency_uses_event_time() -> None:
    records = [
        ("bets", bet(1, T0 + 400, 100.0, "placed", T0 + 400)),
        ("orders", order(T0 + 450, 100.0, "FILLED", matched_at=T0)),
    ]
    _state, outputs = fold(records, T0 + 500)
    fills = [o.value for o in outputs if o.topic_id == "hedge_fills"]
    assert fills[0]["status"] == "HEDGE_BEFORE_FILL"
    assert fills[-1]["status"] == "HEDGED"
    assert fills[-1]["hedge_latency_ms"] == 400
    assert fills[-1]["hedge_ratio"] == 1.0


def test_unhedged_fill_alerts_after_the_deadline_and_resolves_when_hedged_late() -> None:
    state, outputs = fold([("orders", order(T0, 100.0, "FILLED", matched_at=T0))], T0 + 1000)
    assert not [o for o in outputs if o.topic_id == "risk_alerts"]
    late = logic.advance(state, T0 + 5000, SETTINGS)
    alerts = [o.value for o in late if o.topic_id == "risk_alerts"]
    assert [(a["alert_type"], a["state"]) for a in alerts] == [("UNHEDGED_FILL", "OPEN")]
    assert logic.advance(state, T0 + 9000, SETTINGS) == [], "transitions only, no repeats"
    state = logic.step(state, "bets", bet(1, T0 + 8000, 100.0, "matched", T0 + 8000))
    resolved = [
        o.value for o in logic.advance(state, T0 + 9000, SETTINGS) if o.topic_id == "risk_alerts"
    ]
    assert [(a["alert_type"], a["state"]) for a in resolved] == [("UNHEDGED_FILL", "RESOLVED")]


def test_rejected_bet_alerts_once() -> None:
    records = [
        ("orders", order(T0, 50.0, "FILLED", matched_at=T0)),
        ("bets", bet(3, T0 + 300, 50.0, "rejected", T0 + 300)),
        ("bets", bet(3, T0 + 300, 50.0, "rejected", T0 + 300)),
    ]
    _, outputs = fold(records, T0 + 400)
    rejected = [o.value for o in outputs if o.topic_id == "risk_alerts"]
    assert [(a["alert_type"], a["subject"]) for a in rejected] == [("HEDGE_REJECTED", "bet:3")]


def test_a_rejection_other_bets_already_cover_opens_and_resolves_at_once() -> None:
    records = [
        ("orders", order(T0, 50.0, "FILLED", matched_at=T0)),
        ("bets", bet(3, T0 + 100, 50.0, "placed", T0 + 100)),
        ("bets", bet(4, T0 + 200, 50.0, "placed", T0 + 200)),
        ("bets", bet(3, T0 + 300, 50.0, "rejected", T0 + 100)),
    ]
    state, outputs = fold(records, T0 + 400)
    alerts = [o.value for o in outputs if o.topic_id == "risk_alerts"]
    assert [(a["alert_type"], a["state"]) for a in alerts] == [
        ("HEDGE_REJECTED", "OPEN"),
        ("HEDGE_REJECTED", "RESOLVED"),
    ], "the alert must not stay open until some later record or the order's expiry"
    assert logic.advance(state, T0 + 500, SETTINGS) == []


def test_settled_hedged_orders_shrink_and_late_duplicates_stay_harmless() -> None:
    records = [
        ("orders", order(T0, 100.0, "FILLED", matched_at=T0)),
        ("bets", bet(1, T0 + 300, 100.0, "matched", T0 + 300)),
        ("orders", order(T0 + 5000, 100.0, "FILLED", "WON", matched_at=T0)),
        ("bets", bet(1, T0 + 5100, 100.0, "settled", T0 + 300)),
    ]
    state, _ = fold(records, T0 + 5200)
    closed = logic.close_if_settled(state)
    assert closed["closed"] and len(closed) == 3
    again = logic.step(closed, "bets", records[1][1])
    assert logic.advance(again, T0 + 6000, SETTINGS) == []
    assert logic.expired(again, T0 + 5100 + 601_000, SETTINGS)


def test_unhedged_orders_are_not_closed_even_when_settled() -> None:
    records = [
        ("orders", order(T0, 100.0, "FILLED", matched_at=T0)),
        ("orders", order(T0 + 3000, 100.0, "FILLED", "LOST", matched_at=T0)),
    ]
    state, _ = fold(records, T0 + 3100)
    assert logic.close_if_settled(state) is state
    assert logic.exposure(state) == 100.0


def test_on_a_backlog_the_deadline_also_waits_in_wall_time() -> None:
    """Stream time may jump past a deadline while the bets are still unread."""
    state = logic.step(
        logic.new_state(7), "orders", order(T0, 100.0, "FILLED", matched_at=T0), wall_ms=50_000
    )
    early = logic.advance(state, T0 + 9000, SETTINGS, wall_ms=51_000)
    assert not [o for o in early if o.topic_id == "risk_alerts"]
    late = logic.advance(state, T0 + 9000, SETTINGS, wall_ms=55_000)
    assert [o.value["state"] for o in late if o.topic_id == "risk_alerts"] == ["OPEN"]


@settings(max_examples=200, deadline=None)
@given(order_histories(), st.integers(0, 20_000))
def test_nothing_changes_before_the_state_is_next_due(
    history: tuple[list[tuple[str, dict[str, Any]]], float, float], offset: int
) -> None:
    """The deadline timer only looks at due orders: before `next_due`, evaluating the state
    again (at any stream time) gives nothing new and it has not expired."""
    state: State = logic.new_state(7)
    now = T0
    for topic_id, record in history[0]:
        state = logic.step(state, topic_id, record)
        logic.advance(state, now, SETTINGS)
    due = logic.next_due(state, SETTINGS)
    assert due is not None
    before = min(due - 1, now + offset)
    assert logic.advance(state, before, SETTINGS) == []
    assert not logic.expired(state, before, SETTINGS)


def test_an_unhedged_fill_is_due_at_its_deadline_then_at_its_expiry() -> None:
    state = logic.step(logic.new_state(7), "orders", order(T0, 100.0, "FILLED", matched_at=T0))
    assert logic.next_due(state, SETTINGS) == T0 + 5000
    logic.advance(state, T0 + 5000, SETTINGS)  # the alert opens
    assert logic.next_due(state, SETTINGS) == T0 + int(SETTINGS.retention_s * 1000) + 1


def test_an_order_leaving_state_withdraws_its_unhedged_exposure() -> None:
    """The deadline timer removing an expired order tells the emergency agent, which would
    otherwise count that order's unhedged stake for ever."""
    from processors import signals

    state = logic.step(logic.new_state(7), "orders", order(T0, 100.0, matched_at=T0))
    sent = logic.emergency_signals(state, logic.advance(state, T0, SETTINGS))
    [opened] = [signals.decode(o.value) for o in sent]
    assert opened == signals.Exposure(7, "f1", 100.0, T0)
    assert logic.emergency_signals(state, []) == [], "unchanged exposure is not sent again"
    expiry = T0 + int(SETTINGS.retention_s * 1000) + 1
    assert logic.expired(state, expiry, SETTINGS)
    [left] = [signals.decode(o.value) for o in logic.leaving(state, expiry)]
    assert left == signals.Exposure(7, "f1", 0.0, expiry)
    assert logic.leaving(state, expiry) == [], "once"


def test_a_hedged_order_leaving_state_sends_nothing() -> None:
    state = logic.step(logic.new_state(7), "orders", order(T0, 100.0, matched_at=T0))
    state = logic.step(state, "bets", bet(1, T0 + 100, 100.0, "matched", T0 + 100))
    logic.emergency_signals(state, logic.advance(state, T0 + 100, SETTINGS))
    assert logic.leaving(state, T0 + 10**8) == []
