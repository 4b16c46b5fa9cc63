"""The scenario engine: a deterministic timeline of both feeds' messages from a seed,
generated as it plays.

Pure: no I/O and no clock. `Scenario(config, truth)` is an iterator of steps in due-time order;
it holds only what is still to be sent of the orders and games under way (the builder's
heap), so a scenario with no end (`duration_s=None`) plays in bounded memory. A step is
released once no order, game or emergency still to be generated can come before it. The truth
of a bounded scenario fills `truth` as it is generated; `build_scenario(config)` returns both
whole (tests), `scenario_truth(config)` the truth alone. The games are `games.py`; this module
adds the emergency windows and the orders' lives.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Iterator
from typing import Any

from mmstream.simulators.builder import Builder
from mmstream.simulators.config import DEFAULT_START_MS, ScenarioConfig
from mmstream.simulators.games import (
    CHANGE_EVERY_MS,
    CHANGES_PER_GAME,
    Slot,
    make_slots,
    play_next_game,
    scenario_span_ms,
)
from mmstream.simulators.ground_truth import BetTruth, GroundTruth, OrderTruth, Window
from mmstream.simulators.timeline import At, Step

DEFAULT_CLIENT = "desk-alpha"
OTHER_CLIENT = "desk-beta"
EXCHANGES = ("polymarket", "kalshi", "novig.us", "sx.bet", "polymarket-us")
BOOKMAKERS = ("vertex", "pinnacle", "betfair", "matchbook")
MESSAGES_PER_ORDER = 9.0  # INSERT, fills, bets and their updates, account changes, settlement
ORDER_ARRIVALS_SHARE = 0.8  # a bounded scenario's orders arrive in its first 80 %


def new_truth(config: ScenarioConfig) -> GroundTruth:
    start_ms = config.start_ms if config.start_ms is not None else DEFAULT_START_MS
    end_ms = config.end_ms
    return GroundTruth(
        config.seed, start_ms, start_ms + (end_ms if end_ms is not None else 0), DEFAULT_CLIENT
    )


def build_scenario(config: ScenarioConfig) -> tuple[list[Step], GroundTruth]:
    """The whole timeline and its truth, held in memory (a bounded scenario: tests)."""
    truth = new_truth(config)
    return list(Scenario(config, truth)), truth


def scenario_truth(config: ScenarioConfig) -> GroundTruth:
    """The truth of a bounded scenario, generated without holding its steps."""
    truth = new_truth(config)
    for _ in Scenario(config, truth):
        pass
    return truth


def score_messages_per_s(config: ScenarioConfig) -> float:
    """About how many score messages the games send per second, both feeds together."""
    game_ms = min(scenario_span_ms(config), int(config.game_s * 1000))
    changes = max(CHANGES_PER_GAME, game_ms // CHANGE_EVERY_MS)
    return config.games * 2 * (changes + 2) / max(1.0, game_ms / 1000)


class Scenario:
    """The timeline as an iterator: orders arrive as a Poisson process at the rate left by
    the games, games follow each other in their slots, emergencies come at fixed times."""

    def __init__(self, config: ScenarioConfig, truth: GroundTruth | None = None) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.builder = Builder(config, self.rng)
        self.truth = truth if truth is not None else GroundTruth.forgetful(new_truth(config))
        self.slots: list[Slot] = make_slots(self.builder)
        end = config.end_ms
        share = ORDER_ARRIVALS_SHARE if end is not None else 1.0
        order_rate = (config.rate - score_messages_per_s(config)) / MESSAGES_PER_ORDER / share
        self.order_gap_ms = 1000 / max(order_rate, 1e-3)  # mean time between two orders
        self.last_arrival_ms = int(end * share) if end is not None else None
        self.next_order_ms = self.rng.expovariate(1 / self.order_gap_ms)  # the first arrival
        self.next_emergency = 0  # the number of the next emergency window
        self.sequences: dict[str, int] = {}  # Predexon's per-game sequence, in send order

    def __iter__(self) -> Iterator[Step]:
        while True:
            at, generate = self._next_source()
            for step in self.builder.due(at):
                yield self._released(step)
            if generate is None:
                return
            generate()

    def _next_source(self) -> tuple[float, Callable[[], None] | None]:
        """The earliest thing still to generate, and when it starts (inf: nothing left)."""
        candidates: list[tuple[float, Callable[[], None]]] = []
        if self.last_arrival_ms is None or self.next_order_ms < self.last_arrival_ms:
            candidates.append((self.next_order_ms, self._next_order))
        for slot in self.slots:
            if not slot.done:
                candidates.append((slot.next_start, functools.partial(self._next_game, slot)))
        window = emergency_window(self.config, self.next_emergency)
        if window is not None:
            candidates.append((window[0], self._next_window))
        if not candidates:
            return math.inf, None
        return min(candidates, key=lambda c: c[0])

    def _next_order(self) -> None:
        t0 = int(self.next_order_ms)
        self.next_order_ms += self.rng.expovariate(1 / self.order_gap_ms)
        rng = self.rng
        client = OTHER_CLIENT if rng.random() < self.config.other_client_share else DEFAULT_CLIENT
        fixture_id = rng.choice(self.slots).fixture_id
        order_lifecycle(self.builder, self.truth, client, fixture_id, t0)

    def _next_game(self, slot: Slot) -> None:
        play_next_game(self.builder, slot, self.truth)

    def _next_window(self) -> None:
        window = emergency_window(self.config, self.next_emergency)
        assert window is not None
        self.next_emergency += 1
        emergency(self.builder, self.truth, *window)

    def _released(self, step: Step) -> Step:
        if step.feed == "predexon":  # Predexon's sequence grows in the order events are sent
            game_id = step.payload["game_id"]
            self.sequences[game_id] = self.sequences.get(game_id, 0) + 1
            step.payload["sequence"] = self.sequences[game_id]
            if step.payload["ended"]:
                del self.sequences[game_id]  # a game's final is its last state
        name = f"{step.feed}.{step.channel}"
        self.truth.messages[name] = self.truth.messages.get(name, 0) + 1
        return step


# --- emergency ---------------------------------------------------------------------------------


def emergency_window(config: ScenarioConfig, number: int) -> tuple[int, int] | None:
    """Emergency window `number` (start, end ms): `emergency_windows` spread evenly over a
    bounded scenario; without an end, one every `emergency_every_s`."""
    end_ms = config.end_ms
    if end_ms is None:
        period = int(config.emergency_every_s * 1000)
        a = period * (number + 1) - period // 4
        return a, a + max(1000, period // 10)
    count = config.emergency_windows
    if number >= count:
        return None
    slot = end_ms // (count + 1)
    a = slot * (number + 1) - slot // 4
    return a, a + max(1000, slot // 3)


def emergency(builder: Builder, truth: GroundTruth, a: int, b: int) -> None:
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
    truth.emergency_windows.append(Window(truth.start_ms + a, truth.start_ms + b, "Manual trigger"))


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
        # the desk's hedger hears of the match before the MM API writes it: the order's row
        # (and its broadcast) is updated 450 ms after the match; matchedAt keeps the match time
        bet_first = rng.random() < config.bet_first_p
        fill_message_t = t + 450 if bet_first else t
        after = {
            **order,
            "matchedStake": float(cumulative),
            "matchedStatus": "FULLY_MATCHED" if full else "PARTIALLY_MATCHED",
            "orderStatus": "FILLED" if full else "PLACED",
            "matchedAt": At(t),
            "updatedAt": At(fill_message_t),
        }
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
    current = builder.bets.pop(bet.bet_id)
    if bet.status == "rejected":
        return
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
