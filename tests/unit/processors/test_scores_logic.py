"""Score reconciliation: lag is catching up, conflicts and stale windows are reported once."""

from __future__ import annotations

from typing import Any, cast

from processors.scores import logic
from processors.scores.state import State
from tests.unit.processors.score_timelines import SETTINGS, T0, Shown, replay, view


def test_one_sided_then_catching_up_with_its_lag_then_agree_with_the_leader() -> None:
    _, run = replay([Shown(0, "predexon", 1, 0), Shown(100, "mmapi", 0, 0)], tail_ms=0)
    catching = run.statuses[-1][1]
    assert run.statuses[0][1]["status"] == "ONE_SIDED"
    assert catching["status"] == "CATCHING_UP"
    assert catching["lagging_provider"] == "mmapi"
    _, run = replay(
        [Shown(0, "predexon", 1, 0), Shown(100, "mmapi", 0, 0), Shown(9_100, "mmapi", 1, 0)]
    )
    caught = [r for _, r in run.statuses if r["status"] == "CATCHING_UP"]
    assert caught and all(r["lagging_provider"] == "mmapi" for r in caught)
    agree = run.statuses[-1][1]
    assert (agree["status"], agree["leader"], agree["lead_ms"]) == ("AGREE", "predexon", 9_100)
    assert run.alerts("SCORE_CONFLICT", "OPEN") == [] and run.signals() == []


