"""The hedge join's state per orderId, as stored in its table (JSON through `CompactJson`).

An order is open until it is settled and fully hedged; then it shrinks to a `ClosedOrder`
marker, so that late duplicates of its records stay harmless. The two shapes are told apart by
`closed`. Tables outlive versions: a key added later is read with `.get` where older states may
lack it (`fill_seen_wall_ms`, `signaled_exposure`).
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict, cast


class Bet(TypedDict):
    """A hedge bet's latest update (by event time)."""

    bet_id: int
    bookmaker: str | None
    price: float | None
    stake: float
    status: str | None  # lower case: placed, matched, rejected, failed, cancelled, void, settled
    settlement: str | None
    placed_at: int | None
    updated_at: int


class OpenOrder(TypedDict):
    order_id: int
    client: str | None
    fixture_id: str | None
    exchange: str | None
    order_stake: float | None
    fill_price: float | None
    filled_stake: float  # cumulative matchedStake, its maximum seen
    fill_steps: list[float]  # the distinct cumulative matched stakes seen, ascending
    first_matched_at: int | None
    last_matched_at: int | None
    fill_seen_wall_ms: int | None  # when the worker read the latest fill
    order_settled: bool
    order_updated_at: int | None
    bets: dict[str, Bet]  # by betId
    last_event_ms: int
    source_received_at: int | None
    alerts: dict[str, str]  # alert name -> OPEN | RESOLVED
    emitted: str | None  # digest of the last hedge.fills record sent
    closed: Literal[False]
    signaled_exposure: NotRequired[float]  # the unhedged stake last signalled


class ClosedOrder(TypedDict):
    """A settled, fully hedged order, kept until its retention passes."""

    order_id: int
    closed: Literal[True]
    last_event_ms: int
    signaled_exposure: NotRequired[float]


State = OpenOrder | ClosedOrder


def copy_state(state: State) -> State:
    """A deep copy of a state of these shapes (about a third of the generic copy's cost): the
    containers copied, their items are immutable (numbers, strings, None)."""
    if state["closed"] is True:
        return cast(ClosedOrder, dict(state))
    copied = cast(OpenOrder, dict(state))
    copied["fill_steps"] = list(state["fill_steps"])
    copied["bets"] = {bet_id: cast(Bet, dict(bet)) for bet_id, bet in state["bets"].items()}
    copied["alerts"] = dict(state["alerts"])
    return copied
