"""A tiny Faust app for the broker-conformance tests: counts records per key in a table and
writes each count to an output topic. Run as `python faust_counter_app.py`."""

from __future__ import annotations

import os

import faust

from mmstream.kafka.config import ClusterTarget, faust_settings, tune_faust_fetch_wait
from mmstream.kafka.faust_fixes import install_exact_changelog_ends, install_faust_fixes

profile = os.environ.get("TEST_PROFILE") or (
    "tansu" if os.environ.get("TEST_EMBEDDED") == "1" else "default"
)
target = ClusterTarget.with_profile(os.environ["TEST_BOOTSTRAP"], profile)
if os.environ.get("TEST_FAUST_FIXES", "1") == "1":
    install_faust_fixes()
if target.embedded:
    tune_faust_fetch_wait()
    install_exact_changelog_ends(target)
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
