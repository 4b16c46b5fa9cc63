"""Fill ↔ hedge join: pure decisions over one order's state (no Kafka, no Faust).

State is a JSON-able dict per orderId (`processors/hedge/state.py`). `apply_order` / `apply_bet`
fold raw records in (any order, duplicates allowed: cumulative `matchedStake` is taken as its
maximum, bets are kept by betId with their latest update), `advance` derives the `hedge.fills`
record and the alerts for the current stream time, noting in the state what it reported so each
change is reported once. The same inputs always give the same outputs.
"""

from __future__ import annotations

from typing import Any

from processors import signals
from processors.common import Output, alert, changed, event_time
from processors.hedge.state import Bet, ClosedOrder, OpenOrder
from processors.hedge.state import State as State  # re-exported: logic.State
from processors.settings import ProcessorSettings
from schemas.values import millis

NOT_A_HEDGE = frozenset({"rejected", "failed", "cancelled", "void"})
SETTLED_BETS = frozenset({"settled"})


def new_state(order_id: int) -> OpenOrder:
    return {
        "order_id": order_id,
        "client": None,
        "fixture_id": None,
        "exchange": None,
        "order_stake": None,
        "fill_price": None,
        "filled_stake": 0.0,
        "fill_steps": [],
        "first_matched_at": None,
        "last_matched_at": None,
        "fill_seen_wall_ms": None,
        "order_settled": False,
        "order_updated_at": None,
        "bets": {},
        "last_event_ms": 0,
        "source_received_at": None,
        "alerts": {},
        "emitted": None,
        "closed": False,
    }


def apply_order(state: OpenOrder, record: dict[str, Any], wall_ms: int | None = None) -> OpenOrder:
    """Fold an `mmapi.orders` record in; a fill is an increase of cumulative matchedStake.

    `wall_ms` is when the worker read it: a deadline must also have passed since then.
    """
    payload = record["payload"]
    at = event_time(record, "updatedAt", "matchedAt", "createdAt")
    state["last_event_ms"] = max(state["last_event_ms"], at)
    state["source_received_at"] = millis((record.get("envelope") or {}).get("received_at"))
    newer = state["order_updated_at"] is None or at >= state["order_updated_at"]

    def take(known: Any, name: str) -> Any:
        value = payload.get(name)
        return value if value is not None and (newer or known is None) else known

    state["client"] = take(state["client"], "client")
    state["fixture_id"] = take(state["fixture_id"], "fixtureId")
    state["exchange"] = take(state["exchange"], "exchange")
    state["order_stake"] = take(state["order_stake"], "orderStake")
    state["fill_price"] = take(state["fill_price"], "orderCents")
    matched = payload.get("matchedStake")
    if matched is not None and matched > 0:
        if matched > state["filled_stake"] and wall_ms is not None:
            state["fill_seen_wall_ms"] = wall_ms
        if matched not in state["fill_steps"]:
            state["fill_steps"] = sorted({*state["fill_steps"], float(matched)})
        state["filled_stake"] = max(state["filled_stake"], float(matched))
        matched_at = millis(payload.get("matchedAt"))
        if matched_at is not None:
            first, last = state["first_matched_at"], state["last_matched_at"]
            state["first_matched_at"] = matched_at if first is None else min(first, matched_at)
            state["last_matched_at"] = matched_at if last is None else max(last, matched_at)
    settlement = payload.get("settlementStatus")
    if settlement and settlement != "UNDECIDED" and newer:
        state["order_settled"] = True
    if newer:
        state["order_updated_at"] = at
    return state


