"""A tiny Faust app whose one agent reads its topic through the bulk intake
(`mmstream.core.kafka.faust_intake`, `processors.bulk.batches`), slowly: `TEST_BATCH_SLEEP_S` per
batch of at most 10 records; `TEST_WORK_S` after its first batch it logs `TEST_STOP_MARK` and never
asks for another batch (an agent that really stopped). Faust's stuck-stream check runs every
`broker_commit_interval` x 2.5 = 1 s with `stream_processing_timeout` = `TEST_STUCK_AFTER_S`.
Run as `python -m tests.integration.processors.bulk_agent_app` from the repository root."""

from __future__ import annotations

import asyncio
import logging
import os

import faust

from mmstream.core.kafka.faust_intake import install_intake
from processors.bulk import batches, register
from tests.helpers.faust_apps import child_app

STOP_MARK = os.environ["TEST_STOP_MARK"]
log = logging.getLogger("bulk_agent_app")
app = child_app(
    stream_processing_timeout=float(os.environ["TEST_STUCK_AFTER_S"]),
    broker_commit_interval=0.4,
    stream_buffer_maxsize=50,  # the intake's queue: the backlog stays on the broker
    consumer_max_fetch_size=4096,  # small fetches: aiokafka fetches the partition often
)
intake = install_intake(app)
source = app.topic(os.environ["TEST_INPUT"], key_serializer="raw", value_serializer="raw")
register(intake, source)  # as the pipeline's agents: before the consumer fetches it
work_s = float(os.environ["TEST_WORK_S"])
batch_sleep_s = float(os.environ["TEST_BATCH_SLEEP_S"])


@app.agent(source)
async def slow(stream: faust.StreamT) -> None:  # type: ignore[type-arg]
    loop = asyncio.get_running_loop()
    taken, started = 0, loop.time()
    async for events in batches(app, intake, stream, 10, 0.01):
        taken += len(events)
        await asyncio.sleep(batch_sleep_s)
        if loop.time() - started >= work_s:
            log.warning("%s after %d", STOP_MARK, taken)
            await asyncio.Event().wait()


if __name__ == "__main__":
    faust.Worker(app, loglevel="warn", quiet=True).execute_from_commandline()
