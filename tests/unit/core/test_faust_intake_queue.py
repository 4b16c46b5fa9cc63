"""The bulk intake's queue: each partition's records in order, none lost or taken twice, batches
of at most the size asked, shared evenly among the queued partitions."""

from __future__ import annotations

from typing import Any

from faust.types import TP
from hypothesis import given, settings
from hypothesis import strategies as st

from mmstream.core.kafka.faust_intake import Chunk, ChunkQueue

ORDERS, BETS = TP("orders", 0), TP("bets", 0)


def queue_of(max_records: int = 10_000) -> ChunkQueue:
    return ChunkQueue(max_records)  # asyncio's events bind to a loop only when waited on


def test_a_batch_takes_an_even_share_of_each_partition() -> None:
    queue = queue_of()
    queue.put(Chunk(ORDERS, list(range(100)), 1))
    queue.put(Chunk(BETS, list(range(100)), 1))
    taken = queue.take(50)
    assert [(c.tp, c.records) for c in taken] == [
        (ORDERS, list(range(25))),
        (BETS, list(range(25))),
    ]
    assert queue.records == 150


def test_what_a_short_partition_leaves_goes_to_the_others() -> None:
    queue = queue_of()
    queue.put(Chunk(ORDERS, [0, 1], 1))
    queue.put(Chunk(BETS, list(range(100)), 1))
    queue.put(Chunk(ORDERS, [2, 3, 4], 1))  # the next fetch's chunk of the same partition
    taken = queue.take(20)
    assert sum(len(c.records) for c in taken) == 20
    orders = [r for c in taken if c.tp == ORDERS for r in c.records]
    assert orders == [0, 1, 2, 3, 4]


def test_room_and_arrival() -> None:
    queue = queue_of(max_records=10)
    assert queue.room.is_set() and not queue.arrived.is_set()
    queue.put(Chunk(ORDERS, list(range(12)), 1))
    assert not queue.room.is_set() and queue.arrived.is_set()
    queue.take(5)
    assert queue.room.is_set() and queue.arrived.is_set()
    queue.take(100)
    assert queue.records == 0 and not queue.arrived.is_set()


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 3), st.integers(1, 40)),
        st.tuples(st.just("take"), st.integers(1, 60)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_each_partition_is_taken_in_order_once_and_batches_are_bounded(
    ops: list[tuple[Any, ...]],
) -> None:
    queue = queue_of()
    put: dict[TP, list[int]] = {}
    got: dict[TP, list[int]] = {}
    serial = 0
    for op in [*ops, ("take", 10_000)]:
        if op[0] == "put":
            tp = TP("t", op[1])
            records = list(range(serial, serial + op[2]))
            serial += op[2]
            put.setdefault(tp, []).extend(records)
            queue.put(Chunk(tp, list(records), 1))
            continue
        queued = queue.records
        taken = queue.take(op[1])
        assert sum(len(c.records) for c in taken) == min(op[1], queued)
        assert all(c.records for c in taken)
        for chunk in taken:
            got.setdefault(chunk.tp, []).extend(chunk.records)
    assert got == put
    assert queue.records == 0
