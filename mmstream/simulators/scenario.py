"""The scenario engine: a finite, deterministic timeline of both feeds' messages from a seed.

Pure: no I/O and no clock. `build_scenario(config)` returns the steps (sorted by due time) and
the ground truth of the same world, so tests can hold the pipeline's outputs against it.
The games are `games.py`; this module adds the emergency windows and the orders' lives.
"""

from __future__ import annotations

import random
from typing import Any

from mmstream.simulators.builder import Builder
from mmstream.simulators.config import DEFAULT_START_MS, ScenarioConfig
from mmstream.simulators.games import make_games, play_games
from mmstream.simulators.ground_truth import BetTruth, GroundTruth, OrderTruth, Window
from mmstream.simulators.timeline import At, Step

DEFAULT_CLIENT = "desk-alpha"
OTHER_CLIENT = "desk-beta"
EXCHANGES = ("polymarket", "kalshi", "novig.us", "sx.bet", "polymarket-us")
BOOKMAKERS = ("vertex", "pinnacle", "betfair", "matchbook")
MESSAGES_PER_ORDER = 9.0  # INSERT, fills, bets and their updates, account changes, settlement


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
            order_truth.last_fill_ms = truth.start_ms + t
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
