"""The scenario's games: true score changes, each provider showing them after its own lag, and
the injected cases with their ground truth.

Predexon trails MM API by seconds on every game (a lag of its own per game, as aggregators
do), which the pipeline must read as catching up, never as a conflict. Injected on chosen
games: a phantom point (alternately Predexon's, flagged `reliability.conflict`, and MM API's,
unflagged), corrected `CONFLICT_MS` later; and a window where Predexon flags
`reliability.stale` and goes silent while MM API keeps scoring.

`games` are played at once, each in its slot; when a game ends the slot's next one starts,
round after round, until the scenario's end (or for a day, when it has none). Who plays in
a round depends only on the seed and the round's number (`plan_round`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from mmstream.simulators.builder import Builder
from mmstream.simulators.config import ScenarioConfig
from mmstream.simulators.ground_truth import GameTruth, GroundTruth, Window
from mmstream.simulators.timeline import At

LEAGUES = (
    ("nba", "basketball", ("atl", "nyk", "bos", "lal", "mia", "chi")),
    ("mlb", "baseball", ("ari", "pit", "nyy", "lad", "sea", "hou")),
    ("epl", "soccer", ("ars", "che", "liv", "mci", "tot", "new")),
    ("nhl", "hockey", ("tor", "bos", "nyr", "edm", "col", "vgk")),
)
CONFLICT_MS = 5000  # how long an injected phantom point is shown before its correction
PREDEXON_LAG_MS = (2000, 5000)  # Predexon's lag behind the true score, per game (less in
# scenarios too short for it: at most a fifth of the scenario)
JITTER_MS = 400
MMAPI_LEAD_MS = 300  # MM API shows a change within this of it happening
CHANGES_PER_GAME = 8  # at least; a longer game scores about every CHANGE_EVERY_MS
CHANGE_EVERY_MS = 15_000
FIRST_ROUND_WITHIN_MS = 3000  # the first games start within seconds: a demo shows scores at once
MIN_GAME_MS = 60_000  # a later game is not started when less than this is left
FIRST_DAY = date(2026, 2, 15)  # round n is played on the n-th day after it (its games' ids)
FIXTURE_ROUNDS = 288  # games of a scenario with no end: a day at the default pace (then
# only orders go on); the fixture map of every round is loaded at start, one record a batch
Score = tuple[int, int]


@dataclass
class Game:
    truth: GameTruth
    home: str
    away: str
    predexon_lag: int = 0
    updates: int = 0
    home_score: int = 0
    away_score: int = 0
    live: bool = False
    ended: bool = False
    period: str = "Pre-game"
    predexon_silent: tuple[int, int] | None = None  # Predexon shows no change due in [a, b]
    history: list[tuple[int, int, int]] = field(default_factory=list)  # (t_ms, home, away)
    shown_at: dict[str, int] = field(default_factory=lambda: {"mmapi": -1, "predexon": -1})


@dataclass(frozen=True)
class RoundPlan:
    """Who plays in one round of games (one game per slot), and where cases are injected:
    drawn from the seed and the round's number alone, so that the fixture map of a scenario
    with no end is known before it plays."""

    games: list[tuple[GameTruth, str, str]]  # (truth, home, away) per slot
    conflict_slots: list[int]  # in order: the first is flagged by Predexon, the next by neither
    stale_slots: frozenset[int]


@dataclass
class Slot:
    """One of the games played at once: its next game's round and start."""

    index: int
    next_start: int
    fixture_id: str  # of its latest game: what the orders trade
    round: int = 0
    done: bool = False


def plan_round(config: ScenarioConfig, number: int) -> RoundPlan:
    rng = random.Random(f"{config.seed}/round/{number}")
    day = (FIRST_DAY + timedelta(days=number)).isoformat()
    games: list[tuple[GameTruth, str, str]] = []
    taken: set[str] = set()
    for index in range(config.games):
        league, sport, teams = LEAGUES[index % len(LEAGUES)]
        away, home = rng.sample(teams, 2)
        game_id = f"{league}-{away}-{home}-{day}"
        if game_id in taken:
            game_id = f"{game_id}-g{index}"
        taken.add(game_id)
        fixture_id = f"id10000008616{24412 + (number * config.games + index) * 7919:07d}"
        games.append((GameTruth(game_id, fixture_id, league, sport), home, away))
    count = len(games)
    conflicts = rng.sample(range(count), min(config.conflicts, count))
    stale_choices = [i for i in range(count) if i not in conflicts] or [0]
    stale = rng.sample(stale_choices, min(config.stale_windows, len(stale_choices)))
    return RoundPlan(games, conflicts, frozenset(stale))


def fixture_rows(config: ScenarioConfig, rounds: int) -> list[GameTruth]:
    """Every game of the first `rounds` rounds (the fixture map of a scenario with no end)."""
    return [truth for number in range(rounds) for truth, _, _ in plan_round(config, number).games]


def scenario_span_ms(config: ScenarioConfig) -> int:
    """The scenario's length, or one game's when it has no end."""
    end = config.end_ms
    return end if end is not None else int(config.game_s * 1000)


