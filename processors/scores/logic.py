"""Score reconciliation: each provider's latest view of a mapped game, and whether they agree.

Times are the connectors' receive times (one clock for both providers), so "who showed the
score first, and how much later the other did" compares like with like. Pure functions over a
JSON-able state per game_id.
"""

from __future__ import annotations

from typing import Any

from processors.common import Output, alert, fingerprint
from processors.settings import ProcessorSettings
from schemas.values import millis

State = dict[str, Any]
PROVIDERS = ("mmapi", "predexon")


def new_state(game_id: str, fixture_id: str | None) -> State:
    return {
        "game_id": game_id,
        "fixture_id": fixture_id,
        "views": {},
        "status": None,
        "conflict_since": None,
        "conflict_alert": None,
        "emitted": None,
        "last_received": 0,
    }


def mmapi_view(record: dict[str, Any]) -> dict[str, Any]:
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


def predexon_view(record: dict[str, Any]) -> dict[str, Any]:
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


def apply_view(state: State, provider: str, view: dict[str, Any], grace_ms: int) -> State:
    """Take a provider's new view; one older than the current by more than the grace is late."""
    current = state["views"].get(provider)
    if current is not None and view["updated_at"] < current["updated_at"] - grace_ms:
        return state
    same_score = current is not None and (current["home"], current["away"]) == (
        view["home"],
        view["away"],
    )
    view["score_since"] = current["score_since"] if same_score else view["received_at"]
    state["views"][provider] = view
    state["last_received"] = max(state["last_received"], view["received_at"])
    return state


def score_text(view: dict[str, Any] | None) -> str | None:
    if view is None or view["home"] is None or view["away"] is None:
        return None
    return f"{view['home']}-{view['away']}"


def classify(state: State, now_ms: int, settings: ProcessorSettings) -> tuple[str, str | None]:
    """(status, stale provider)."""
    mm, px = state["views"].get("mmapi"), state["views"].get("predexon")
    if mm is None or px is None:
        return "ONE_SIDED", None
    if score_text(mm) == score_text(px):
        return "AGREE", None
    older, newer = sorted((mm, px), key=lambda v: v["received_at"])
    if newer["received_at"] - older["received_at"] > settings.stale_s * 1000:
        return "STALE", "mmapi" if older is mm else "predexon"
    if now_ms - newer["received_at"] < settings.lag_grace_s * 1000:
        return "CATCHING_UP", None
    return "CONFLICT", None


def evaluate(state: State, now_ms: int, settings: ProcessorSettings) -> list[Output]:
    """The reconciliation record (on change) and conflict alerts at time `now_ms`."""
    status, stale = classify(state, now_ms, settings)
    outputs: list[Output] = []
    if status == "CONFLICT":
        if state["conflict_since"] is None:
            began = max(v["received_at"] for v in state["views"].values())
            state["conflict_since"] = began
            outputs.append(conflict_signal(state, True, began))
    elif state["conflict_since"] is not None:
        outputs.append(conflict_signal(state, False, now_ms))
        state["conflict_since"] = None
    state["status"] = status
    record = reconciliation(state, status, stale, now_ms)
    comparable = {k: v for k, v in record.items() if k != "evaluated_at"}
    print_ = fingerprint(comparable)
    if print_ != state["emitted"]:
        state["emitted"] = print_
        outputs.append(Output("scores_reconciled", state["game_id"], record))
    outputs += conflict_alert(state, status, now_ms, settings)
    return outputs


def conflict_signal(state: State, active: bool, at: int) -> Output:
    """For the emergency agent: a conflict began or ended on this fixture."""
    return Output(
        "signals",
        "emergency",
        {
            "kind": "conflict",
            "game_id": state["game_id"],
            "fixture_id": state["fixture_id"],
            "active": active,
            "at": at,
        },
    )


def reconciliation(state: State, status: str, stale: str | None, now_ms: int) -> dict[str, Any]:
    mm, px = state["views"].get("mmapi"), state["views"].get("predexon")
    leader, lead_ms = None, None
    if status == "AGREE" and mm is not None and px is not None:
        lead_ms = abs(mm["score_since"] - px["score_since"])
        if lead_ms:
            leader = "mmapi" if mm["score_since"] < px["score_since"] else "predexon"
    return {
        "game_id": state["game_id"],
        "fixture_id": state["fixture_id"],
        "status": status,
        "mmapi": public_view(mm),
        "predexon": public_view(px),
        "mmapi_score": score_text(mm),
        "predexon_score": score_text(px),
        "leader": leader,
        "lead_ms": lead_ms,
        "stale_provider": stale,
        "conflict_since": state["conflict_since"],
        "predexon_reliability": px.get("reliability") if px else None,
        "predexon_conflict": px.get("conflict") if px else None,
        "predexon_stale": px.get("stale") if px else None,
        "evaluated_at": now_ms,
    }


def public_view(view: dict[str, Any] | None) -> dict[str, Any] | None:
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


def conflict_alert(
    state: State, status: str, now_ms: int, settings: ProcessorSettings
) -> list[Output]:
    since = state["conflict_since"]
    common = {"game_id": state["game_id"], "fixture_id": state["fixture_id"]}
    subject = f"game:{state['game_id']}"
    mm, px = state["views"].get("mmapi"), state["views"].get("predexon")
    details = {"mmapi": score_text(mm), "predexon": score_text(px)}
    if (
        status == "CONFLICT"
        and since is not None
        and state["conflict_alert"] is None
        and now_ms - since >= settings.conflict_alert_s * 1000
    ):
        state["conflict_alert"] = since
        return [
            alert(
                "SCORE_CONFLICT",
                subject,
                "OPEN",
                "WARNING",
                f"{state['game_id']}: MM API {details['mmapi']} vs Predexon "
                f"{details['predexon']} since {settings.conflict_alert_s:.0f}s+",
                since,
                details=details,
                **common,
            )
        ]
    if status != "CONFLICT" and state["conflict_alert"] is not None:
        opened = state["conflict_alert"]
        state["conflict_alert"] = None
        return [
            alert(
                "SCORE_CONFLICT",
                subject,
                "RESOLVED",
                "WARNING",
                f"{state['game_id']}: providers {status.lower()} again",
                opened,
                now_ms,
                details=details,
                **common,
            )
        ]
    return []