def apply_bet(state: OpenOrder, record: dict[str, Any]) -> OpenOrder:
    """Fold an `mmapi.bets` record in: the bet's latest update (by event time) wins."""
    payload = record["payload"]
    at = event_time(record, "updatedAt", "placedAt")
    state["last_event_ms"] = max(state["last_event_ms"], at)
    state["source_received_at"] = millis((record.get("envelope") or {}).get("received_at"))
    bet_id = str(payload["betId"])
    known = state["bets"].get(bet_id)
    if known is not None and known["updated_at"] > at:
        return state  # an older update arriving late: ignore
    state["bets"][bet_id] = {
        "bet_id": int(payload["betId"]),
        "bookmaker": payload.get("bookmaker") or (known["bookmaker"] if known else None),
        "price": payload.get("placedPrice"),
        "stake": float(payload.get("placedStake") or 0.0),
        "status": (payload.get("betStatus") or "").lower() or None,
        "settlement": payload.get("settlementStatus"),
        "placed_at": millis(payload.get("placedAt")) or (known["placed_at"] if known else None),
        "updated_at": at,
    }
    return state


def counts(bet: Bet) -> bool:
    return bet["status"] not in NOT_A_HEDGE


def hedged_stake(state: OpenOrder) -> float:
    return round(sum(b["stake"] for b in state["bets"].values() if counts(b)), 6)


def status_of(state: OpenOrder, hedged: float, epsilon: float) -> str:
    filled = state["filled_stake"]
    rejected = any(not counts(b) for b in state["bets"].values())
    if filled <= 0:
        return "HEDGE_BEFORE_FILL" if state["bets"] else "NO_FILL"
    if hedged > filled + epsilon:
        return "OVER_HEDGED"
    if hedged >= filled - epsilon:
        return "HEDGED"
    if hedged > 0:
        return "PARTIALLY_HEDGED"
    return "HEDGE_REJECTED" if rejected else "UNHEDGED"


def is_settled(state: OpenOrder) -> bool:
    bets = [b for b in state["bets"].values() if counts(b)]
    return state["order_settled"] and all(
        b["status"] in SETTLED_BETS or (b["settlement"] or "UNDECIDED") != "UNDECIDED" for b in bets
    )


def hedge_fill(state: OpenOrder, settings: ProcessorSettings) -> dict[str, Any]:
    hedged = hedged_stake(state)
    filled = state["filled_stake"]
    bets = sorted(state["bets"].values(), key=lambda b: b["bet_id"])
    placed = [b["placed_at"] for b in bets if counts(b) and b["placed_at"] is not None]
    latency = None
    if placed and state["first_matched_at"] is not None:
        latency = min(placed) - state["first_matched_at"]
    return {
        "order_id": state["order_id"],
        "client": state["client"],
        "fixture_id": state["fixture_id"],
        "exchange": state["exchange"],
        "status": status_of(state, hedged, settings.stake_epsilon),
        "filled_stake": filled,
        "order_stake": state["order_stake"],
        "fill_price": state["fill_price"],
        "fills": len(state["fill_steps"]),
        "first_matched_at": state["first_matched_at"],
        "last_matched_at": state["last_matched_at"],
        "hedged_stake": hedged,
        "unhedged_stake": round(max(0.0, filled - hedged), 6),
        "hedge_ratio": round(hedged / filled, 6) if filled > 0 else None,
        "hedge_latency_ms": latency,
        "bets": [
            {
                "bet_id": b["bet_id"],
                "bookmaker": b["bookmaker"],
                "price": b["price"],
                "stake": b["stake"],
                "status": b["status"],
                "placed_at": b["placed_at"],
                "counts_as_hedge": counts(b),
            }
            for b in bets
        ],
        "settled": is_settled(state),
        "updated_at": state["last_event_ms"],
        "source_received_at": state["source_received_at"],
    }