def make_slots(builder: Builder) -> list[Slot]:
    """The slots, their first games starting within seconds (within a twentieth of a short
    scenario)."""
    stagger = max(1, min(scenario_span_ms(builder.config) // 20, FIRST_ROUND_WITHIN_MS))
    first = plan_round(builder.config, 0)
    return [
        Slot(index, builder.rng.randrange(0, stagger), truth.fixture_id)
        for index, (truth, _, _) in enumerate(first.games)
    ]


def lag_range(config: ScenarioConfig) -> tuple[int, int]:
    high = max(2, min(PREDEXON_LAG_MS[1], scenario_span_ms(config) // 5))
    return min(PREDEXON_LAG_MS[0], high // 2), high


def game_end(builder: Builder, slot: Slot) -> int | None:
    """When the slot's next game ends: a game's length, shortened so that both feeds show the
    final before the scenario's end; None when no further game fits."""
    config = builder.config
    start = slot.next_start
    final_t = start + int(config.game_s * 1000 * builder.rng.uniform(0.8, 1.2))
    end = config.end_ms
    if end is None:
        return final_t if slot.round < FIXTURE_ROUNDS else None
    latest_final = end - lag_range(config)[1] - JITTER_MS - 1000  # both feeds show it
    if final_t <= latest_final:
        return final_t
    if slot.round == 0:  # a scenario shorter than a game: one game each, over its length
        return max(latest_final, start + 2500)
    return latest_final if latest_final - start >= MIN_GAME_MS else None


def play_next_game(builder: Builder, slot: Slot, truth: GroundTruth) -> None:
    """Schedule the slot's next game, from its start to its final, on both feeds."""
    final_t = game_end(builder, slot)
    if final_t is None:
        slot.done = True
        return
    plan = plan_round(builder.config, slot.round)
    game_truth, home, away = plan.games[slot.index]
    truth.games[game_truth.game_id] = game_truth
    low, high = lag_range(builder.config)
    game = Game(game_truth, home, away, builder.rng.randrange(low, high))
    flagged: bool | None = None
    if slot.index in plan.conflict_slots:
        flagged = plan.conflict_slots.index(slot.index) % 2 == 0
    play_game(
        builder, game, truth, (slot.next_start, final_t), flagged, slot.index in plan.stale_slots
    )
    slot.fixture_id = game_truth.fixture_id
    slot.round += 1
    slot.next_start = final_t + builder.rng.randrange(1000, 5000)


def predexon_state(
    builder: Builder, game: Game, t_ms: int, score: Score | None = None, **reliability: Any
) -> dict[str, Any]:
    game.updates += 1
    truth = game.truth
    home, away = score if score is not None else (game.home_score, game.away_score)
    multi = game.updates % 3 != 0
    rel = {
        "state": "multi_source" if multi else "single_source",
        "source_count": 2 if multi else 1,
        "sources": ["polymarket", "kalshi"] if multi else ["polymarket"],
        "conflict": False,
        "stale": False,
    }
    rel.update(reliability)
    return {
        "event_type": "sports_live_state",
        "sequence": 0,  # assigned in send order once the timeline is sorted
        "game_id": truth.game_id,
        "league": truth.league,
        "sport": truth.sport,
        "home_team": {"code": game.home, "name": game.home.upper()},
        "away_team": {"code": game.away, "name": game.away.upper()},
        "updated_at": At(t_ms),
        "status": "Final" if game.ended else ("InProgress" if game.live else "Scheduled"),
        "live": game.live,
        "ended": game.ended,
        "period": game.period,
        "clock": None,
        "score": {"home": home, "away": away, "display": f"{home}-{away}"},
        "winner": winner(game) if game.ended else None,
        "reliability": rel,
    }


def winner(game: Game) -> str | None:
    if game.home_score == game.away_score:
        return None
    return game.home if game.home_score > game.away_score else game.away


def mmapi_score(game: Game, t_ms: int, home: int, away: int) -> dict[str, Any]:
    return {
        "fixtureId": game.truth.fixture_id,
        "live": game.live,
        "statusId": 3 if game.ended else (1 if game.live else 0),
        "currentPeriod": game.period,
        "currentMinute": max(0, t_ms // 60_000),
        "scores": {"home": home, "away": away, "period1Home": home // 2, "period1Away": away // 2},
    }


def play_game(
    builder: Builder,
    game: Game,
    truth: GroundTruth,
    span: tuple[int, int],
    conflict_flagged: bool | None,
    stale: bool,
) -> None:
    """Schedule one game's score changes on both feeds, with its injected cases:
    a phantom point (`conflict_flagged` True: Predexon's, flagged; False: MM API's) and a
    stale window."""
    rng = builder.rng
    start, final_t = span
    count = max(CHANGES_PER_GAME, (final_t - start) // CHANGE_EVERY_MS)
    changes = sorted(rng.sample(range(start + 1000, max(start + 2000, final_t - 1000)), count))
    conflict = None
    if conflict_flagged is not None:
        # a quiet stretch with no true change shown (nor one still in flight), so the
        # injected disagreement is the only one and its window is exact
        a = start + (final_t - start) * 2 // 5
        conflict = (a, min(a + CONFLICT_MS, final_t - 1500))
        quiet = (a - game.predexon_lag - JITTER_MS - 1700, conflict[1] + 200)
        changes = [t for t in changes if not quiet[0] <= t <= quiet[1]]
    if stale and len(changes) >= 6:
        # no change shown by Predexon just before the flag nor just after its return, so
        # both records keep their place among its other ones
        lo, hi, margin = changes[2], changes[5], JITTER_MS + 500
        changes = [t for t in changes if not (lo - margin < t < lo or hi < t < hi + margin)]
        game.predexon_silent = (lo, hi)
    game.live, game.period = True, "1st Half"
    emit_score(builder, game, start)
    for number, t in enumerate(changes):
        if rng.random() < 0.5:
            game.home_score += 1
        else:
            game.away_score += 1
        if number == len(changes) // 2:
            game.period = "2nd Half"
        emit_score(builder, game, t)
        game.truth.score_changes += 1
    if game.predexon_silent is not None:
        stale_window(builder, game, truth)
    if conflict is not None and conflict[1] > conflict[0]:
        assert conflict_flagged is not None
        phantom_point(builder, game, truth, conflict, conflict_flagged)
    game.live, game.ended, game.period = False, True, "Final"
    emit_score(builder, game, final_t)
    game.truth.final_home, game.truth.final_away = game.home_score, game.away_score


def stale_window(builder: Builder, game: Game, truth: GroundTruth) -> None:
    """Predexon flags its view stale and goes silent while MM API keeps scoring; then it
    shows the score it would have shown by then."""
    assert game.predexon_silent is not None
    lo, hi = game.predexon_silent
    lag = game.predexon_lag
    a, b = lo + lag - 200, hi + lag + JITTER_MS + 200  # when Predexon flags it / comes back
    game.truth.stale.append(Window(truth.start_ms + a, truth.start_ms + b, "predexon"))
    flagged = predexon_state(builder, game, a - lag, score_at(game, a - lag), stale=True)
    builder.emit(a, "predexon", "sports_live", "sports_live_state", flagged)
    back = predexon_state(builder, game, hi, score_at(game, hi))
    builder.emit(b, "predexon", "sports_live", "sports_live_state", back)


def phantom_point(
    builder: Builder, game: Game, truth: GroundTruth, window: tuple[int, int], flagged: bool
) -> None:
    """A provider briefly reports a point that never happened, then corrects itself:
    Predexon flagging it (`reliability.conflict`), or MM API without a flag."""
    a, b = window
    home, away = score_at(game, a)
    if flagged:
        wrong = predexon_state(builder, game, a, (home + 1, away), conflict=True)
        builder.emit(a, "predexon", "sports_live", "sports_live_state", wrong)
        right = predexon_state(builder, game, b, score_at(game, b))
        builder.emit(b, "predexon", "sports_live", "sports_live_state", right)
        detail = "predexon reported home+1 (reliability.conflict)"
    else:
        builder.emit(a, "mmapi", "scores", "UPDATE", mmapi_score(game, a, home + 1, away))
        right = mmapi_score(game, b, *score_at(game, b))
        builder.emit(b, "mmapi", "scores", "UPDATE", right)
        detail = "mmapi reported home+1"
    game.truth.conflicts.append(Window(truth.start_ms + a, truth.start_ms + b, detail))


def score_at(game: Game, t_ms: int) -> Score:
    """The true score of the game at `t_ms`."""
    current = (0, 0)
    for t, home, away in game.history:
        if t <= t_ms:
            current = (home, away)
    return current


def emit_score(builder: Builder, game: Game, t_ms: int) -> None:
    """The true score changes at t_ms; MM API shows it at once, Predexon after its lag (each
    feed in order), unless Predexon is silent then."""
    rng = builder.rng
    game.history.append((t_ms, game.home_score, game.away_score))
    mmapi_t = shown(game, "mmapi", t_ms + rng.randrange(0, MMAPI_LEAD_MS))
    predexon_t = t_ms + game.predexon_lag + rng.randrange(0, JITTER_MS)
    builder.emit(
        mmapi_t,
        "mmapi",
        "scores",
        "UPDATE",
        mmapi_score(game, t_ms, game.home_score, game.away_score),
    )
    silent = game.predexon_silent
    if silent is None or not silent[0] <= t_ms <= silent[1]:
        builder.emit(
            shown(game, "predexon", predexon_t),
            "predexon",
            "sports_live",
            "sports_live_state",
            predexon_state(builder, game, t_ms),
        )


def shown(game: Game, feed: str, t_ms: int) -> int:
    """When `feed` shows a change due at `t_ms`: never before its previous one."""
    t_ms = max(t_ms, game.shown_at[feed] + 1)
    game.shown_at[feed] = t_ms
    return t_ms
