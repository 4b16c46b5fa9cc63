"""Score reconciliation: each provider's view of a mapped game, whether they agree, and the
conflict / stale windows (each opened and resolved once) with their alerts and signals.

Times are the connectors' receive times (one clock for both providers), so "who showed the
score first, and how much later the other did" compares like with like. Pure functions over a
JSON-able state per game_id (`processors/scores/state.py`); the judgement of one moment is
`processors/scores/judge.py`.
"""

from __future__ import annotations

from typing import Any, cast

from processors import signals
from processors.common import Output, alert, fingerprint
from processors.scores.judge import (
    PROVIDERS,
    Assessment,
    assess,
    at_most,
    other,
    passed_at,
    reached,
    score_of,
)
from processors.scores.state import ConflictWindow, StaleWindow, View
from processors.scores.state import State as State  # re-exported: logic.State
from processors.settings import ProcessorSettings
from schemas.values import millis

SEGMENTS_KEPT = 64  # scores remembered per provider (older ones also go after 3 x max lag)
GAPS_KEPT = 8  # update intervals remembered per provider, for the stale threshold
CALM = ("AGREE", "CATCHING_UP")


def new_state(game_id: str, fixture_id: str | None) -> State:
    return upgrade(cast(State, {"game_id": game_id, "fixture_id": fixture_id, "views": {}}))


def upgrade(state: State) -> State:
    """Fill in what a state written by an older version lacks (tables outlive versions)."""
    if not isinstance(state.get("last_received"), dict):
        state["last_received"] = {p: v["received_at"] for p, v in state["views"].items()}
    state.setdefault("segments", {})
    state.setdefault("pruned", {})
    state.setdefault("gaps", {})
    state.setdefault("missed_since", {})
    state.setdefault("status", None)
    state.setdefault("emitted", None)
    state.setdefault("disagree_since", None)
    state.setdefault("flag_since", None)
    state.setdefault("stale_flag_since", None)
    state.setdefault("withdrawn", None)
    state.setdefault("conflict", None)
    state.setdefault("stale", None)
    state.setdefault("stale_unflagged", None)
    state.setdefault("conflict_ended", 0)
    return state


def mmapi_view(record: dict[str, Any]) -> View:
    payload = record["payload"]
    scores = payload.get("scores") or {}
    received = millis(record["envelope"]["received_at"]) or 0
    minute = payload.get("currentMinute")
    return {
        "home": scores.get("home"),
        "away": scores.get("away"),
        "period": payload.get("currentPeriod"),
        "clock": None if minute is None else f"{minute}'",
        "live": payload.get("live"),
        "ended": None,
        "updated_at": millis(payload.get("updatedAt")) or received,
        "received_at": received,
    }


def predexon_view(record: dict[str, Any]) -> View:
    score = record.get("score") or {}
    reliability = record.get("reliability") or {}
    received = millis(record["envelope"]["received_at"]) or 0
    return {
        "home": score.get("home"),
        "away": score.get("away"),
        "period": record.get("period"),
        "clock": record.get("clock"),
        "live": record.get("live"),
        "ended": record.get("ended"),
        "updated_at": millis(record.get("updated_at")) or received,
        "received_at": received,
        "reliability": reliability.get("state"),
        "conflict": reliability.get("conflict"),
        "stale": reliability.get("stale"),
    }


def apply_view(state: State, provider: str, view: View, settings: ProcessorSettings) -> State:
    """Take a provider's new view; one older than the current by more than the out-of-order
    grace is late and ignored, and so is one received no later than the current (a record read
    again after a rebalance, at-least-once: it would otherwise count as the provider updating
    an unchanged score, and start the other's silence clock)."""
    upgrade(state)
    current = state["views"].get(provider)
    grace_ms = int(settings.out_of_order_grace_s * 1000)
    if current is not None and view["updated_at"] < current["updated_at"] - grace_ms:
        return state
    received = int(view["received_at"])
    if current is not None and (received, view["updated_at"]) <= (
        int(current["received_at"]),
        current["updated_at"],
    ):
        return state
    same_score = current is not None and score_of(current) == score_of(view)
    view["score_since"] = (
        current.get("score_since", received) if same_score and current else received
    )
    state["views"][provider] = view
    note_segment(state, provider, view, settings)
    agreeing = score_of(view) == score_of(state["views"].get(other(provider)))
    note_timing(state, provider, received, same_score and agreeing)
    if provider == "predexon":
        flagged = bool(view.get("conflict"))
        state["flag_since"] = (state["flag_since"] or received) if flagged else None
        stale = bool(view.get("stale"))
        flagged_since = state["stale_flag_since"]
        if not stale and flagged_since is not None:
            # the flag's span, for a window if it was never evaluated while shown (a backlog
            # read in one batch after a failover): as `withdrawn` is for a conflict
            state["stale_unflagged"] = (flagged_since, received)
        state["stale_flag_since"] = (flagged_since or received) if stale else None
    mine, theirs = score_of(view), score_of(state["views"].get(other(provider)))
    explained = any(passed_at(state, p) is not None for p in PROVIDERS)
    if mine is None or theirs is None or mine == theirs or explained:
        state["disagree_since"] = None  # agreeing, or a trailing that the lag judges
    elif state["disagree_since"] is None:
        state["disagree_since"] = received
    return state


