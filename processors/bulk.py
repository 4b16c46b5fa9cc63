"""An agent's input in batches, read from its channel's queue in bulk.

Faust's `Stream.take_events` passes every event through the stream's per-event machinery (an
async generator step, its processors, an await per event to fill the buffer, an await per ack):
on a backlog that costs more than the agents' own work (issue #17). Here the agent takes
what its channel's queue holds (up to `max_` events, waiting for one when it is empty) and
does for each event what the stream does, no more:

- an event fetched before a rebalance (flow control suspended, or another consumer
  generation) is skipped, neither processed nor acked (its partition is read again from the
  last commit by whoever owns it), as `Stream._c_aiter` does;
- each event taken is tracked as unacked by the consumer, so that a rebalance waits for the
  batch (`Consumer.wait_empty`) before it flushes and commits;
- a batch is what arrived within `within` of its first event (at most `max_`), as with
  `take_events`;
- the batch is acked once the agent asks for the next one: never when the agent raised (the
  worker then exits without committing it, `processors/failures.py`).

What stays Faust's: the consumer, the conductor filling the queue (with its flow control and
back-pressure), offsets committed from the acks, rebalancing and table recovery. Under
`exactly_once` agents keep `take_events`: Faust's transactions need its current-event context.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.types import EventT
from faust.types.enums import ProcessingGuarantee

FILL_POLL_S = 0.002  # how often a batch still filling looks at the queue again


async def take(queue: Any, max_: int, deadline: float) -> list[EventT[Any]]:
    """At least one event, then what arrives before `deadline`, at most `max_` (as
    take_events); raises StopAsyncIteration when the channel ends."""
    loop = asyncio.get_running_loop()
    events = [await queue.get()]
    while True:
        while len(events) < max_ and not queue.empty():
            events.append(queue.get_nowait())
        remaining = deadline - loop.time()
        if len(events) >= max_ or remaining <= 0:
            return events
        await asyncio.sleep(min(remaining, FILL_POLL_S))


async def batches(
    app: faust.App, stream: Any, max_: int, within: float
) -> AsyncIterator[list[EventT[Any]]]:
    """The agent's events in batches of at most `max_` (see module doc)."""
    guarantee: Any = app.conf.processing_guarantee  # typed as the enum class, holds a member
    if guarantee is ProcessingGuarantee.EXACTLY_ONCE:
        async for events in stream.take_events(max_, within):
            yield events
        return
    channel = stream.channel.__aiter__()  # registers the topic with the conductor
    queue = channel.queue
    consumer = app.consumer
    flow = app.flow_control
    acking = app.topics.acking_topics
    unacked = consumer.unacked
    loop = asyncio.get_running_loop()
    while True:
        try:
            events = await take(queue, max_, loop.time() + within)
        except StopAsyncIteration:  # the channel ends (the worker stops): nothing more is acked
            return
        generation = app.consumer_generation_id
        fresh = []
        for event in events:
            message = event.message
            if not flow.is_active() or message.generation_id != generation:
                continue
            if message.topic in acking and not message.tracked:
                message.tracked = True
                unacked.add(message)
            fresh.append(event)
        if fresh:
            yield fresh
            for event in fresh:
                event.ack()
        await asyncio.sleep(0)  # a full queue never awaits: let the consumer and timers run
