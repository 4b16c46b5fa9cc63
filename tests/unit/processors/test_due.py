"""The due index gives the deadline timer exactly the keys that are due, each once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.due import DueIndex

KEYS = st.sampled_from([b"a", b"b", b"c", b"d"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("schedule"), KEYS, st.one_of(st.none(), st.integers(0, 100))),
        st.tuples(st.just("pop"), st.just(b""), st.integers(0, 100)),
    ),
    max_size=60,
)


@given(OPS)
def test_pop_due_returns_exactly_the_keys_whose_latest_due_time_has_come(
    ops: list[tuple[str, bytes, int | None]],
) -> None:
    index, model = DueIndex(), dict[bytes, int]()
    for op, key, value in ops:
        if op == "schedule":
            index.schedule(key, value)
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
        else:
            assert value is not None
            expected = {k for k, due in model.items() if due <= value}
            assert sorted(index.pop_due(value)) == sorted(expected)
            model = {k: due for k, due in model.items() if k not in expected}
        assert len(index) == len(model)


def test_superseded_entries_do_not_accumulate() -> None:
    index = DueIndex()
    for n in range(10_000):
        index.schedule(b"k", 1_000_000 + n)  # one key rescheduled on every update
    assert len(index._heap) <= 2 * len(index) + 1024
    assert index.pop_due(2_000_000) == [b"k"]


def test_rebuild_replaces_the_schedule() -> None:
    index = DueIndex()
    index.schedule(b"old", 5)
    index.rebuild([(b"x", 10), (b"y", None)])
    assert index.pop_due(100) == [b"x"]