def advance(
    state: State, now_ms: int, settings: ProcessorSettings, wall_ms: int | None = None
) -> list[Output]:
    """Advance the order to stream time `now_ms`: the derived records it calls for (changes
    only), each noted in `state` as reported (`emitted`, `alerts`) so it is reported once.

    A hedge deadline falls due when it has passed in stream time and, given `wall_ms`, also
    since the worker read the fill: on a backlog the bets may not have been read yet.
    """
    if state["closed"] is True:
        return []
    outputs: list[Output] = []
    fill = hedge_fill(state, settings)
    order_id = state["order_id"]
    comparable = fill.copy()
    del comparable["source_received_at"]
    print_ = changed(state["emitted"], comparable)
    if print_ is not None and fill["status"] != "NO_FILL":
        state["emitted"] = print_
        outputs.append(Output("hedge_fills", str(order_id), fill))
    outputs += unhedged_alert(state, fill, now_ms, settings, wall_ms)
    outputs += rejection_alerts(state, fill)
    return outputs


def unhedged_alert(
    state: OpenOrder,
    fill: dict[str, Any],
    now_ms: int,
    settings: ProcessorSettings,
    wall_ms: int | None = None,
) -> list[Output]:
    subject = f"order:{state['order_id']}"
    current = state["alerts"].get("UNHEDGED_FILL")
    short = fill["unhedged_stake"] > settings.stake_epsilon
    deadline = None
    if state["last_matched_at"] is not None:
        deadline = state["last_matched_at"] + int(settings.hedge_deadline_s * 1000)
    common: dict[str, Any] = {"order_id": state["order_id"], "fixture_id": state["fixture_id"]}
    seen = state.get("fill_seen_wall_ms")
    waited = wall_ms is None or seen is None or wall_ms - seen >= settings.hedge_deadline_s * 1000
    if short and current != "OPEN" and deadline is not None and now_ms >= deadline and waited:
        state["alerts"]["UNHEDGED_FILL"] = "OPEN"
        return [
            alert(
                "UNHEDGED_FILL",
                subject,
                "OPEN",
                "CRITICAL",
                f"order {state['order_id']}: {fill['unhedged_stake']:.2f} of "
                f"{fill['filled_stake']:.2f} filled stake unhedged after "
                f"{settings.hedge_deadline_s:.0f}s",
                deadline,
                details={
                    "filled_stake": fill["filled_stake"],
                    "hedged_stake": fill["hedged_stake"],
                    "unhedged_stake": fill["unhedged_stake"],
                },
                **common,
            )
        ]
    if not short and current == "OPEN":
        state["alerts"]["UNHEDGED_FILL"] = "RESOLVED"
        return [
            alert(
                "UNHEDGED_FILL",
                subject,
                "RESOLVED",
                "CRITICAL",
                f"order {state['order_id']}: hedged late ({fill['hedged_stake']:.2f})",
                deadline or state["last_event_ms"],
                state["last_event_ms"],
                details={
                    "filled_stake": fill["filled_stake"],
                    "hedged_stake": fill["hedged_stake"],
                },
                **common,
            )
        ]
    return []


def rejection_alerts(state: OpenOrder, fill: dict[str, Any]) -> list[Output]:
    outputs = []
    hedged = fill["status"] in ("HEDGED", "OVER_HEDGED")
    for bet in state["bets"].values():
        name = f"HEDGE_REJECTED:{bet['bet_id']}"
        current = state["alerts"].get(name)
        subject = f"bet:{bet['bet_id']}"
        common: dict[str, Any] = {"order_id": state["order_id"], "fixture_id": state["fixture_id"]}
        if not counts(bet) and current is None:
            state["alerts"][name] = "OPEN"
            outputs.append(
                alert(
                    "HEDGE_REJECTED",
                    subject,
                    "OPEN",
                    "WARNING",
                    f"hedge bet {bet['bet_id']} for order {state['order_id']} at "
                    f"{bet['bookmaker']}: {bet['status']}",
                    bet["updated_at"],
                    details={"stake": bet["stake"]},
                    **common,
                )
            )
            current = "OPEN"
        if current == "OPEN" and hedged:  # also at once: a rejection other bets already cover
            state["alerts"][name] = "RESOLVED"
            outputs.append(
                alert(
                    "HEDGE_REJECTED",
                    subject,
                    "RESOLVED",
                    "WARNING",
                    f"order {state['order_id']} hedged by other bets",
                    bet["updated_at"],
                    state["last_event_ms"],
                    details={"stake": bet["stake"]},
                    **common,
                )
            )
    return outputs


