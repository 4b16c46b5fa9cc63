"""The published-state memory: no outlier poisons an entity, and memory is bounded by bytes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.state import (
    Digest,
    PublishedState,
    SequenceTracker,
    SequenceVerdict,
    entry_size,
    fingerprint,
)

SKEW_MS = 300_000
MAX_JUMP = 100_000

# (kind, amount): a genuine update `amount` ms after the previous moment, or an outlier
steps = st.lists(
    st.one_of(
        st.tuples(st.just("genuine"), st.integers(1, 3_600_000)),
        st.tuples(st.just("future"), st.integers(1, 86_400_000)),  # ahead beyond the skew
        st.tuples(st.just("past"), st.integers(1, 30 * 86_400_000)),  # a late arrival
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_no_genuine_update_after_a_time_outlier_is_lost(updates: list[tuple[str, int]]) -> None:
    """The connector's rule (mmapi `_broadcast`): publish unless a repeat or older; remember."""
    state = PublishedState(capacity=1_000, max_future_skew_ms=SKEW_MS)
    clock = 1_800_000_000_000
    for index, (kind, amount) in enumerate(updates):
        if kind == "genuine":
            clock += amount
            stamp = clock
        elif kind == "future":
            stamp = clock + SKEW_MS + amount
        else:
            stamp = clock - amount
        print_ = fingerprint(index, kind, stamp)
        published = not state.is_repeat("orders", "1", print_) and not state.is_older(
            "orders", "1", stamp
        )
        if kind == "genuine":
            assert published, f"genuine update {index} lost after {updates[:index]}"
        if published:
            trusted = state.remember("orders", "1", print_, stamp, {"t": stamp}, received_ms=clock)
            assert trusted == (kind != "future")


# a genuine game advances by 1..MAX_JUMP; outliers are far from every genuine number
sequence_steps = st.lists(
    st.one_of(
        st.tuples(st.just("genuine"), st.integers(1, MAX_JUMP)),
        st.tuples(st.just("huge"), st.integers(2**40, 2**63 - 1)),
        st.tuples(st.just("negative"), st.integers(-(2**63), -(2**40))),
        st.tuples(st.just("repeat"), st.integers(0, 0)),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(sequence_steps)
def test_no_genuine_game_event_after_a_sequence_outlier_is_lost(
    events: list[tuple[str, int]],
) -> None:
    tracker = SequenceTracker(max_jump=MAX_JUMP)
    genuine, seen_genuine = 0, False
    for index, (kind, amount) in enumerate(events):
        if kind == "genuine":
            genuine += amount
            number = genuine
        elif kind == "repeat":
            if not seen_genuine:
                continue
            number = genuine
        else:
            number = amount
        check = tracker.check("g", number)
        if kind == "genuine":
            assert check.publish, f"genuine event {index} lost after {events[:index]}"
            seen_genuine = True
        if check.verdict is SequenceVerdict.NEXT:
            assert check.missing <= MAX_JUMP, "gaps are counted only within the bound"


def test_a_far_sequence_confirmed_by_the_next_renumbers_the_game() -> None:
    tracker = SequenceTracker(max_jump=10)
    assert tracker.check("g", 5).verdict is SequenceVerdict.NEXT
    assert tracker.check("g", 1_000).verdict is SequenceVerdict.OUTLIER
    assert tracker.check("g", 6) == (SequenceVerdict.NEXT, 0), "the outlier did not advance"
    assert tracker.check("g", 2_000).verdict is SequenceVerdict.OUTLIER
    assert tracker.check("g", 2_001).verdict is SequenceVerdict.RENUMBERED
    assert tracker.check("g", 2_001).verdict is SequenceVerdict.OLD
    assert tracker.check("g", 1).verdict is SequenceVerdict.OUTLIER  # a provider restart: 1, 2…
    assert tracker.check("g", 2).verdict is SequenceVerdict.RENUMBERED


def test_large_payloads_are_remembered_by_digest_within_the_byte_budget() -> None:
    state = PublishedState(capacity=1_000, max_bytes=64 * 1024)
    for order in range(60):
        payload = {"orderId": order, "client": f"{order}" + "x" * 900_000, "status": "OPEN"}
        state.remember("orders", str(order), fingerprint(order), order, payload)
    assert len(state.entries) == 60 and state.bytes < 60 * 1024
    kept = state.get("orders", "59")
    assert kept is not None and isinstance(kept.payload["client"], Digest)
    assert kept.payload["status"] == "OPEN"
    same_client = {"orderId": 59, "client": "59" + "x" * 900_000, "status": "FILLED"}
    assert state.changed_from("orders", "59", same_client) == {"status": "OPEN"}
    other_client = {**same_client, "client": "other", "status": "OPEN"}
    assert state.changed_from("orders", "59", other_client) == {"client": None}


def test_the_byte_budget_forgets_the_least_recently_changed_first() -> None:
    state = PublishedState(capacity=1_000, max_bytes=20_000)
    for order in range(100):
        state.remember("orders", str(order), fingerprint(order), order, {"note": "y" * 200})
    assert state.bytes <= 20_000 and 0 < len(state.entries) < 100
    assert state.get("orders", "99") is not None and state.get("orders", "0") is None
    assert state.bytes == sum(entry_size(key, record) for key, record in state.entries.items())
