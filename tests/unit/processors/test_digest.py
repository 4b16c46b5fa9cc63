"""The digest a state keeps of what it last reported: by value alone, stable across processes
and Python versions, and read in its former format (states stored before it changed)."""

from __future__ import annotations

import json
from typing import Any

from processors.common import changed, digest, repr_digest
from processors.hedge import logic
from tests.unit.processors.test_hedge_logic import SETTINGS, T0, bet, fold, order

FILL: dict[str, Any] = {
    "order_id": 7,
    "status": "HEDGED",
    "filled_stake": 100.0,
    "hedge_ratio": None,
    "settled": False,
    "bets": [{"bet_id": 1, "bookmaker": "vertex", "stake": 100.0, "counts_as_hedge": True}],
}


def test_the_same_values_give_the_same_digest_whatever_the_objects() -> None:
    rebuilt = json.loads(json.dumps(FILL))  # new objects, as read back from the changelog
    same_strings = {
        **FILL,
        "bets": [{**FILL["bets"][0], "bookmaker": FILL["status"][:0] + "vertex"}],
    }
    assert digest(rebuilt) == digest(FILL) == digest(same_strings)


def test_the_format_is_pinned() -> None:
    """Changing it would report every stored order once more: this value must not move."""
    assert digest(FILL) == "mb6cc160593b0505b4fba9030"


def test_any_change_of_a_value_or_of_its_type_changes_the_digest() -> None:
    variants = [
        {**FILL, "filled_stake": 100.000001},
        {**FILL, "filled_stake": 100},  # an int, not a float
        {**FILL, "settled": 0},
        {**FILL, "hedge_ratio": 1.0},
        {**FILL, "bets": []},
    ]
    assert len({digest(v) for v in [FILL, *variants]}) == 1 + len(variants)


def test_a_digest_stored_in_the_former_format_still_matches() -> None:
    assert changed(None, FILL) == digest(FILL)
    assert changed(digest(FILL), FILL) is None
    assert changed(repr_digest(FILL), FILL) is None
    other = {**FILL, "status": "UNHEDGED"}
    assert changed(repr_digest(FILL), other) == digest(other)


def test_an_order_stored_before_the_format_changed_is_not_reported_again() -> None:
    state, outputs = fold(
        [("orders", order(T0, 100.0, matched_at=T0)), ("bets", bet(1, T0, 100.0, "placed", T0))],
        T0,
    )
    assert [o.topic_id for o in outputs].count("hedge_fills") == 2
    assert state["closed"] is False
    fill = logic.hedge_fill(state, SETTINGS)
    del fill["source_received_at"]
    state["emitted"] = repr_digest(fill)  # as the previous version stored it
    assert logic.advance(state, T0 + 1, SETTINGS) == []
