"""Emergency detection: pure transitions of each scope (the feed's flag and derived triggers).

Signals come from the other agents (exposure per order, hedge rejections, conflicts on
fixtures, feed activity) and from `mmapi.emergency`. A scope's record is published only when it
changes state (compacted by scope), with the cause, the time and how long the previous state
lasted; every derived activation also opens (and later resolves) a `risk.alerts` record.
"""

from __future__ import annotations

from processors.common import Output, alert
from processors.emergency.state import Scope
from processors.emergency.state import State as State  # re-exported: logic.State
from processors.settings import ProcessorSettings
from processors.signals import Activity, Conflict, Exposure, Rejection, Signal

FEEDS = ("mmapi", "predexon")


def new_state(started_wall_ms: int) -> State:
    return {
        "scopes": {},
        "exposure": {},  # order_id -> [fixture_id, unhedged]
        "rejections": {},  # bet_id -> event ms
        "activity": {feed: {"event_ms": None, "wall_ms": started_wall_ms} for feed in FEEDS},
        "conflicts": {},  # game_id -> fixture_id
        "watermark": 0,
    }


def transition(
    state: State,
    scope: str,
    active: bool,
    cause: str,
    reason: str,
    at: int,
    value: float | None = None,
    threshold: float | None = None,
) -> list[Output]:
    """The records for `scope` becoming `active` (none if it already is)."""
    current = state["scopes"].get(scope)
    if current is not None and current["active"] == active:
        return []
    if current is None and not active:
        return []  # a scope is inactive until first activated; how long that lasted is unknown
    if current is not None:
        # never before the scope's last change: signals are timed on their own agent's stream
        # clock (a conflict's end by the scores agent, the exposure that activated the scope by
        # the hedge join), and those can differ by a backlog after a broker failover
        at = max(at, current.get("since", 0))
    # the first activation has no previous state of known length: null, not "since epoch"
    # (states written before this rule may hold an inactive scope "since" 0: unknown too)
    known = current is not None and current.get("since", 0) > 0
    previous_ms = at - current["since"] if known and current is not None else None
    entered: Scope = {"active": active, "since": at}
    state["scopes"][scope] = entered
    record = {
        "scope": scope,
        "active": active,
        "cause": cause,
        "reason": reason,
        "changed_at": at,
        "previous_state_ms": previous_ms,
        "value": value,
        "threshold": threshold,
    }
    outputs = [Output("risk_emergency", scope, record)]
    opened = at if active or current is None else current.get("opened", at)
    if active:
        state["scopes"][scope]["opened"] = at
    outputs.append(
        alert(
            "EMERGENCY",
            scope,
            "OPEN" if active else "RESOLVED",
            "CRITICAL",
            f"emergency {'on' if active else 'off'} ({scope}): {reason}",
            opened,
            None if active else at,
            details={"cause": cause, "value": value, "threshold": threshold},
        )
    )
    return outputs


def apply_flag(state: State, emergency: bool | None, reason: str | None, at: int) -> list[Output]:
    """The provider's own flag (authoritative for its mode)."""
    if emergency is None:
        return []
    text = reason or ("activated" if emergency else "deactivated")
    return transition(state, "mmapi", emergency, "FEED_FLAG", text, at)


def apply_signal(state: State, signal: Signal, settings: ProcessorSettings) -> list[Output]:
    at = advance_watermark(state, signal)
    if isinstance(signal, Exposure):
        record_exposure(state, signal, settings)
        return exposure_check(state, at, settings) + conflict_check(state, at)
    if isinstance(signal, Rejection):
        state["rejections"][str(signal.bet_id)] = at
        return rejection_check(state, at, settings)
    if isinstance(signal, Conflict):
        record_conflict(state, signal)
        return conflict_check(state, at)
    if isinstance(signal, Activity):
        activity = state["activity"][signal.feed]
        activity["event_ms"] = max(activity["event_ms"] or 0, int(signal.event_ms))
        activity["wall_ms"] = max(activity["wall_ms"], int(signal.wall_ms))
        return silence_check(state, int(signal.wall_ms), settings)
    raise TypeError(f"not a signal: {signal!r}")


