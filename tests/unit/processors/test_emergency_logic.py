"""Emergency detection: each scope publishes its transitions once, with cause and durations."""

from __future__ import annotations

from typing import Any

from processors import signals
from processors.common import Output
from processors.emergency import logic
from processors.emergency.state import State
from processors.settings import ProcessorSettings

SETTINGS = ProcessorSettings(
    exposure_limit=150.0,
    rejection_threshold=2,
    rejection_window_s=10,
    mmapi_silence_s=5,
    predexon_silence_s=5,
)
T0 = 1_771_149_600_000


def apply(state: State, value: dict[str, Any]) -> list[Output]:
    return logic.apply_signal(state, signals.decode(value), SETTINGS)


def records(outputs: list[Output], topic_id: str) -> list[dict[str, object]]:
    return [o.value for o in outputs if o.topic_id == topic_id]


def test_feed_flag_transitions_once_with_previous_duration() -> None:
    state = logic.new_state(T0)
    on = logic.apply_flag(state, True, "Manual trigger", T0 + 1000)
    again = logic.apply_flag(state, True, "Manual trigger", T0 + 1500)
    off = logic.apply_flag(state, False, "Manual release", T0 + 4000)
    assert [(r["scope"], r["active"], r["cause"]) for r in records(on, "risk_emergency")] == [
        ("mmapi", True, "FEED_FLAG")
    ]
    assert again == []
    [released] = records(off, "risk_emergency")
    assert released["active"] is False and released["previous_state_ms"] == 3000
    states = [a["state"] for a in records(on + off, "risk_alerts")]
    assert states == ["OPEN", "RESOLVED"]


def test_unhedged_exposure_over_the_limit_and_back() -> None:
    state = logic.new_state(T0)
    outputs = []
    for order_id, unhedged in ((1, 100.0), (2, 100.0), (1, 0.0)):
        outputs += apply(
            state,
            {
                "kind": "exposure",
                "order_id": order_id,
                "fixture_id": "f",
                "unhedged": unhedged,
                "at": T0 + order_id,
            },
        )
    changes = [(r["scope"], r["active"], r["value"]) for r in records(outputs, "risk_emergency")]
    assert changes == [("unhedged_exposure", True, 200.0), ("unhedged_exposure", False, 100.0)]


def test_hedge_rejections_in_a_sliding_window() -> None:
    state = logic.new_state(T0)
    out = apply(state, {"kind": "rejection", "bet_id": "a", "at": T0})
    out += apply(state, {"kind": "rejection", "bet_id": "a", "at": T0})
    assert records(out, "risk_emergency") == [], "a duplicate is one rejection"
    out = apply(state, {"kind": "rejection", "bet_id": "b", "at": T0 + 2000})
    assert records(out, "risk_emergency")[0]["active"] is True
    state["watermark"] = T0 + 30_000
    out = logic.tick(state, T0 + 30_000, SETTINGS)
    scopes = {(r["scope"], r["active"]) for r in records(out, "risk_emergency")}
    assert ("hedge_rejections", False) in scopes


def test_silence_in_wall_time_and_stream_time() -> None:
    state = logic.new_state(T0)
    assert logic.tick(state, T0 + 4000, SETTINGS) == []
    silent = records(logic.tick(state, T0 + 6000, SETTINGS), "risk_emergency")
    assert {r["scope"] for r in silent} == {"feed_silence:mmapi", "feed_silence:predexon"}
    back = apply(
        state,
        {
            "kind": "activity",
            "feed": "mmapi",
            "event_ms": T0 + 6000,
            "wall_ms": T0 + 6100,
            "at": T0 + 6000,
        },
    )
    assert [(r["scope"], r["active"]) for r in records(back, "risk_emergency")] == [
        ("feed_silence:mmapi", False)
    ]
    # stream time: MM API keeps flowing while Predexon's last record falls behind
    apply(
        state,
        {
            "kind": "activity",
            "feed": "predexon",
            "event_ms": T0 + 6000,
            "wall_ms": T0 + 6100,
            "at": T0 + 6000,
        },
    )
    out = apply(
        state,
        {
            "kind": "activity",
            "feed": "mmapi",
            "event_ms": T0 + 20_000,
            "wall_ms": T0 + 6200,
            "at": T0 + 20_000,
        },
    )
    assert ("feed_silence:predexon", True) in {
        (r["scope"], r["active"]) for r in records(out, "risk_emergency")
    }


def test_score_conflict_matters_only_on_fixtures_with_open_orders() -> None:
    state = logic.new_state(T0)
    out = apply(
        state, {"kind": "conflict", "game_id": "g", "fixture_id": "f1", "active": True, "at": T0}
    )
    assert records(out, "risk_emergency") == []
    out = apply(
        state,
        {"kind": "exposure", "order_id": 1, "fixture_id": "f1", "unhedged": 10.0, "at": T0 + 1},
    )
    assert ("score_conflict", True) in {
        (r["scope"], r["active"]) for r in records(out, "risk_emergency")
    }


