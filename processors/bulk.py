"""An agent's input in batches, taken from its bulk intake (`mmstream.core.kafka.faust_intake`).

Faust's per-event machinery (the conductor's `Event` and queue put per record, the stream's
async generator step and ack per event) costs more than the agents' own work on a backlog
(issue #17). The agents' topics are registered with the app's intake instead: the consumer
hands each fetch's records of a partition to the agent as one chunk, and the agent takes what
is queued (at most `max_` events, waiting for one when nothing is) as one batch:

- a chunk fetched before a rebalance (flow control suspended, or another consumer
  generation) is skipped, neither processed nor acked (its partition is read again from the
  last commit by whoever owns it), as `Stream._c_aiter` does for an event;
- each chunk taken is tracked as unacked by the consumer, so that a rebalance waits for the
  batch (`Consumer.wait_empty`) before it flushes and commits;
- a batch is what arrived within `within` of its first record (at most `max_`), as with
  `take_events`;
- the batch is acked, in bulk, once the agent asks for the next one: never when the agent
  raised (the worker then exits without committing it, `processors/failures.py`).

Each record is a `BulkEvent`: `message` is aiokafka's record (topic, partition, offset, key,
value, timestamp, headers), `key` its key, `value` its raw value (decoded by the agent through
the one decoder) or, for a channel with a codec (the internal JSON topics), the decoded value.

Under `exactly_once` agents keep Faust's `take_events`: its transactions need its
current-event context.

What still holds, and the tests that show it (run on Tansu and on Apache Kafka):

- per-key order: a partition's records reach the agent in offset order, and a key is in one
  partition (`BatchRunner.fold` folds a batch's records per key in arrival order);
- commit after output: the offsets of a batch are acked only after the agent's body returned,
  and Faust flushes the sink (outputs, changelog, dead letters) before each commit
  (`processors/sink.py`); a batch the agent died in is never acked, hence never committed
  (`test_worker_death.py`: the record the worker died on is not committed, and its fill comes
  after the restart; `test_dead_letters.py`, `test_key_failures.py`);
- recovery after a crash: the state is changelogged per key per batch and read back by
  Faust's recovery (`test_worker_restart.py`: killed mid-stream, no hedge lost nor counted
  twice);
- rebalance: a joining worker takes partitions over, the first one waits for its batch
  (`wait_empty`) and decides nothing more for the orders it handed over
  (`test_worker_join.py`); the whole pipeline's outputs equal the ground truth
  (`tests/integration/pipeline/test_end_to_end.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import faust

from mmstream.core.kafka.faust_intake import Chunk, ChunkQueue, Intake

FILL_POLL_S = 0.002  # how often a batch still filling looks at the queue again


class BulkEvent:
    """One record of a bulk batch (see module doc)."""

    __slots__ = ("key", "message", "value")

    def __init__(self, message: Any, value: Any) -> None:
        self.message = message
        self.key = message.key
        self.value = value


async def take(queue: ChunkQueue, max_: int, deadline: float) -> list[Chunk]:
    """At least one record, then what arrives before `deadline`, at most `max_` records."""
    loop = asyncio.get_running_loop()
    while not queue.records:
        await queue.arrived.wait()
    chunks = queue.take(max_)
    count = sum(len(c.records) for c in chunks)
    while count < max_:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await asyncio.sleep(min(remaining, FILL_POLL_S))
        more = queue.take(max_ - count)
        chunks += more
        count += sum(len(c.records) for c in more)
    return chunks


def value_reader(channel: Any) -> Callable[[bytes | None], Any] | None:
    """How a channel's values are read: None for raw bytes, else its codec's `loads`."""
    serializer = channel.value_serializer
    if serializer in (None, "raw"):
        return None
    loads: Callable[[bytes | None], Any] = serializer.loads
    return loads


def register(intake: Intake | None, channel: Any) -> None:
    """Give the channel's topics to the intake when its agent is defined, before the consumer
    can fetch them. Registered only once the agent asks for its first batch, records fetched
    before that (while it waits for the fixture map, say) would go Faust's per-record way into
    a stream queue nobody reads, and be committed past once later records are acked."""
    if intake is not None:
        intake.register(channel.topics)


async def batches(
    app: faust.App, intake: Intake | None, stream: Any, max_: int, within: float
) -> AsyncIterator[list[Any]]:
    """The agent's events in batches of at most `max_` (see module doc); Faust's own
    `take_events` when there is no intake (exactly-once)."""
    if intake is None:
        async for events in stream.take_events(max_, within):
            yield events
        return
    channel = stream.channel
    unregistered = set(channel.topics) - set(intake.queues)
    if unregistered:  # fetched before they reach the intake, they would be committed unread
        raise RuntimeError(
            f"topics {sorted(unregistered)} reach the bulk intake only once the agent asks for "
            "its first batch: register them when the agent is defined (bulk.register)"
        )
    queue = intake.register(channel.topics)
    channel.__aiter__()  # subscribes the topics, with acks (after the intake knows them)
    read = value_reader(channel)
    flow = app.flow_control
    loop = asyncio.get_running_loop()
    while True:
        chunks = await take(queue, max_, loop.time() + within)
        generation = app.consumer_generation_id
        if not flow.is_active():
            continue
        live = [c for c in chunks if c.generation == generation]
        if not live:
            continue
        intake.track(live)
        if read is None:
            events = [BulkEvent(r, r.value) for c in live for r in c.records]
        else:
            events = [BulkEvent(r, read(r.value)) for c in live for r in c.records]
        yield events
        intake.ack(live)
        await asyncio.sleep(0)  # a full queue never awaits: let the consumer and timers run
