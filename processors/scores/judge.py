"""How the two providers' scores of one game relate at a moment: the reconciliation's judgement.

Pure functions over the per-game state that `processors/scores/logic.py` keeps: each
provider's latest view, the scores it showed (segments, oldest first), when it was last heard
from, and when it started missing the other provider's records. The rules (README, "Score
reconciliation"):

- equal scores: `AGREE`;
- a provider whose score the other showed within `max_lag_s`, and that is not ahead in any
  component, is `CATCHING_UP` (lagging provider and lag given) — never a conflict;
- `CONFLICT`: Predexon's own `reliability.conflict`; a disagreement lag cannot explain (neither
  score is the other's recent past) lasting `conflict_grace_s`; trailing for longer than
  `max_lag_s` while still sending records; or a score withdrawn (going backwards) that the other
  never reached (see `logic.apply_view`);
- `STALE`: Predexon's own `reliability.stale`; or a provider silent while the other updates:
  trailing for longer than `max_lag_s` with nothing heard from it since the other moved on,
  or (scores equal) silent while the other keeps sending updates for longer than a threshold
  fitted to the other's update rate (`stale_intervals` of its typical interval, at least
  `max_lag_s`, at most `stale_s`). A stale side's disagreement is `STALE`, not `CONFLICT`.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from processors.scores.state import State, View
from processors.settings import ProcessorSettings

PROVIDERS = ("mmapi", "predexon")
Score = tuple[int, int]


@dataclass(frozen=True)
class Assessment:
    status: str  # AGREE, CATCHING_UP, CONFLICT, STALE, ONE_SIDED
    lagging: str | None = None  # the provider catching up
    behind_since: int | None = None  # since when it has been behind (or the pair disagreed)
    stale: str | None = None
    since: int | None = None  # CONFLICT / STALE: when the condition began
    cause: str | None = None  # CONFLICT: PROVIDER_FLAG, UNEXPLAINED, TRAILING_TOO_LONG


def other(provider: str) -> str:
    return PROVIDERS[1] if provider == PROVIDERS[0] else PROVIDERS[0]


def score_of(view: View | None) -> Score | None:
    if view is None:
        return None
    home, away = view.get("home"), view.get("away")
    if home is None or away is None:
        return None
    return int(home), int(away)


def at_most(a: Score, b: Score) -> bool:
    """`a` is not ahead of `b` in any component."""
    return a[0] <= b[0] and a[1] <= b[1]


def passed_at(state: State, trailing: str) -> int | None:
    """When the other provider moved past `trailing`'s current score, if that score is the
    other's past: not ahead of the other's current score in any component, and no lower than a
    score the other held (so a provider that skipped an intermediate score of a burst still
    counts as showing it; what it showed before its oldest kept score is taken to be the past).
    None when lag cannot explain the trailing score."""
    mine = score_of(state["views"].get(trailing))
    leader = other(trailing)
    segments = state["segments"].get(leader) or []
    if mine is None or not segments:
        return None
    current = (segments[-1][0], segments[-1][1])
    if mine == current or not at_most(mine, current):
        return None
    for index in range(len(segments) - 2, -1, -1):
        if at_most((segments[index][0], segments[index][1]), mine):
            return int(segments[index + 1][2])
    # before the oldest score kept (or the leader's first record) its history is unknown
    pruned = state["pruned"].get(leader)
    return int(pruned) if pruned is not None else int(segments[0][2])


def stale_threshold_ms(state: State, updating: str, settings: ProcessorSettings) -> int:
    """How long a provider may miss `updating`'s records while their scores agree: a few of
    `updating`'s typical intervals, at least the maximum lag, at most `stale_s`."""
    gaps = state["gaps"].get(updating) or []
    fitted = settings.stale_intervals * median(gaps) if gaps else settings.stale_s * 1000
    return int(max(settings.max_lag_s * 1000, min(settings.stale_s * 1000, fitted)))


def silent_while_agreeing(state: State, now_ms: int, settings: ProcessorSettings) -> str | None:
    """A provider missing the other's updates of an agreed, live game for too long (a game
    over, or not in play, has nothing left to update)."""
    if any(v.get("ended") or v.get("live") is False for v in state["views"].values()):
        return None
    for provider in PROVIDERS:
        missed = state["missed_since"].get(provider)
        if missed is not None and now_ms - missed > stale_threshold_ms(
            state, other(provider), settings
        ):
            return provider
    return None


def assess(state: State, now_ms: int, settings: ProcessorSettings) -> Assessment:
    views = state["views"]
    mm, px = score_of(views.get("mmapi")), score_of(views.get("predexon"))
    if mm is None or px is None:
        return Assessment("ONE_SIDED")
    if state["flag_since"] is not None:
        return Assessment("CONFLICT", since=state["flag_since"], cause="PROVIDER_FLAG")
    if views["predexon"].get("stale"):
        return Assessment("STALE", stale="predexon", since=state["stale_flag_since"])
    if mm == px:
        silent = silent_while_agreeing(state, now_ms, settings)
        if silent is not None:
            return Assessment("STALE", stale=silent, since=state["missed_since"][silent])
        return Assessment("AGREE")
    max_lag = int(settings.max_lag_s * 1000)
    for provider in PROVIDERS:
        passed = passed_at(state, provider)
        if passed is None:
            continue
        if now_ms - passed <= max_lag:
            return Assessment("CATCHING_UP", lagging=provider, behind_since=passed)
        if state["last_received"].get(provider, 0) < passed:  # nothing heard since: silent
            return Assessment("STALE", stale=provider, since=passed)
        return Assessment("CONFLICT", since=passed, cause="TRAILING_TOO_LONG")
    since = state["disagree_since"] if state["disagree_since"] is not None else now_ms
    if now_ms - since >= settings.conflict_grace_s * 1000:
        return Assessment("CONFLICT", since=since, cause="UNEXPLAINED")
    return Assessment("CATCHING_UP", behind_since=since)


def reached(state: State, provider: str, score: Score, since: int, until: int, lag_ms: int) -> bool:
    """Whether `provider` showed `score` (or a score at or past it) at some time between
    `lag_ms` before `since` and `until`: the other provider's view of the same moment."""
    segments = state["segments"].get(provider) or []
    for index, segment in enumerate(segments):
        ends = segments[index + 1][2] if index + 1 < len(segments) else until
        if (
            ends >= since - lag_ms
            and segment[2] <= until
            and at_most(score, (segment[0], segment[1]))
        ):
            return True
    return False
