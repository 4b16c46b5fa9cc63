"""The hedge join's own state copy is the generic deep copy's equal and shares nothing mutable."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from processors.batch import clone
from processors.hedge import logic
from processors.hedge.state import copy_state
from tests.unit.processors.test_hedge_logic import T0, fold, order_histories


def containers(value: Any) -> list[Any]:
    """Every dict and list inside `value`, itself included."""
    if isinstance(value, dict):
        return [value, *(c for v in value.values() for c in containers(v))]
    if isinstance(value, list):
        return [value, *(c for v in value for c in containers(v))]
    return []


def assert_deep_copy(state: Any) -> None:
    copied = copy_state(state)
    assert copied == clone(state) == state
    # a container added to the state later and not copied would be shared: caught here
    assert not {id(c) for c in containers(copied)} & {id(c) for c in containers(state)}


@settings(max_examples=200, deadline=None)
@given(order_histories())
def test_an_open_order_is_copied_whole(history: tuple[list[Any], float, float]) -> None:
    state, _ = fold(history[0], T0 + 60_000)  # past the deadline: alerts in the state too
    assert_deep_copy(state)


def test_a_closed_order_is_copied_whole() -> None:
    state = logic.close_if_settled({**logic.new_state(7), "order_settled": True})
    assert state["closed"] is True
    assert_deep_copy(state)
    assert_deep_copy(logic.new_state(8))