def apply_signals(state: State, signals: list[Signal], settings: ProcessorSettings) -> list[Output]:
    """The signals of one record, in order, as `apply_signal` each, except that the exposure
    and conflict checks (whose cost grows with the open orders: per signal, quadratic on a
    backlog) run once after a run of consecutive exposure and conflict signals, at the time
    of its last one. A record carries the sender's changes of one batch, so the totals in
    between its signals are no state the desk was ever in."""
    outputs: list[Output] = []
    exposure_at: int | None = None
    conflict_at: int | None = None

    def checks() -> list[Output]:
        nonlocal exposure_at, conflict_at
        done: list[Output] = []
        if exposure_at is not None:
            done += exposure_check(state, exposure_at, settings)
        if conflict_at is not None:
            done += conflict_check(state, conflict_at)
        exposure_at = conflict_at = None
        return done

    for signal in signals:
        if isinstance(signal, Exposure | Conflict):
            at = advance_watermark(state, signal)
            if isinstance(signal, Exposure):
                record_exposure(state, signal, settings)
                exposure_at = at
            else:
                record_conflict(state, signal)
            conflict_at = at
            continue
        outputs += checks()
        outputs += apply_signal(state, signal, settings)
    return outputs + checks()


def advance_watermark(state: State, signal: Signal) -> int:
    """The signal's time (the watermark when it has none), the watermark moved up to it."""
    at = int(signal.at or state["watermark"])
    state["watermark"] = max(state["watermark"], at)
    return at


def record_conflict(state: State, signal: Conflict) -> None:
    if signal.active:
        state["conflicts"][signal.game_id] = signal.fixture_id
    else:
        state["conflicts"].pop(signal.game_id, None)


def record_exposure(state: State, signal: Exposure, settings: ProcessorSettings) -> None:
    if signal.unhedged > settings.stake_epsilon:
        state["exposure"][str(signal.order_id)] = (signal.fixture_id, signal.unhedged)
    else:
        state["exposure"].pop(str(signal.order_id), None)


def exposure_check(state: State, at: int, settings: ProcessorSettings) -> list[Output]:
    total = round(sum(unhedged for _, unhedged in state["exposure"].values()), 6)
    active = total > settings.exposure_limit
    reason = f"unhedged exposure {total:.2f} vs limit {settings.exposure_limit:.2f}"
    return transition(
        state,
        "unhedged_exposure",
        active,
        "UNHEDGED_EXPOSURE",
        reason,
        at,
        total,
        settings.exposure_limit,
    )


def rejection_check(state: State, at: int, settings: ProcessorSettings) -> list[Output]:
    window_ms = int(settings.rejection_window_s * 1000)
    recent = {b: t for b, t in state["rejections"].items() if t >= state["watermark"] - window_ms}
    state["rejections"] = recent
    active = len(recent) >= settings.rejection_threshold
    reason = f"{len(recent)} hedge rejections in {settings.rejection_window_s:.0f}s"
    return transition(
        state,
        "hedge_rejections",
        active,
        "HEDGE_REJECTIONS",
        reason,
        at,
        float(len(recent)),
        float(settings.rejection_threshold),
    )


def conflict_check(state: State, at: int) -> list[Output]:
    """Active while a score conflict concerns a fixture with open exposure. Once active it stays
    so until those conflicts resolve (exposure hedged meanwhile does not end it), so one
    conflict window gives at most one activation."""
    open_fixtures = {fixture for fixture, _ in state["exposure"].values()}
    current = state["scopes"].get("score_conflict")
    latched = set(current.get("games") or []) if current and current["active"] else set()
    risky = sorted(
        g for g, fixture in state["conflicts"].items() if fixture in open_fixtures or g in latched
    )
    reason = (
        ("score conflict on fixtures with open orders: " + ", ".join(risky))
        if risky
        else "no score conflict on fixtures with open orders"
    )
    outputs = transition(
        state, "score_conflict", bool(risky), "SCORE_CONFLICT", reason, at, float(len(risky)), 1.0
    )
    if risky:
        state["scopes"]["score_conflict"]["games"] = risky
    return outputs


def silence_check(state: State, wall_now_ms: int, settings: ProcessorSettings) -> list[Output]:
    outputs = []
    limits = {"mmapi": settings.mmapi_silence_s, "predexon": settings.predexon_silence_s}
    for feed, limit_s in limits.items():
        activity = state["activity"][feed]
        limit_ms = int(limit_s * 1000)
        wall_silent = wall_now_ms - activity["wall_ms"] > limit_ms
        stream_silent = (
            activity["event_ms"] is not None
            and state["watermark"] - activity["event_ms"] > limit_ms
        )
        silent = wall_silent or stream_silent
        measure = "wall time" if wall_silent else "stream time"
        reason = (
            f"no {feed} record for over {limit_s:.0f}s ({measure})"
            if silent
            else f"{feed} records flowing"
        )
        outputs += transition(
            state,
            f"feed_silence:{feed}",
            silent,
            "FEED_SILENCE",
            reason,
            wall_now_ms,
            None,
            limit_s,
        )
    return outputs


def tick(state: State, wall_now_ms: int, settings: ProcessorSettings) -> list[Output]:
    """Time-driven checks: feed silence and the rejection window sliding past."""
    return silence_check(state, wall_now_ms, settings) + rejection_check(
        state, state["watermark"], settings
    )
