"""Bench-only probe of the worker's batches (bench/bench_pipeline.py puts this folder on the
PYTHONPATH of `mmstream up` with MMSTREAM_BENCH_PROBE=<file>; nothing else imports it).

In the worker process only, `Pipeline.batches` (every agent's batches: processors/bulk.py, or
Faust's `Stream.take_events` under exactly-once) is wrapped to record, for each batch handed to
an agent: each event's age (now - its raw record's timestamp: connector produce linger, broker
append, aiokafka fetch, Faust's hand-off and the take window), the batch's size, and how long
the agent worked on it before asking for the next. Appended to the file as one
JSON line every 2 s (only what is new: the probe must not slow the worker it measures).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

PROBE_FILE = os.environ.get("MMSTREAM_BENCH_PROBE")


def stamp_ms(message: Any) -> float:
    """A record's timestamp in ms: aiokafka's record (processors/bulk.py's `BulkEvent.message`)
    has it in ms, Faust's `Message` (exactly-once) in seconds."""
    from faust.types import Message

    stamp = float(message.timestamp)
    return stamp * 1000 if isinstance(message, Message) else stamp


def install(path: str) -> None:
    from processors.app import Pipeline

    record: dict[str, list[Any]] = {"ages": [], "sizes": [], "work_ms": []}
    written = [time.monotonic()]
    original = Pipeline.batches

    async def batches(self: Any, stream: Any) -> Any:
        async for events in original(self, stream):
            now = time.time() * 1000
            stamps = [(e.message.topic, stamp_ms(e.message)) for e in events]
            record["ages"] += [(topic, at, now - at) for topic, at in stamps]
            record["sizes"].append(len(events))
            started = time.perf_counter()
            yield events
            record["work_ms"].append((now, (time.perf_counter() - started) * 1000))
            if time.monotonic() - written[0] > 2:
                written[0] = time.monotonic()
                with open(path, "a") as out:
                    out.write(json.dumps(record) + "\n")
                for items in record.values():
                    items.clear()

    Pipeline.batches = batches  # type: ignore[method-assign]


if PROBE_FILE and "process" in sys.argv:
    install(PROBE_FILE)
