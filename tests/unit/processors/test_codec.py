"""The compact JSON of changelogs and internal topics reads back as `json.dumps` would have
written it (Faust's recovery reads changelogs with `json.loads`)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.codec import CompactJson, compact_json
from processors.emergency import logic as emergency
from processors.hedge import logic as hedge
from tests.unit.processors.test_hedge_logic import T0, fold, order_histories

JSONABLE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text() | st.integers(-1000, 1000), inner, max_size=5)
    ),
    max_leaves=30,
)


def as_json_dumps_would(value: Any) -> Any:
    return json.loads(json.dumps(value, separators=(",", ":")))


@settings(max_examples=300, deadline=None)
@given(JSONABLE)
def test_any_plain_value_reads_back_as_with_json_dumps(value: Any) -> None:
    assert json.loads(compact_json(value)) == as_json_dumps_would(value)


@settings(max_examples=100, deadline=None)
@given(order_histories())
def test_hedge_states_read_back_equal(history: tuple[list[Any], float, float]) -> None:
    state, _ = fold(history[0], T0 + 60_000)
    assert json.loads(compact_json(state)) == state


def test_states_with_tuples_and_the_codec_of_internal_topics() -> None:
    state = emergency.new_state(T0)
    state["exposure"]["7"] = ("f1", 12.5)  # stored as a tuple, read back as a list
    assert json.loads(compact_json(state)) == as_json_dumps_would(state)
    closed = hedge.close_if_settled({**hedge.new_state(7), "order_settled": True})
    codec = CompactJson()
    assert codec.loads(codec.dumps(closed)) == closed
    assert b" " not in compact_json({"a": [1, 2], "b": {"c": None}})  # compact
