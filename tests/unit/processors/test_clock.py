"""Stream time: the earliest input's time; the out-of-order grace only where there is a backlog."""

from __future__ import annotations

from processors.clock import StreamClock

T0 = 1_771_149_600_000


def clock_with(ends: dict[tuple[str, int], int | None]) -> StreamClock:
    return StreamClock({"orders", "bets"}, 2_000, lambda topic, p: ends.get((topic, p)))


def test_no_stream_time_until_every_required_input_was_read() -> None:
    clock = clock_with({})
    clock.observe("orders", 0, T0, 0)
    assert clock.now() == 0


def test_caught_up_partitions_do_not_hold_stream_time_back_by_the_grace() -> None:
    ends: dict[tuple[str, int], int | None] = {("orders", 0): 5, ("bets", 0): 8}
    clock = clock_with(ends)
    clock.observe("orders", 0, T0 + 1_000, 4)  # its last record: offset 4, end offset 5
    clock.observe("bets", 0, T0 + 900, 7)
    assert T0 + 900 <= clock.now() < T0 + 900 + 500
    ends[("bets", 0)] = 20  # more bets arrived: a backlog, so the grace holds again
    assert T0 + 900 - 2_000 <= clock.now() < T0 + 900 - 2_000 + 500


def test_an_unknown_end_offset_counts_as_a_backlog() -> None:
    clock = clock_with({("orders", 0): None})
    clock.observe("orders", 0, T0, 3)
    clock.observe("bets", 1, T0, None)
    assert clock.now() < T0 - 1_500
    assert not clock.caught_up("orders", 0) and not clock.caught_up("bets", 1)


def test_event_time_never_goes_back_and_the_newest_offset_counts() -> None:
    clock = clock_with({("orders", 0): 10, ("bets", 0): 1})
    clock.observe("bets", 0, T0, 0)
    clock.observe("orders", 0, T0 + 5_000, 9)
    clock.observe("orders", 0, T0 + 1_000, 3)  # an older record, read late
    assert clock.caught_up("orders", 0)
    assert clock.partitions[("orders", 0)][0] == T0 + 5_000
