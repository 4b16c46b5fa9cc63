"""A tiny Faust app for the Faust-fix tests: remembers the last offset per key in a table (so a
restarted worker recovers a changelog first) and writes `partition:offset` of every record it
processed to an output topic. Run as
`python -m tests.integration.broker.faust_offsets_app` from the repository root.
"""

from __future__ import annotations

import os

import faust

from tests.helpers.faust_apps import child_app

app = child_app(topic_partitions=int(os.environ.get("TEST_PARTITIONS", "4")))
source = app.topic(os.environ["TEST_INPUT"], key_serializer="raw", value_serializer="raw")
output = app.topic(os.environ["TEST_OUTPUT"], key_serializer="raw", value_serializer="raw")
last = app.Table("last", default=int, key_type=bytes)


@app.agent(source)
async def remember(stream: faust.StreamT) -> None:  # type: ignore[type-arg]
    async for event in stream.events():
        last[event.key] = event.message.offset
        seen = f"{event.message.partition}:{event.message.offset}"
        await output.send(key=event.key, value=seen.encode())


if __name__ == "__main__":
    faust.Worker(
        app, loglevel=os.environ.get("TEST_LOGLEVEL", "warn"), quiet=True
    ).execute_from_commandline()
