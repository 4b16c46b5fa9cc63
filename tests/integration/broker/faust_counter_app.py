"""A tiny Faust app for the broker-conformance tests: counts records per key in a table and
writes each count to an output topic. Run as `python faust_counter_app.py`."""

from __future__ import annotations

import os

import faust

from mmstream.kafka.config import ClusterTarget, faust_settings
from mmstream.kafka.faust_fixes import install_faust_fixes

target = ClusterTarget(os.environ["TEST_BOOTSTRAP"], os.environ["TEST_EMBEDDED"] == "1")
# TEST_FAUST_FIXES_OFF: comma-separated fixes not to install (to show what each one fixes)
install_faust_fixes(target, [f for f in os.environ.get("TEST_FAUST_FIXES_OFF", "").split(",") if f])
app = faust.App(
    os.environ["TEST_APP_ID"],
    store="memory://",
    web_enabled=False,
    topic_partitions=1,
    datadir=os.environ["TEST_DATADIR"],
    **faust_settings(target),
)
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