def expired(state: State, now_ms: int, settings: ProcessorSettings) -> bool:
    """Whether the order can leave the table: settled and done, or idle past retention."""
    idle = now_ms - state["last_event_ms"]
    if state["closed"] is True:
        return idle > settings.closed_retention_s * 1000
    return idle > settings.retention_s * 1000


def next_due(state: State, settings: ProcessorSettings) -> int | None:
    """The stream time at which `advance` or `expired` may next decide differently for this
    state with no new record: its hedge deadline (while stake is unhedged and no alert is
    open), else its expiry."""
    if state["closed"] is True:
        return state["last_event_ms"] + int(settings.closed_retention_s * 1000) + 1
    due = state["last_event_ms"] + int(settings.retention_s * 1000) + 1
    if (
        state["last_matched_at"] is not None
        and state["alerts"].get("UNHEDGED_FILL") != "OPEN"
        and exposure(state) > settings.stake_epsilon
    ):
        due = min(due, state["last_matched_at"] + int(settings.hedge_deadline_s * 1000))
    return due


def close_if_settled(state: State) -> State:
    """A settled, fully hedged order shrinks to a marker, so late duplicates stay harmless.

    Orders with unhedged stake or an open alert stay (until retention): closing them early
    could hide an unhedged fill whose deadline has not passed yet.
    """
    if state["closed"] is True or not is_settled(state) or exposure(state) > 0:
        return state
    if "OPEN" in state["alerts"].values():
        return state
    closed: ClosedOrder = {
        "order_id": state["order_id"],
        "closed": True,
        "last_event_ms": state["last_event_ms"],
    }
    return closed


def step(state: State, topic_id: str, record: dict[str, Any], wall_ms: int | None = None) -> State:
    """Fold one raw record (orders or bets) into the order's state; closed orders stay closed."""
    if state["closed"] is True:
        state["last_event_ms"] = max(state["last_event_ms"], event_time(record, "updatedAt"))
        return state
    if topic_id == "orders":
        return apply_order(state, record, wall_ms)
    return apply_bet(state, record)


def exposure(state: State) -> float:
    """Unhedged stake this order contributes to the desk's exposure."""
    if state["closed"] is True:
        return 0.0
    return max(0.0, state["filled_stake"] - hedged_stake(state))


def emergency_signals(state: State, outputs: list[Output]) -> list[Output]:
    """The emergency agent's signals for these outputs of `state`: each newly opened hedge
    rejection, and the order's unhedged stake when it changed since last signalled."""
    sent = [
        signals.output(signals.Rejection(o.value["subject"], o.value["opened_at"]))
        for o in outputs
        if o.topic_id == "risk_alerts"
        and o.value["alert_type"] == "HEDGE_REJECTED"
        and o.value["state"] == "OPEN"
    ]
    unhedged = round(exposure(state), 6)
    if unhedged != state.get("signaled_exposure", 0.0):
        state["signaled_exposure"] = unhedged
        sent.append(exposure_signal(state, unhedged))
    return sent


def leaving(state: State, now_ms: int) -> list[Output]:
    """The signal for an order leaving state (expired, idle past retention): whatever unhedged
    stake it was last signalled with no longer counts."""
    if not state.get("signaled_exposure"):
        return []
    state["signaled_exposure"] = 0.0
    return [exposure_signal(state, 0.0, now_ms)]


def exposure_signal(state: State, unhedged: float, at: int | None = None) -> Output:
    return signals.output(
        signals.Exposure(
            state["order_id"],
            None if state["closed"] is True else state["fixture_id"],
            unhedged,
            at or state["last_event_ms"],
        )
    )