def note_segment(state: State, provider: str, view: View, settings: ProcessorSettings) -> None:
    """Remember the scores a provider showed; a score withdrawn (the provider going backwards)
    that the other provider never reached, and that was shown for longer than the grace, is
    evidence of a conflict over the time it was shown."""
    score = score_of(view)
    if score is None:
        return
    segments = state["segments"].setdefault(provider, [])
    received = int(view["received_at"])
    if segments and (segments[-1][0], segments[-1][1]) == score:
        return
    if segments:
        last = (segments[-1][0], segments[-1][1])
        shown_ms = received - segments[-1][2]
        if (
            not at_most(last, score)
            and shown_ms >= settings.conflict_grace_s * 1000
            and not reached(
                state,
                other(provider),
                last,
                segments[-1][2],
                received,
                int(settings.max_lag_s * 1000),
            )
        ):
            state["withdrawn"] = (provider, segments[-1][2], received)
    segments.append((score[0], score[1], received))
    horizon = received - 3 * int(settings.max_lag_s * 1000)
    while len(segments) > 1 and (len(segments) > SEGMENTS_KEPT or segments[1][2] < horizon):
        state["pruned"][provider] = segments[1][2]  # when the dropped score was left
        segments.pop(0)


def note_timing(state: State, provider: str, received: int, update_only: bool) -> None:
    """Update intervals, and silence: a record that updates an agreed game without changing
    its score starts the other provider's silence clock (a new score does not: the other may
    just be catching up, which `passed_at` judges with the maximum lag)."""
    previous = state["last_received"].get(provider)
    if previous is not None and received > previous:
        gaps = state["gaps"].setdefault(provider, [])
        gaps.append(received - previous)
        del gaps[:-GAPS_KEPT]
    state["last_received"][provider] = max(previous or 0, received)
    state["missed_since"][provider] = None
    peer = other(provider)
    if update_only and peer in state["last_received"] and state["missed_since"].get(peer) is None:
        state["missed_since"][peer] = received


def advance(state: State, now_ms: int, settings: ProcessorSettings) -> list[Output]:
    """Advance the game to stream time `now_ms`: the reconciliation record (on change), and the
    conflict / stale windows' alerts and the emergency agent's conflict signals; the windows,
    the status and what was reported are noted in `state`, so each is reported once."""
    upgrade(state)
    judged = assess(state, now_ms, settings)
    outputs = conflict_window(state, judged, now_ms, settings)
    outputs += stale_window(state, judged, now_ms, settings)
    state["status"] = judged.status
    record = reconciliation(state, judged, now_ms)
    comparable = {k: v for k, v in record.items() if k not in ("evaluated_at", "lag_ms")}
    print_ = fingerprint(comparable)
    if print_ != state["emitted"]:
        state["emitted"] = print_
        outputs.insert(0, Output("scores_reconciled", state["game_id"], record))
    return outputs


def conflict_window(
    state: State, judged: Assessment, now_ms: int, settings: ProcessorSettings
) -> list[Output]:
    """One window per conflict: opened on the first evidence, resolved once the pair has been
    calm (agreeing, or catching up within the lag) for the hysteresis."""
    withdrawn = state["withdrawn"]
    state["withdrawn"] = None
    if withdrawn is not None and withdrawn[1] <= state["conflict_ended"]:
        withdrawn = None  # shown while a window already reported covered it
    window = state["conflict"]
    outputs: list[Output] = []
    evidence = judged.status == "CONFLICT"
    if window is None and (evidence or withdrawn is not None):
        if evidence or withdrawn is None:
            since, cause, calm_since = judged.since or now_ms, judged.cause, None
        else:
            since, cause, calm_since = withdrawn[1], "SCORE_WITHDRAWN", withdrawn[2]
        window = state["conflict"] = ConflictWindow(
            since=since, cause=cause, calm_since=calm_since, detected=now_ms
        )
        outputs += conflict_outputs(state, True, since, now_ms)
    if window is None:
        return outputs
    if evidence or judged.status not in CALM:
        window["calm_since"] = None
        return outputs
    calm = window["calm_since"]
    if calm is None:
        calm = window["calm_since"] = now_ms
    if now_ms - calm >= settings.resolve_hysteresis_s * 1000:
        state["conflict"] = None
        state["conflict_ended"] = calm
        # the emergency agent hears of the end no earlier than it heard of the start
        ended = max(calm, window.get("detected", 0))
        outputs += conflict_outputs(state, False, window["since"], calm, ended)
    return outputs


