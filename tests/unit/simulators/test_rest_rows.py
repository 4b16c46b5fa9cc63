"""The simulator's REST row store answers date-range listings like a full scan would."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mmstream.simulators.rest import TimeOrderedRows

times = st.sampled_from([f"2026-11-25T10:00:0{s}.000Z" for s in range(10)])
updates = st.lists(st.tuples(st.integers(1, 8), times), max_size=60)
bounds = st.one_of(st.none(), times)


@given(updates, bounds, bounds)
def test_a_listing_is_the_latest_row_per_id_in_the_range_oldest_first(
    changes: list[tuple[int, str]], since: str | None, until: str | None
) -> None:
    rows = TimeOrderedRows("orderId")
    latest: dict[int, dict[str, Any]] = {}
    for version, (order_id, updated) in enumerate(changes):
        row = {"orderId": order_id, "updatedAt": updated, "version": version}
        rows.put(row)
        latest[order_id] = row
    expected = sorted(
        (
            row
            for row in latest.values()
            if (since is None or row["updatedAt"] >= since)
            and (until is None or row["updatedAt"] <= until)
        ),
        key=lambda row: (row["updatedAt"], row["orderId"]),
    )
    assert list(rows.between(since, until)) == expected
    assert len(rows.order) == len(latest), "one index entry per id, however often it changed"


@given(updates, times)
def test_forgetting_drops_exactly_the_rows_last_updated_before_the_cutoff(
    changes: list[tuple[int, str]], cutoff: str
) -> None:
    rows = TimeOrderedRows("orderId")
    latest: dict[int, str] = {}
    for order_id, updated in changes:
        rows.put({"orderId": order_id, "updatedAt": updated})
        latest[order_id] = updated
    rows.forget_before(cutoff)
    kept = {order_id for order_id, updated in latest.items() if updated >= cutoff}
    assert set(rows.rows) == kept
    assert [row["orderId"] for row in rows.between(None, None)] == [
        order_id for _, order_id in sorted((latest[o], o) for o in kept)
    ]