def test_the_first_activation_has_no_previous_duration_and_later_ones_a_true_one() -> None:
    """A derived scope's first activation carries null (not the time since the epoch), each
    later one how long the scope was off, and each release how long it was on."""
    state = logic.new_state(T0)
    assert logic.tick(state, T0 + 1000, SETTINGS) == []  # the window starts empty (watermark 0)
    out = apply(state, {"kind": "rejection", "bet_id": "a", "at": T0 + 2000})
    out += apply(state, {"kind": "rejection", "bet_id": "b", "at": T0 + 3000})
    state["watermark"] = T0 + 20_000
    out += logic.tick(state, T0 + 20_000, SETTINGS)
    out += apply(state, {"kind": "rejection", "bet_id": "c", "at": T0 + 25_000})
    out += apply(state, {"kind": "rejection", "bet_id": "d", "at": T0 + 26_000})
    rejections = [r for r in records(out, "risk_emergency") if r["scope"] == "hedge_rejections"]
    assert [(r["active"], r["previous_state_ms"]) for r in rejections] == [
        (True, None),
        (False, 17_000),
        (True, 6_000),
    ]


def test_one_activation_per_conflict_window_even_when_exposure_comes_and_goes() -> None:
    state = logic.new_state(T0)
    out = apply(
        state, {"kind": "conflict", "game_id": "g", "fixture_id": "f1", "active": True, "at": T0}
    )
    for n, unhedged in enumerate((10.0, 0.0, 20.0, 0.0)):
        out += apply(
            state,
            {
                "kind": "exposure",
                "order_id": n % 2,
                "fixture_id": "f1",
                "unhedged": unhedged,
                "at": T0 + n,
            },
        )
    out += apply(
        state,
        {"kind": "conflict", "game_id": "g", "fixture_id": "f1", "active": False, "at": T0 + 9},
    )
    scope = [r for r in records(out, "risk_emergency") if r["scope"] == "score_conflict"]
    assert [(r["active"], r["previous_state_ms"]) for r in scope] == [(True, None), (False, 9)]


def test_a_state_from_before_knows_no_duration_for_a_scope_inactive_since_zero() -> None:
    state = logic.new_state(T0)
    state["scopes"]["hedge_rejections"] = {"active": False, "since": 0}  # as written before
    out = apply(state, {"kind": "rejection", "bet_id": "a", "at": T0})
    out += apply(state, {"kind": "rejection", "bet_id": "b", "at": T0 + 1})
    [activation] = records(out, "risk_emergency")
    assert activation["previous_state_ms"] is None


def exposure(order_id: int, unhedged: float, at: int) -> signals.Exposure:
    return signals.Exposure(order_id, "f", unhedged, at)


def test_a_record_of_signals_checks_exposure_once_and_ends_as_one_by_one() -> None:
    """A record (one batch of the join) opening 400 exposures of 1, then closing 300: one
    transition per run of exposure signals, at its last signal's time, and the exposures
    applying each signal on its own gives."""
    received: list[signals.Signal] = [exposure(i, 1.0, T0 + i) for i in range(400)]
    received.append(signals.Activity("mmapi", T0 + 400, T0 + 400))
    received += [exposure(i, 0.0, T0 + 500 + i) for i in range(300)]
    batched, one_by_one = logic.new_state(T0), logic.new_state(T0)
    outputs = logic.apply_signals(batched, received, SETTINGS)
    for signal in received:
        logic.apply_signal(one_by_one, signal, SETTINGS)
    changes = [(r["scope"], r["active"], r["value"]) for r in records(outputs, "risk_emergency")]
    assert changes == [("unhedged_exposure", True, 400.0), ("unhedged_exposure", False, 100.0)]
    assert batched["exposure"] == one_by_one["exposure"]
    scope, alone = batched["scopes"]["unhedged_exposure"], one_by_one["scopes"]["unhedged_exposure"]
    assert scope["active"] is alone["active"] is False
    # the run's transition is at its last signal (one by one: the signal that crossed back)
    assert (scope["since"], alone["since"]) == (T0 + 799, T0 + 749)


def test_a_conflict_ending_before_the_exposure_that_activated_it_lasts_zero_not_less() -> None:
    """The score agent's end of a conflict, judged on its own stream clock, may carry a time
    before the hedge agent's exposure that activated the scope (their clocks differ after a
    broker failover: 3-node broker-kill test, previous_state_ms -296). A scope's change is
    never earlier than its last one: the deactivation comes at the activation's time."""
    state = logic.new_state(T0)
    out = logic.apply_signal(state, signals.Conflict("g", "f", True, T0 + 1_000), SETTINGS)
    out += logic.apply_signal(state, exposure(1, 50.0, T0 + 2_000), SETTINGS)
    out += logic.apply_signal(state, signals.Conflict("g", "f", False, T0 + 1_700), SETTINGS)
    on, off = [r for r in records(out, "risk_emergency") if r["scope"] == "score_conflict"]
    assert on["active"] and on["changed_at"] == T0 + 2_000
    assert not off["active"] and off["changed_at"] == T0 + 2_000
    assert off["previous_state_ms"] == 0
