"""The simulators' memory over a one-million-message scenario, played without waiting.

Each mode runs in a process of its own and sends every step through the servers' publish path
(REST history kept and pruned as when they play; no subscriber, so nothing is written to a
socket), printing the process's RSS every 100,000 messages and its peak:

- `bounded`: `--duration 1000 --rate 1000`, as `mmstream up --duration 1000 --rate 1000` runs
  it: the ground truth filled as it plays (every order's truth held) and written at the end.
- `endless`: the same rate with no end (what `make demo` plays), stopped after 1,000,000.

Baseline: the scenario built whole before playing (commit 2b88907): 885,034 messages held,
1,183 MiB RSS once built, 1,270 MiB after playing them all (/tmp figure quoted in RESULTS.md).

Usage: bench/bench_simulator.py [bounded|endless ...] [MESSAGES]
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mmstream.simulators.cluster import PRUNE_EVERY_MS, SimulatorCluster
from mmstream.simulators.config import ScenarioConfig

MESSAGES = 1_000_000
RATE = 1000.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def play(mode: str, messages: int) -> None:
    duration = messages / RATE if mode == "bounded" else None
    config = ScenarioConfig(seed=7, rate=RATE, duration_s=duration, start_ms=None)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        cluster = SimulatorCluster(config, Path(directory))
        cluster.anchor_ms = int(time.time() * 1000)
        prepared = time.perf_counter() - began
        print(f"{mode}: ready in {prepared:.1f} s, RSS {rss_mb():.0f} MiB", flush=True)
        sent, next_prune = 0, PRUNE_EVERY_MS
        for step in cluster.timeline():
            cluster._send(step)
            sent += 1
            if step.t_ms >= next_prune:
                next_prune = step.t_ms + PRUNE_EVERY_MS
                cluster._prune_history(step.t_ms)
            if sent % 100_000 == 0:
                print(f"  {sent:>9,} sent  RSS {rss_mb():.0f} MiB", flush=True)
            if sent >= messages:
                break
        if mode == "bounded":  # as the player does once everything is sent
            cluster.write_truth()
            size = cluster.ground_truth_path.stat().st_size / 2**20
            print(f"  ground truth written ({size:.0f} MiB of JSON)", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    elapsed = time.perf_counter() - began
    print(f"{mode}: {sent:,} messages in {elapsed:.0f} s, peak RSS {peak:.0f} MiB", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    modes = [a for a in args if not a.isdigit()]
    count = next((int(a) for a in args if a.isdigit()), MESSAGES)
    if len(modes) == 1:
        asyncio.run(play(modes[0], count))
    else:
        for mode in modes or ["bounded", "endless"]:
            subprocess.run([sys.executable, __file__, mode, str(count)], check=True)
