"""The scenario engine: a finite, deterministic timeline of both feeds' messages from a seed.

Pure: no I/O and no clock. `build_scenario(config)` returns the steps (sorted by due time) and
the ground truth of the same world, so tests can hold the pipeline's outputs against it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from mmstream.simulators.config import DEFAULT_START_MS, ScenarioConfig
from mmstream.simulators.ground_truth import (
    BetTruth,
    GameTruth,
    GroundTruth,
    OrderTruth,
    Window,
)
from mmstream.simulators.timeline import At, Step

DEFAULT_CLIENT = "desk-alpha"
OTHER_CLIENT = "desk-beta"
EXCHANGES = ("polymarket", "kalshi", "novig.us", "sx.bet", "polymarket-us")
BOOKMAKERS = ("vertex", "pinnacle", "betfair", "matchbook")
LEAGUES = (
    ("nba", "basketball", ("atl", "nyk", "bos", "lal", "mia", "chi")),
    ("mlb", "baseball", ("ari", "pit", "nyy", "lad", "sea", "hou")),
    ("epl", "soccer", ("ars", "che", "liv", "mci", "tot", "new")),
    ("nhl", "hockey", ("tor", "bos", "nyr", "edm", "col", "vgk")),
)
MESSAGES_PER_ORDER = 9.0  # INSERT, fills, bets and their updates, account changes, settlement
CONFLICT_MS = 6000  # how long the injected score conflict lasts


@dataclass
class Game:
    truth: GameTruth
    home: str
    away: str
    updates: int = 0
    home_score: int = 0
    away_score: int = 0
    live: bool = False
    ended: bool = False
    period: str = "Pre-game"
    predexon_silent_until: int = -1
    history: list[tuple[int, int, int]] = field(default_factory=list)  # (t_ms, home, away)


@dataclass
class Builder:
    config: ScenarioConfig
    rng: random.Random
    steps: list[Step] = field(default_factory=list)
    next_order_id: int = 1000
    next_bet_id: int = 50_000
    balances: dict[tuple[str, str], float] = field(default_factory=dict)
    bets: dict[int, dict[str, Any]] = field(default_factory=dict)  # latest state by betId

    def emit(
        self,
        t_ms: int,
        feed: str,
        channel: str,
        event: str,
        payload: dict[str, Any],
        old: dict[str, Any] | None = None,
        client: str | None = None,
    ) -> bool:
        """Schedule a message; False when it falls after the scenario's end (not sent)."""
        end = int(self.config.duration_s * 1000)
        if t_ms > end:
            return False
        self.steps.append(
            Step(t_ms, len(self.steps), feed, channel, client, event, dict(payload), old)
        )
        return True


def build_scenario(config: ScenarioConfig) -> tuple[list[Step], GroundTruth]:
    rng = random.Random(config.seed)
    builder = Builder(config, rng)
    end_ms = int(config.duration_s * 1000)
    start_ms = config.start_ms if config.start_ms is not None else DEFAULT_START_MS
    truth = GroundTruth(config.seed, start_ms, start_ms + end_ms, DEFAULT_CLIENT)

    games = make_games(builder, truth)
    score_messages = play_games(builder, games, truth)
    emergencies(builder, truth)
    budget = max(1.0, config.rate * config.duration_s - score_messages)
    n_orders = max(1, int(budget / MESSAGES_PER_ORDER))
    arrival_span = max(1, int(end_ms * 0.8))
    for _ in range(n_orders):
        client = OTHER_CLIENT if rng.random() < config.other_client_share else DEFAULT_CLIENT
        game = rng.choice(games)
        order_lifecycle(builder, truth, client, game.truth.fixture_id, rng.randrange(arrival_span))

    steps = sorted(builder.steps, key=lambda s: (s.t_ms, s.seq))
    sequences: dict[str, int] = {}
    for step in steps:
        if step.feed == "predexon":  # Predexon's sequence grows in the order events are sent
            game_id = step.payload["game_id"]
            sequences[game_id] = sequences.get(game_id, 0) + 1
            step.payload["sequence"] = sequences[game_id]
        name = f"{step.feed}.{step.channel}"
        truth.messages[name] = truth.messages.get(name, 0) + 1
    return steps, truth


# --- games and scores --------------------------------------------------------------------------


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
        games.append(Game(game_truth, home, away))
    return games