def conflict_outputs(
    state: State, active: bool, since: int, at: int, signal_at: int | None = None
) -> list[Output]:
    game_id, window = state["game_id"], state["conflict"]
    mm, px = state["views"].get("mmapi"), state["views"].get("predexon")
    details = {"mmapi": score_text(mm), "predexon": score_text(px)}
    if active:
        details["cause"] = window["cause"] if window else None
        message = f"{game_id}: MM API {details['mmapi']} vs Predexon {details['predexon']}"
    else:
        message = f"{game_id}: providers agree again"
    return [
        alert(
            "SCORE_CONFLICT",
            f"game:{game_id}",
            "OPEN" if active else "RESOLVED",
            "WARNING",
            message,
            since,
            None if active else at,
            details=details,
            game_id=game_id,
            fixture_id=state["fixture_id"],
        ),
        signals.output(signals.Conflict(game_id, state["fixture_id"], active, signal_at or at)),
    ]


def stale_window(
    state: State, judged: Assessment, now_ms: int, settings: ProcessorSettings
) -> list[Output]:
    window, unflagged = state["stale"], state["stale_unflagged"]
    state["stale_unflagged"] = None
    if window is None and unflagged is not None and judged.status != "STALE":
        # Predexon flagged stale and back in one batch: the window it showed, its calm from
        # the return (resolved below once the hysteresis has passed)
        since, back = int(unflagged[0]), int(unflagged[1])
        window = state["stale"] = StaleWindow(since=since, provider="predexon", calm_since=back)
        return [stale_alert(state, window, None), *stale_window(state, judged, now_ms, settings)]
    if judged.status == "STALE":
        if window is None:
            since = judged.since or now_ms
            opened = StaleWindow(since=since, provider=judged.stale, calm_since=None)
            state["stale"] = opened
            return [stale_alert(state, opened, None)]
        window["calm_since"] = None
        return []
    if window is None:
        return []
    calm = window["calm_since"]
    if calm is None:
        calm = window["calm_since"] = now_ms
    if now_ms - calm < settings.resolve_hysteresis_s * 1000:
        return []
    state["stale"] = None
    return [stale_alert(state, window, calm)]


def stale_alert(state: State, window: StaleWindow, resolved_at: int | None) -> Output:
    game_id, provider = state["game_id"], window["provider"]
    message = (
        f"{game_id}: {provider} stale (flagged, or silent while the other updates)"
        if resolved_at is None
        else f"{game_id}: {provider} updating again"
    )
    return alert(
        "SCORE_STALE",
        f"game:{game_id}",
        "OPEN" if resolved_at is None else "RESOLVED",
        "WARNING",
        message,
        window["since"],
        resolved_at,
        details={"provider": provider},
        game_id=game_id,
        fixture_id=state["fixture_id"],
    )


def score_text(view: View | None) -> str | None:
    score = score_of(view)
    return None if score is None else f"{score[0]}-{score[1]}"


def reconciliation(state: State, judged: Assessment, now_ms: int) -> dict[str, Any]:
    mm, px = state["views"].get("mmapi"), state["views"].get("predexon")
    leader, lead_ms = None, None
    if judged.status == "AGREE" and mm is not None and px is not None:
        lead_ms = abs(mm["score_since"] - px["score_since"])
        if lead_ms:
            leader = "mmapi" if mm["score_since"] < px["score_since"] else "predexon"
    behind = judged.behind_since if judged.status == "CATCHING_UP" else None
    return {
        "game_id": state["game_id"],
        "fixture_id": state["fixture_id"],
        "status": judged.status,
        "mmapi": public_view(mm),
        "predexon": public_view(px),
        "mmapi_score": score_text(mm),
        "predexon_score": score_text(px),
        "leader": leader,
        "lead_ms": lead_ms,
        "lagging_provider": judged.lagging,
        "behind_since": behind,
        "lag_ms": None if behind is None else max(0, now_ms - behind),
        "stale_provider": judged.stale,
        "conflict_since": state["conflict"]["since"] if state["conflict"] else None,
        "predexon_reliability": px.get("reliability") if px else None,
        "predexon_conflict": px.get("conflict") if px else None,
        "predexon_stale": px.get("stale") if px else None,
        "evaluated_at": now_ms,
    }


def public_view(view: View | None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {
        "home": view["home"],
        "away": view["away"],
        "period": view["period"],
        "clock": view["clock"],
        "live": view["live"],
        "ended": view["ended"],
        "updated_at": view["updated_at"],
        "score_since": view["score_since"],
    }
