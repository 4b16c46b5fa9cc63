"""A tiny Faust app for `test_late_reader.py`: one agent reads its topic in bulk
(`processors.bulk.batches` over the app's intake, its topic registered when the agent is
defined, as the pipeline's agents are) but routes nothing until the consumer has fetched every
record already in the topic (TEST_RECORDS), as the score router routes nothing until the
fixture map is loaded. TEST_WAIT says where it waits: `before` its first batch is asked for
or `inside` the loop. Writes the offset of every record it routed to the output topic, and
`open` there once it waited. Run as `python -m tests.integration.processors.late_reader_app`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import faust
from faust.types import TP

from mmstream.core.kafka.faust_intake import install_intake
from processors.bulk import batches, register
from tests.helpers.faust_apps import child_app

app = child_app()
intake = install_intake(app)
source = app.topic(os.environ["TEST_INPUT"], key_serializer="raw", value_serializer="raw")
output = app.topic(os.environ["TEST_OUTPUT"], key_serializer="raw", value_serializer="raw")
register(intake, source)
RECORDS = int(os.environ["TEST_RECORDS"])
WAIT = os.environ["TEST_WAIT"]


async def fetched_all() -> None:
    """Until the consumer has read past every record produced before the start."""
    tp = TP(os.environ["TEST_INPUT"], 0)
    # the consumer's read offset has no event to await: polled
    consumer: Any = app.consumer  # Faust's Consumer: its read offsets
    while (consumer._read_offset.get(tp) or -1) < RECORDS - 1:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await output.send(key=b"gate", value=b"open")


@app.agent(source)
async def route(stream: Any) -> None:
    if WAIT == "before":
        await fetched_all()
    waited = WAIT == "before"
    async for events in batches(app, intake, stream, 500, 0.01):
        if not waited:
            await fetched_all()
            waited = True
        for event in events:
            await output.send(key=b"offset", value=str(event.message.offset).encode())


if __name__ == "__main__":
    faust.Worker(
        app, loglevel=os.environ.get("TEST_LOGLEVEL", "warn"), quiet=True
    ).execute_from_commandline()
