"""Score reconciliation: agreement, lag, conflicts (with alerts) and staleness."""

from __future__ import annotations

from typing import Any

from processors.scores import logic
from processors.settings import ProcessorSettings

SETTINGS = ProcessorSettings(lag_grace_s=2.0, conflict_alert_s=2.0, stale_s=30.0)
T0 = 1_771_149_600_000


def view(home: int, away: int, received: int) -> dict[str, Any]:
    return {
        "home": home,
        "away": away,
        "period": "1st",
        "clock": None,
        "live": True,
        "ended": False,
        "updated_at": received,
        "received_at": received,
    }


def feed(state: logic.State, provider: str, home: int, away: int, at: int) -> list[Any]:
    logic.apply_view(state, provider, view(home, away, at), 2000)
    return logic.evaluate(state, at, SETTINGS)


def last(outputs: list[Any], topic_id: str) -> dict[str, Any]:
    return [o.value for o in outputs if o.topic_id == topic_id][-1]


def test_one_sided_then_agree_with_the_leader_and_lag() -> None:
    state = logic.new_state("g1", "f1")
    assert last(feed(state, "predexon", 1, 0, T0), "scores_reconciled")["status"] == "ONE_SIDED"
    catching = last(feed(state, "mmapi", 0, 0, T0 + 100), "scores_reconciled")
    assert catching["status"] == "CATCHING_UP"
    agree = last(feed(state, "mmapi", 1, 0, T0 + 1300), "scores_reconciled")
    assert (agree["status"], agree["leader"], agree["lead_ms"]) == ("AGREE", "predexon", 1300)


def test_a_lasting_conflict_alerts_and_resolves() -> None:
    state = logic.new_state("g1", "f1")
    feed(state, "predexon", 1, 0, T0)
    feed(state, "mmapi", 1, 0, T0 + 200)
    feed(state, "mmapi", 2, 0, T0 + 10_000)  # MM API alone reports a goal
    outputs = logic.evaluate(state, T0 + 12_500, SETTINGS)
    assert last(outputs, "scores_reconciled")["status"] == "CONFLICT"
    outputs += logic.evaluate(state, T0 + 14_100, SETTINGS)
    alert = last(outputs, "risk_alerts")
    assert (alert["alert_type"], alert["state"], alert["opened_at"]) == (
        "SCORE_CONFLICT",
        "OPEN",
        T0 + 10_000,
    )
    signal = last(outputs, "signals")
    assert signal["active"] is True and signal["fixture_id"] == "f1"
    resolved = feed(state, "mmapi", 1, 0, T0 + 16_000)
    assert last(resolved, "risk_alerts")["state"] == "RESOLVED"
    assert last(resolved, "scores_reconciled")["status"] == "AGREE"


def test_stale_provider_is_named() -> None:
    state = logic.new_state("g1", "f1")
    feed(state, "predexon", 0, 0, T0)
    outputs = feed(state, "mmapi", 2, 1, T0 + 45_000)
    record = last(outputs, "scores_reconciled")
    assert (record["status"], record["stale_provider"]) == ("STALE", "predexon")


def test_late_older_view_is_ignored_and_repeats_emit_nothing() -> None:
    state = logic.new_state("g1", "f1")
    feed(state, "predexon", 2, 0, T0 + 10_000)
    feed(state, "mmapi", 2, 0, T0 + 10_100)
    assert feed(state, "predexon", 1, 0, T0 + 1_000) == []
    assert state["views"]["predexon"]["home"] == 2
    assert logic.evaluate(state, T0 + 20_000, SETTINGS) == []
