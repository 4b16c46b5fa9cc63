"""Bench-only probe of the worker's batches (bench/bench_pipeline.py puts this folder on the
PYTHONPATH of `mmstream up` with MMSTREAM_BENCH_PROBE=<file>; nothing else imports it).

In the worker process only, `Pipeline.batches` (every agent's batches: processors/bulk.py, or
Faust's `Stream.take_events` under exactly-once) is wrapped to record, for each batch handed to
an agent: each event's age (now - its raw record's timestamp: connector produce linger, broker
append, aiokafka fetch, Faust's hand-off and the take window), the batch's size, and how long
the agent worked on it before asking for the next. Appended to the file as one
JSON line every 2 s (only what is new: the probe must not slow the worker it measures).

In the simulators, the MM API connector and the worker, `watch_stalls` also records what holds
up the process's event loop: every `LAG_EVERY_S` a thread schedules a callback on the loop
(`call_soon_threadsafe`) and notes how late it ran (a frame, a fetch or a timer waiting behind
the loop's work waits as long) and how much CPU the loop's thread used meanwhile (what the
delay would be with the CPU to itself), and every garbage collection's generation, pause and
CPU time (the interpreter stops every thread for it). Appended to `<file>.<role>.jsonl` every
2 s from that thread, never from the loop.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import threading
import time
from typing import Any

PROBE_FILE = os.environ.get("MMSTREAM_BENCH_PROBE")
LAG_EVERY_S = 0.01
STALL_S = 0.02  # a callback this late: the loop's thread is sampled every STALL_S until it runs
# the processes whose event loop is watched, by a piece of their arguments
WATCHED = {"simulators": ("simulate",), "connector": ("connect", "mmapi"), "worker": ("process",)}


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


def watch_stalls(path: str, role: str) -> None:
    """Loop lag and GC pauses of this process's (first) event loop, as `[wall ms, ms]` pairs."""
    record: dict[str, list[Any]] = {"lag": [], "gc": []}
    gc_started = [0.0, 0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[:] = time.perf_counter(), time.thread_time()
        else:
            pause = (time.perf_counter() - gc_started[0]) * 1000
            cpu = (time.thread_time() - gc_started[1]) * 1000
            record["gc"].append([time.time() * 1000, info["generation"], pause, cpu])

    stacks: dict[str, int] = {}

    def monitor(loop: asyncio.AbstractEventLoop, loop_thread: int) -> None:
        written = time.monotonic()
        # the loop thread's CPU time: a late callback whose wait the loop spent on the CPU was
        # held up by work, one whose loop got no CPU by the machine (or by another thread)
        clock = time.pthread_getcpuclockid(loop_thread)
        while not loop.is_closed():
            asked, at = time.perf_counter(), time.time() * 1000
            asked_cpu = time.clock_gettime(clock)
            done = threading.Event()

            def ran(
                asked: float = asked, at: float = at, cpu: float = asked_cpu, done: Any = done
            ) -> None:
                used = (time.clock_gettime(clock) - cpu) * 1000
                record["lag"].append([at, (time.perf_counter() - asked) * 1000, used])
                done.set()

            try:
                loop.call_soon_threadsafe(ran)
            except RuntimeError:  # closed meanwhile
                return
            # a callback later than STALL_S: what the loop's thread is doing meanwhile
            while not done.wait(STALL_S) and not loop.is_closed():
                frame = sys._current_frames().get(loop_thread)
                if frame is not None:
                    where = stack_of(frame)
                    stacks[where] = stacks.get(where, 0) + 1
            time.sleep(LAG_EVERY_S)
            if time.monotonic() - written > 2:
                written = time.monotonic()
                lines: dict[str, Any] = {k: list(v) for k, v in record.items()}
                lines["stalls"] = dict(stacks)
                for items in record.values():
                    items.clear()
                stacks.clear()
                with open(f"{path}.{role}.jsonl", "a") as out:
                    out.write(json.dumps(lines) + "\n")

    original = asyncio.BaseEventLoop.run_forever
    watched: list[asyncio.AbstractEventLoop] = []

    def run_forever(self: asyncio.BaseEventLoop) -> None:
        if not watched:
            watched.append(self)
            gc.callbacks.append(on_gc)
            thread = threading.Thread(
                target=monitor, args=(self, threading.get_ident()), daemon=True, name="probe"
            )
            thread.start()
        original(self)

    asyncio.BaseEventLoop.run_forever = run_forever  # type: ignore[method-assign]


def stack_of(frame: Any, depth: int = 8) -> str:
    """The innermost `depth` frames as `function (file:line)`, innermost first."""
    parts: list[str] = []
    while frame is not None and len(parts) < depth:
        code = frame.f_code
        name = code.co_filename.rsplit("site-packages/", 1)[-1].rsplit("/python3.11/", 1)[-1]
        parts.append(f"{code.co_name} ({name}:{frame.f_lineno})")
        frame = frame.f_back
    return " < ".join(parts)


def watched_role(argv: list[str]) -> str | None:
    return next((r for r, marks in WATCHED.items() if all(m in argv for m in marks)), None)


if PROBE_FILE and "process" in sys.argv:
    install(PROBE_FILE)
if PROBE_FILE and (watched := watched_role(sys.argv)) is not None:
    watch_stalls(PROBE_FILE, watched)
