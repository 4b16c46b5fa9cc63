"""The scenario's games: true score changes, each provider showing them after its own lag, and
the injected cases with their ground truth.

Predexon trails MM API by seconds on every game (a lag of its own per game, as aggregators
do), which the pipeline must read as catching up, never as a conflict. Injected on chosen
games: a phantom point (alternately Predexon's, flagged `reliability.conflict`, and MM API's,
unflagged), corrected `CONFLICT_MS` later; and a window where Predexon flags
`reliability.stale` and goes silent while MM API keeps scoring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmstream.simulators.builder import Builder
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


def make_games(builder: Builder, truth: GroundTruth) -> list[Game]:
    rng = builder.rng
    games = []
    for index in range(builder.config.games):
        league, sport, teams = LEAGUES[index % len(LEAGUES)]
        away, home = rng.sample(teams, 2)
        date = "2026-02-15"
        game_id = f"{league}-{away}-{home}-{date}"
        if game_id in truth.games:
            game_id = f"{game_id}-g{index}"
        fixture_id = f"id10000008616{24412 + index * 7919:07d}"
        game_truth = GameTruth(game_id, fixture_id, league, sport)
        truth.games[game_id] = game_truth
        low, high = lag_range(builder)
        games.append(Game(game_truth, home, away, rng.randrange(low, high)))
    return games


def lag_range(builder: Builder) -> tuple[int, int]:
    high = max(2, min(PREDEXON_LAG_MS[1], int(builder.config.duration_s * 1000) // 5))
    return min(PREDEXON_LAG_MS[0], high // 2), high


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


def play_games(builder: Builder, games: list[Game], truth: GroundTruth) -> int:
    """Schedule every game's score changes on both feeds; return the number of messages."""
    rng, config = builder.rng, builder.config
    end_ms = int(config.duration_s * 1000)
    latest_final = end_ms - lag_range(builder)[1] - JITTER_MS - 1000  # both feeds show it
    before = len(builder.steps)
    conflict_games = rng.sample(range(len(games)), min(config.conflicts, len(games)))
    stale_choices = [i for i in range(len(games)) if i not in conflict_games] or [0]
    stale_games = set(rng.sample(stale_choices, min(config.stale_windows, len(stale_choices))))
    for index, game in enumerate(games):
        start = rng.randrange(0, max(1, end_ms // 20))
        final_t = max(latest_final, start + 2500)
        changes = sorted(rng.sample(range(start + 1000, max(start + 2000, final_t - 1000)), 8))
        conflict = None
        if index in conflict_games:
            # a quiet stretch with no true change shown (nor one still in flight), so the
            # injected disagreement is the only one and its window is exact
            a = start + (final_t - start) * 2 // 5
            conflict = (a, min(a + CONFLICT_MS, final_t - 1500))
            quiet = (a - game.predexon_lag - JITTER_MS - 1700, conflict[1] + 200)
            changes = [t for t in changes if not quiet[0] <= t <= quiet[1]]
        if index in stale_games and len(changes) >= 6:
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
            flagged = conflict_games.index(index) % 2 == 0
            phantom_point(builder, game, truth, conflict, flagged)
        game.live, game.ended, game.period = False, True, "Final"
        emit_score(builder, game, final_t)
        game.truth.final_home, game.truth.final_away = game.home_score, game.away_score
    return len(builder.steps) - before


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
