"""Garbage-collector pauses of a long-running process.

CPython's full (generation 2) collection walks every tracked object the process holds: in the
connector, the simulators and the worker that is mostly what start-up built and keeps for good
(modules, classes, functions, schemas, clients), and each full collection stopped the process
for 46-93 ms of CPU at 1,000 msg/s (bench/bench_pipeline.py's probe, 2026-12-01): a frame, a
fetch or a derived record waits as long. `freeze_startup_heap` moves those objects to the
permanent generation once start-up is done, so later collections walk only what was made
since. Frozen objects are still freed by reference counting; only a reference cycle among
them would stay (start-up objects live as long as the process anyway).
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect what start-up left as garbage, then keep every object alive now out of later
    collections; returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
