"""A tiny Faust app for the broker-conformance tests: counts records per key in a table and
writes each count to an output topic. Run as
`python -m tests.integration.broker.faust_counter_app` from the repository root."""

from __future__ import annotations

import os

import faust

from tests.helpers.faust_apps import child_app

app = child_app()
source = app.topic(os.environ["TEST_INPUT"], key_serializer="raw", value_serializer="raw")
output = app.topic(os.environ["TEST_OUTPUT"], key_serializer="raw", value_serializer="raw")
counts = app.Table("counts", default=int, partitions=1, key_type=bytes)


@app.agent(source)
async def count(stream: faust.StreamT) -> None:  # type: ignore[type-arg]
    async for event in stream.events():
        counts[event.key] += 1
        await output.send(key=event.key, value=str(counts[event.key]).encode())


if __name__ == "__main__":
    faust.Worker(
        app, loglevel=os.environ.get("TEST_LOGLEVEL", "warn"), quiet=True
    ).execute_from_commandline()