def test_a_provider_trailing_by_seconds_on_every_score_is_never_a_conflict() -> None:
    records = []
    for n in range(1, 12):
        records += [
            Shown(n * 3_000, "mmapi", n, n // 2),
            Shown(n * 3_000 + 8_500, "predexon", n, n // 2),
        ]
    _, run = replay(records)
    assert run.seen("CONFLICT") == [] and run.seen("STALE") == []
    assert [o for o in run.outputs if o.topic_id in ("risk_alerts", "signals")] == []
    lags = [r["lag_ms"] for _, r in run.statuses if r["status"] == "CATCHING_UP"]
    assert lags and all(r is not None for r in lags)


def test_trailing_longer_than_the_maximum_lag_while_sending_is_one_conflict() -> None:
    records = [Shown(0, "mmapi", 0, 0), Shown(0, "predexon", 0, 0), Shown(1_000, "mmapi", 1, 0)]
    records += [Shown(t, "predexon", 0, 0) for t in range(2_000, 16_000, 1_000)]  # still 0-0
    records += [Shown(16_000, "predexon", 1, 0)]
    _, run = replay(records)
    [opened] = run.alerts("SCORE_CONFLICT", "OPEN")
    [resolved] = run.alerts("SCORE_CONFLICT", "RESOLVED")
    assert opened["opened_at"] == T0 + 1_000 and opened["details"]["cause"] == "TRAILING_TOO_LONG"
    assert resolved["resolved_at"] == T0 + 16_000
    assert [s["active"] for s in run.signals()] == [True, False]


def test_a_disagreement_lag_cannot_explain_opens_after_the_grace_and_resolves_once() -> None:
    records = [Shown(0, "mmapi", 1, 0), Shown(500, "predexon", 1, 0)]
    records += [Shown(10_000, "mmapi", 2, 0), Shown(10_400, "predexon", 1, 1)]  # 2-0 vs 1-1
    records += [Shown(15_000, "mmapi", 1, 1)]  # MM API corrects
    records += [Shown(15_900, "predexon", 2, 1), Shown(16_100, "mmapi", 2, 1)]  # a new goal
    _, run = replay(records)
    [opened] = run.alerts("SCORE_CONFLICT", "OPEN")
    assert opened["opened_at"] == T0 + 10_400
    assert min(run.seen("CONFLICT")) >= 10_400 + 2_000
    [resolved] = run.alerts("SCORE_CONFLICT", "RESOLVED")
    assert resolved["resolved_at"] == T0 + 15_000, "calm since the correction"


def test_the_issue_case_a_flagged_phantom_then_normal_trailing_gives_one_window() -> None:
    """Predexon's phantom point, `reliability.conflict`, corrected 5 s later; then Predexon
    trails MM API by seconds as usual: one alert opened and resolved, one signal pair."""
    records = [Shown(0, "mmapi", 1, 0), Shown(1_500, "predexon", 1, 0)]
    records += [Shown(20_000, "predexon", 2, 0, conflict=True)]
    records += [Shown(25_000, "predexon", 1, 0)]
    for n in range(1, 6):
        records += [
            Shown(26_000 + n * 4_000, "mmapi", 1, n),
            Shown(29_000 + n * 4_000, "predexon", 1, n),
        ]
    _, run = replay(records)
    [opened] = run.alerts("SCORE_CONFLICT", "OPEN")
    assert opened["opened_at"] == T0 + 20_000 and opened["details"]["cause"] == "PROVIDER_FLAG"
    assert len(run.alerts("SCORE_CONFLICT", "RESOLVED")) == 1
    assert [s["active"] for s in run.signals()] == [True, False]
    assert max(run.seen("CONFLICT")) < 25_000


def test_an_unflagged_phantom_withdrawn_before_the_lag_runs_out_is_one_conflict() -> None:
    records = [Shown(0, "mmapi", 1, 0), Shown(700, "predexon", 1, 0)]
    records += [Shown(20_000, "mmapi", 2, 0), Shown(25_000, "mmapi", 1, 0)]
    _, run = replay(records)
    [opened] = run.alerts("SCORE_CONFLICT", "OPEN")
    [resolved] = run.alerts("SCORE_CONFLICT", "RESOLVED")
    assert opened["details"]["cause"] == "SCORE_WITHDRAWN"
    assert (opened["opened_at"], resolved["resolved_at"]) == (T0 + 20_000, T0 + 25_000)


def test_a_flagged_stale_provider_is_stale_not_conflict_and_alerts_once() -> None:
    records = [Shown(0, "mmapi", 0, 0), Shown(800, "predexon", 0, 0)]
    records += [Shown(5_000, "predexon", 0, 0, stale=True)]
    records += [Shown(t, "mmapi", n, 0) for n, t in enumerate((6_000, 8_000, 10_500), start=1)]
    records += [Shown(11_000, "predexon", 3, 0)]
    _, run = replay(records)
    assert run.seen("CONFLICT") == [] and run.alerts("SCORE_CONFLICT", "OPEN") == []
    [opened] = run.alerts("SCORE_STALE", "OPEN")
    [resolved] = run.alerts("SCORE_STALE", "RESOLVED")
    assert opened["opened_at"] == T0 + 5_000 and opened["details"]["provider"] == "predexon"
    assert resolved["resolved_at"] == T0 + 11_000
    assert (
        next(r["stale_provider"] for _, r in run.statuses if r["status"] == "STALE") == "predexon"
    )


def test_a_stale_flag_raised_and_withdrawn_within_one_backlog_is_one_stale_window() -> None:
    """The flag and Predexon's return read in one batch after a broker failover: the window
    is still reported, from the flagged record's time, and resolved (3-node broker-kill test:
    nothing was reported)."""
    records = [Shown(0, "mmapi", 0, 0), Shown(800, "predexon", 0, 0)]
    records += [Shown(5_000, "predexon", 0, 0, stale=True)]
    records += [Shown(t, "mmapi", n, 0) for n, t in enumerate((6_000, 8_000, 10_500), start=1)]
    records += [Shown(11_000, "predexon", 3, 0)]
    _, run = replay(records, held=(4_000, 16_000))
    [opened] = run.alerts("SCORE_STALE", "OPEN")
    [resolved] = run.alerts("SCORE_STALE", "RESOLVED")
    assert opened["opened_at"] == resolved["opened_at"] == T0 + 5_000
    assert resolved["resolved_at"] == T0 + 11_000 and opened["details"]["provider"] == "predexon"
    assert run.alerts("SCORE_CONFLICT", "OPEN") == []


def test_a_flagged_phantom_and_its_correction_within_one_backlog_is_one_conflict() -> None:
    records = [Shown(0, "mmapi", 0, 0), Shown(800, "predexon", 0, 0)]
    records += [Shown(6_000, "predexon", 1, 0, conflict=True), Shown(11_000, "predexon", 0, 0)]
    _, run = replay(records, held=(5_000, 14_000))
    [opened] = run.alerts("SCORE_CONFLICT", "OPEN")
    assert opened["opened_at"] == T0 + 6_000 and len(run.alerts("SCORE_CONFLICT", "RESOLVED")) == 1


def test_a_replayed_record_is_not_an_update_and_starts_no_silence() -> None:
    """At-least-once: after a rebalance the new owner of a game may read a view again that its
    recovered state already holds. The replay is not Predexon updating an agreed score, so it
    starts no silence clock for MM API (3-node broker-kill test: a false SCORE_STALE)."""
    records = [Shown(0, "mmapi", 0, 0), Shown(800, "predexon", 0, 0)]
    records += [Shown(800, "predexon", 0, 0)]  # the same record, read again
    _, run = replay(records, tail_ms=70_000)
    assert run.alerts("SCORE_STALE", "OPEN") == [] and run.seen("STALE") == []


def test_silence_while_the_other_scores_is_stale_after_the_maximum_lag() -> None:
    records = [Shown(0, "mmapi", 0, 0), Shown(800, "predexon", 0, 0), Shown(2_000, "mmapi", 1, 0)]
    records += [Shown(30_000, "predexon", 1, 0)]
    _, run = replay(records)
    assert min(run.seen("STALE")) > 12_000 and run.seen("CONFLICT") == []
    [opened] = run.alerts("SCORE_STALE", "OPEN")
    assert opened["opened_at"] == T0 + 2_000 and len(run.alerts("SCORE_STALE", "RESOLVED")) == 1


def test_late_older_view_is_ignored_and_repeats_emit_nothing() -> None:
    state = logic.new_state("g1", "f1")
    logic.apply_view(state, "predexon", view(Shown(10_000, "predexon", 2, 0)), SETTINGS)
    logic.apply_view(state, "mmapi", view(Shown(10_100, "mmapi", 2, 0)), SETTINGS)
    logic.advance(state, T0 + 10_100, SETTINGS)
    logic.apply_view(state, "predexon", view(Shown(1_000, "predexon", 1, 0)), SETTINGS)
    assert state["views"]["predexon"]["home"] == 2
    assert logic.advance(state, T0 + 20_000, SETTINGS) == []


def test_a_state_written_by_the_previous_version_is_upgraded() -> None:
    old: dict[str, Any] = {
        "game_id": "g1",
        "fixture_id": "f1",
        "views": {"mmapi": {**view(Shown(0, "mmapi", 1, 0)), "score_since": T0}},
        "status": "ONE_SIDED",
        "conflict_since": None,
        "conflict_alert": None,
        "emitted": None,
        "last_received": T0,
    }
    upgraded = cast(State, old)
    logic.apply_view(upgraded, "predexon", view(Shown(500, "predexon", 1, 0)), SETTINGS)
    [record] = [o.value for o in logic.advance(upgraded, T0 + 500, SETTINGS)]
    assert record["status"] == "AGREE"


def test_a_withdrawal_judged_late_ends_its_signal_no_earlier_than_it_began() -> None:
    """Evaluated a while after the correction (a batch, a tick later), the window is opened
    then; the emergency agent's conflict signal must not end before it began."""
    state = logic.new_state("g1", "f1")
    for record in (Shown(0, "mmapi", 1, 0), Shown(700, "predexon", 1, 0)):
        logic.apply_view(state, record.provider, view(record), SETTINGS)
    logic.apply_view(state, "mmapi", view(Shown(20_000, "mmapi", 2, 0)), SETTINGS)
    logic.advance(state, T0 + 20_000, SETTINGS)
    logic.apply_view(state, "mmapi", view(Shown(25_000, "mmapi", 1, 0)), SETTINGS)
    outputs = logic.advance(state, T0 + 26_500, SETTINGS)
    outputs += logic.advance(state, T0 + 29_000, SETTINGS)
    sent = [o.value for o in outputs if o.topic_id == "signals"]
    assert [(s["active"], s["at"]) for s in sent] == [(True, T0 + 26_500), (False, T0 + 26_500)]
    resolved = [o.value for o in outputs if o.topic_id == "risk_alerts"][-1]
    assert (resolved["state"], resolved["resolved_at"]) == ("RESOLVED", T0 + 25_000)