def predexon_state(builder: Builder, game: Game, t_ms: int, **reliability: Any) -> dict[str, Any]:
    game.updates += 1
    truth = game.truth
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
        "score": {
            "home": game.home_score,
            "away": game.away_score,
            "display": f"{game.home_score}-{game.away_score}",
        },
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
    before = len(builder.steps)
    conflict_games = set(rng.sample(range(len(games)), min(config.conflicts, len(games))))
    stale_choices = [i for i in range(len(games)) if i not in conflict_games] or [0]
    stale_games = set(rng.sample(stale_choices, min(config.stale_windows, len(stale_choices))))
    for index, game in enumerate(games):
        predexon_leads = index % 2 == 0
        start = rng.randrange(0, max(1, end_ms // 20))
        changes = sorted(rng.sample(range(start + 1000, max(start + 2000, end_ms - 2000)), 8))
        conflict = None
        if index in conflict_games:
            # a quiet stretch of CONFLICT_MS with no true change (nor one still in flight), so
            # the injected disagreement is the only one and its window is exact
            a = start + (end_ms - start) * 2 // 5
            conflict = (a, min(a + CONFLICT_MS, end_ms - 2500))
            changes = [t for t in changes if not conflict[0] - 1700 <= t <= conflict[1] + 200]
        game.live, game.period = True, "1st Half"
        emit_score(builder, game, start, predexon_leads, truth)
        if index in stale_games:
            a = changes[2] - 200
            b = changes[5] + 200
            game.truth.stale.append(Window(truth.start_ms + a, truth.start_ms + b, "predexon"))
            builder.emit(
                a,
                "predexon",
                "sports_live",
                "sports_live_state",
                predexon_state(builder, game, a, stale=True),
            )
            game.predexon_silent_until = b
        for number, t in enumerate(changes):
            if rng.random() < 0.5:
                game.home_score += 1
            else:
                game.away_score += 1
            if number == len(changes) // 2:
                game.period = "2nd Half"
            emit_score(builder, game, t, predexon_leads, truth)
            game.truth.score_changes += 1
        if game.predexon_silent_until >= 0:
            b = game.predexon_silent_until
            game.predexon_silent_until = -1
            builder.emit(
                b, "predexon", "sports_live", "sports_live_state", predexon_state(builder, game, b)
            )
        if conflict is not None and conflict[1] > conflict[0]:
            a, b = conflict
            # MM API briefly reports a wrong score, then corrects itself.
            home, away = score_at(game, a)
            builder.emit(a, "mmapi", "scores", "UPDATE", mmapi_score(game, a, home + 1, away))
            right = mmapi_score(game, b, *score_at(game, b))
            builder.emit(b, "mmapi", "scores", "UPDATE", right)
            game.truth.conflicts.append(
                Window(truth.start_ms + a, truth.start_ms + b, "mmapi reported home+1")
            )
        final_t = end_ms - 1000
        game.live, game.ended, game.period = False, True, "Final"
        emit_score(builder, game, final_t, predexon_leads, truth)
        game.truth.final_home, game.truth.final_away = game.home_score, game.away_score
    return len(builder.steps) - before


def score_at(game: Game, t_ms: int) -> tuple[int, int]:
    """The true score of the game at `t_ms`."""
    current = (0, 0)
    for t, home, away in game.history:
        if t <= t_ms:
            current = (home, away)
    return current


def emit_score(
    builder: Builder, game: Game, t_ms: int, predexon_leads: bool, truth: GroundTruth
) -> None:
    """The true score changes at t_ms; each provider shows it after its own lag."""
    rng = builder.rng
    game.history.append((t_ms, game.home_score, game.away_score))
    lead, lag = rng.randrange(0, 300), rng.randrange(300, 1500)
    predexon_t, mmapi_t = (t_ms + lead, t_ms + lag) if predexon_leads else (t_ms + lag, t_ms + lead)
    builder.emit(
        mmapi_t,
        "mmapi",
        "scores",
        "UPDATE",
        mmapi_score(game, t_ms, game.home_score, game.away_score),
    )
    if game.predexon_silent_until < 0 or predexon_t >= game.predexon_silent_until:
        builder.emit(
            predexon_t,
            "predexon",
            "sports_live",
            "sports_live_state",
            predexon_state(builder, game, t_ms),
        )


# --- emergency ---------------------------------------------------------------------------------


def emergencies(builder: Builder, truth: GroundTruth) -> None:
    end_ms = int(builder.config.duration_s * 1000)
    count = builder.config.emergency_windows
    for number in range(count):
        slot = end_ms // (count + 1)
        a = slot * (number + 1) - slot // 4
        b = a + max(1000, slot // 3)
        builder.emit(
            a,
            "mmapi",
            "emergency",
            "UPDATE",
            {"emergency": True, "reason": "Manual trigger", "triggeredAt": At(a)},
            {"emergency": False},
        )
        builder.emit(
            b,
            "mmapi",
            "emergency",
            "UPDATE",
            {"emergency": False, "reason": "Manual release", "triggeredAt": At(b)},
            {"emergency": True, "reason": "Manual trigger"},
        )
        truth.emergency_windows.append(
            Window(truth.start_ms + a, truth.start_ms + b, "Manual trigger")
        )


# --- orders, fills, hedges, accounts -----------------------------------------------------------


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The `old` of an UPDATE: previous values of the fields that changed."""
    return {k: before.get(k) for k, v in after.items() if before.get(k) != v}


def order_lifecycle(
    builder: Builder, truth: GroundTruth, client: str, fixture_id: str, t0: int
) -> None:
    rng, config = builder.rng, builder.config
    order_id = builder.next_order_id
    builder.next_order_id += 1
    stake = float(rng.choice((50, 100, 150, 200, 250)))
    order: dict[str, Any] = {
        "orderId": order_id,
        "client": client,
        "fixtureId": fixture_id,
        "outcomeId": rng.randrange(100, 400),
        "exchange": rng.choice(EXCHANGES),
        "exchangeOrderId": f"0x{rng.getrandbits(48):012x}",
        "exchangeOutcomeId": f"{rng.getrandbits(32):08x}",
        "orderStatus": "PLACED",
        "matchedStatus": "NOT_MATCHED",
        "orderCents": round(rng.uniform(0.2, 0.8), 2),
        "orderStake": stake,
        "matchedStake": 0.0,
        "matchedAt": None,
        "createdAt": At(t0),
        "updatedAt": At(t0),
        "settlementStatus": "UNDECIDED",
        "bookmakerOutcomePrice": round(rng.uniform(1.4, 3.2), 3),
        "bookmakerOutcomeLimit": float(rng.choice((500, 1000, 2000))),
    }
    builder.emit(t0, "mmapi", "orders", "INSERT", order, client=client)
    order_truth = OrderTruth(order_id, client, fixture_id)
    truth.orders[order_id] = order_truth

    fate = rng.random()
    if fate > 0.8:  # never filled: cancelled or expired
        t = t0 + rng.randrange(500, 3000)
        after = {
            **order,
            "orderStatus": "CANCELLED" if fate > 0.9 else "EXPIRED",
            "updatedAt": At(t),
        }
        builder.emit(t, "mmapi", "orders", "UPDATE", after, changed(order, after), client)
        return

    unhedged = rng.random() < config.unhedged_p
    steps = (
        [round(stake * rng.uniform(0.4, 0.6)), stake]
        if rng.random() < config.partial_p
        else [stake]
    )
    t = t0
    last_bet_t = t0
    for cumulative in steps:
        t += rng.randrange(300, 1500)
        increment = cumulative - order["matchedStake"]
        full = cumulative >= stake
        after = {
            **order,
            "matchedStake": float(cumulative),
            "matchedStatus": "FULLY_MATCHED" if full else "PARTIALLY_MATCHED",
            "orderStatus": "FILLED" if full else "PLACED",
            "matchedAt": At(t),
            "updatedAt": At(t),
        }
        bet_first = rng.random() < config.bet_first_p
        fill_message_t = t + 450 if bet_first else t
        sent = builder.emit(
            fill_message_t, "mmapi", "orders", "UPDATE", after, changed(order, after), client
        )
        order = after
        if sent:  # the truth is what the feed showed
            order_truth.filled_stake = float(cumulative)
        if not unhedged:
            last_bet_t = max(last_bet_t, hedge(builder, order_truth, client, t, float(increment)))
        t = max(t, fill_message_t)

    settle_t = max(t, last_bet_t) + rng.randrange(3000, 12000)
    result = rng.choice(("WON", "LOST"))
    after = {**order, "settlementStatus": result, "updatedAt": At(settle_t)}
    builder.emit(settle_t, "mmapi", "orders", "UPDATE", after, changed(order, after), client)
    for bet in order_truth.bets:
        settle_bet(builder, client, bet, settle_t + rng.randrange(50, 400), result)


def hedge(builder: Builder, order: OrderTruth, client: str, fill_t: int, amount: float) -> int:
    """Place the hedge bet(s) for one fill increment; return the time of the last message."""
    rng, config = builder.rng, builder.config
    parts = (
        [round(amount / 2, 2), amount - round(amount / 2, 2)]
        if rng.random() < config.split_p and amount >= 20
        else [amount]
    )
    t = fill_t
    for part in parts:
        t = fill_t + rng.randrange(200, 600)
        rejected = rng.random() < config.rejected_p
        t = place_bet(builder, order, client, t, part, "rejected" if rejected else "matched")
        if rejected and rng.random() < 0.5:  # the desk retries at another bookmaker
            t = place_bet(builder, order, client, t + rng.randrange(200, 500), part, "matched")
    return t


def place_bet(
    builder: Builder, order: OrderTruth, client: str, t: int, stake: float, outcome: str
) -> int:
    rng = builder.rng
    bet_id = builder.next_bet_id
    builder.next_bet_id += 1
    bookmaker = rng.choice(BOOKMAKERS)
    price = round(rng.uniform(1.5, 3.0), 3)
    bet: dict[str, Any] = {
        "betId": bet_id,
        "orderId": order.order_id,
        "client": client,
        "bookmaker": bookmaker,
        "placedPrice": price,
        "placedStake": stake,
        "betStatus": "placed",
        "bookmakerBetId": None,
        "settlementStatus": "UNDECIDED",
        "sentData": {
            "requestId": f"{rng.getrandbits(32):08x}",
            "eventId": rng.randrange(10_000, 99_999),
            "price": price,
            "amount": stake,
            "side": rng.choice(("1", "2", "X")),
        },
        "receivedData": {"betId": None, "status": "P"},
        "placedAt": At(t),
        "updatedAt": At(t),
    }
    if not builder.emit(t, "mmapi", "bets", "INSERT", bet, client=client):
        return t
    t2 = t + rng.randrange(150, 700)
    final = {
        **bet,
        "betStatus": outcome,
        "bookmakerBetId": None if outcome == "rejected" else str(rng.randrange(10**6, 10**7)),
        "receivedData": {"betId": None, "status": "R"}
        if outcome == "rejected"
        else {"betId": str(rng.randrange(100, 999)), "status": "U"},
        "updatedAt": At(t2),
    }
    if not builder.emit(t2, "mmapi", "bets", "UPDATE", final, changed(bet, final), client):
        outcome = "placed"  # the scenario ended before the bookmaker answered
    order.bets.append(BetTruth(bet_id, stake, outcome, bookmaker))
    if outcome != "rejected":
        account_change(builder, client, bookmaker, t2 + 20, -stake)
    builder.bets[bet_id] = final
    return t2


def settle_bet(builder: Builder, client: str, bet: BetTruth, t: int, order_result: str) -> None:
    if bet.status == "rejected":
        return
    current = builder.bets[bet.bet_id]
    won = order_result == "LOST"  # the hedge wins when the exchange position loses
    after = {
        **current,
        "betStatus": "settled",
        "settlementStatus": "WON" if won else "LOST",
        "updatedAt": At(t),
    }
    builder.emit(t, "mmapi", "bets", "UPDATE", after, changed(current, after), client)
    if won:
        account_change(
            builder,
            client,
            bet.bookmaker,
            t + 20,
            round(bet.stake * float(current["placedPrice"]), 2),
        )


def account_change(builder: Builder, client: str, venue: str, t: int, delta: float) -> None:
    key = (client, venue)
    before = builder.balances.get(key, 10_000.0)
    after_balance = round(before + delta, 2)
    builder.balances[key] = after_balance
    payload = {
        "accountId": f"{client}:{venue}",
        "client": client,
        "venue": venue,
        "balance": after_balance,
        "currency": "USD",
        "status": "active",
        "updatedAt": At(t),
    }
    builder.emit(t, "mmapi", "accounts", "UPDATE", payload, {"balance": before}, client)
