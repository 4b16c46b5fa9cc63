"""End-to-end latency and memory of the whole pipeline: `mmstream up` on simulated feeds.

For each offered RATE, `mmstream up --no-view --rate RATE --duration SECONDS --exit-when-done`
runs in a fresh data dir on MMSTREAM_EMBEDDED_BROKER (tansu, or kafka: `make kafka`) while this
script follows the raw order/bet topics and `hedge.fills` / `scores.reconciled`. A derived
record's latency runs from the provider's event time of the newest input it reflects
(`updated_at`; the simulators stamp every message with its scheduled send time, so a simulator or
connector that falls behind shows up too) to the moment a reader gets it, split by stage
(bench/pipeline_latency.py). The worker starts after the connectors and first drains what they
published meanwhile: only records whose event time is WARMUP_S (default 5, env BENCH_WARMUP_S)
after the first derived record seen within 1 s of its event count (none if that never happens).
Beside it, in the same run once the pipeline has stopped, a bare confluent-kafka produce → consume
round trip at the same rate on a fresh broker of the same kind, alone (BASELINE_S, warmed up
first): run during the steady window, as before, it added a second 1,000 msg/s stream to the
broker and ~0.3 of the 2 cores to the load the pipeline was measured under (BENCH_BASELINE=beside
still does that). Every second: peak RSS (VmHWM) of the MM API connector and of the worker, the
worker's table sizes, each process's CPU time; the broker's CPU per message of both. The probe
(bench/probe/) also watches the event loops of the simulators, the MM API connector and the
worker (lag of a callback every 10 ms, the loop's CPU meanwhile, GC pauses); with
BENCH_STALLS_FILE=<file> the loops' stacks while a callback was late are appended there.

Usage: bench/bench_pipeline.py [SECONDS] [RATE ...]   (defaults: 60 s at 1,000 msg/s)
Both brokers side by side: bench/both_brokers.py bench_pipeline.py 60 1000
The one-million-event memory run is bench/bench_million.py.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import embedded_stack, listing, peak_rss_mb, stop_child, table
from bench.pipeline_latency import Baseline, Follower, latency_rows, summary
from mmstream.core.kafka.config import ClusterTarget
from mmstream.core.settings import TopicSettings
from mmstream.view.sources import scrape, total

PROBE_DIR = Path(__file__).resolve().parent / "probe"
WARMUP_S = float(os.environ.get("BENCH_WARMUP_S", "5"))
BASELINE_BESIDE = os.environ.get("BENCH_BASELINE", "alone") == "beside"
# the lone baseline: a warm-up (the fresh broker's JIT, the group join), then the measured part
BASELINE_WARMUP_S, BASELINE_S = 10.0, 30.0

# the processes whose memory and metrics are followed, and where each says its metrics port is
METRICS_PORT_VARIABLE = {
    "connect mmapi": "MMAPI_METRICS_PORT",
    "process": "MMSTREAM_PROCESSOR_METRICS_PORT",
}


def children(parent: int) -> dict[int, str]:
    """Every descendant process of `parent` with its command line."""
    by_parent: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            by_parent.setdefault(ppid, []).append(int(entry.name))
    found: dict[int, str] = {}
    pending = [parent]
    while pending:
        for pid in by_parent.get(pending.pop(), []):
            try:
                found[pid] = (
                    Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                ).decode()
            except OSError:
                continue
            pending.append(pid)
    return found


# every process of the stack, by a piece of its command line, for its CPU time
CPU_ROLES = {
    "simulators": " simulate",
    "MM API connector": "connect mmapi",
    "Predexon connector": "connect predexon",
    "worker": "cli process",
    "broker": "tansu",
    "registry": "mmstream.registry",
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_role(cmdline: str) -> str | None:
    if "java" in cmdline and "kafka" in cmdline:
        return "broker"
    return next((role for role, mark in CPU_ROLES.items() if mark in cmdline), None)


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def run(rate: float, seconds: float) -> list[tuple[str, str]]:
    load_start = load()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MMAPI_", "PREDEXON_"))}
        probe_file = Path(data_dir) / "probe.jsonl"
        env.update(
            {
                "MMSTREAM_DATA_DIR": data_dir,
                "MMSTREAM_LOG_LEVEL": "WARNING",
                "MMSTREAM_BENCH_PROBE": str(probe_file),
                "PYTHONPATH": os.pathsep.join(
                    [str(PROBE_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
                ),
            }
        )
        up = subprocess.Popen(
            [sys.executable, "-m", "mmstream.cli", "up", "--no-view", "--exit-when-done",
             "--rate", str(rate), "--duration", str(seconds), "--seed", "11"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        atexit.register(stop_child, up)
        stack_file = Path(data_dir) / "stack.json"
        while not stack_file.exists() and up.poll() is None:
            time.sleep(0.1)
        stack = json.loads(stack_file.read_text())
        profile = "kafka-local" if stack.get("broker") == "kafka" else "tansu"
        target = ClusterTarget.with_profile(stack["bootstrap_servers"], profile)
        follower = Follower(target, stack["registry_url"])
        follower.start()
        baseline = Baseline(target, rate)
        steady_from: float | None = None
        peaks: dict[str, float] = {}
        tables: dict[str, float] = {}
        records_in: dict[str, float] = {}
        connector: dict[str, float] = {}
        cpu: dict[int, tuple[str, float]] = {}
        started_at = time.time()
        started, ends_at = False, started_at + seconds
        while up.poll() is None:
            for pid, cmdline in children(up.pid).items():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    if (cpu_name := cpu_role(cmdline)) is not None:
                        cpu[pid] = (cpu_name, cpu_seconds(pid))
                role = next((r for r in METRICS_PORT_VARIABLE if r in cmdline), None)
                if role is None:
                    continue
                try:
                    peaks[role] = max(peaks.get(role, 0.0), peak_rss_mb(pid))
                    port = environ(pid).get(METRICS_PORT_VARIABLE[role])
                    samples = scrape(f"http://127.0.0.1:{port}/metrics") or {}
                    if role == "connect mmapi":
                        for name in ("records_published_total", "reconnects_total"):
                            if f"mmstream_connector_{name}" in samples:
                                connector[name] = total(samples, f"mmstream_connector_{name}")
                    else:
                        for labels, value in samples.get("mmstream_processor_table_keys", []):
                            tables[labels["table"]] = value
                        for labels, value in samples.get("mmstream_processor_records_in_total", []):
                            records_in[labels["agent"]] = value
                except (OSError, ValueError):
                    continue
            caught_up = follower.observed.caught_up
            if steady_from is None and caught_up is not None:
                steady_from = caught_up + WARMUP_S * 1000
            # the baseline runs in the steady window, or the run's second half if none comes
            baseline_from = started_at + seconds / 2
            if steady_from is not None:
                baseline_from = min(baseline_from, steady_from / 1000)
            if BASELINE_BESIDE and not started and time.time() >= baseline_from:
                baseline.start()
                started = True
            if time.time() >= ends_at:
                baseline.stopping.set()  # the feeds stop: so does the baseline
            time.sleep(1.0)
        baseline.stopping.set()
        follower.stopping.set()
        if started:
            baseline.join(15)
        follower.join(10)
        steady_ms = -math.inf if steady_from is None else steady_from
        worker_rows = probe_rows(probe_file, steady_ms) + stall_rows(probe_file, steady_ms)
    broker_cpu = cpu_by_role(cpu).get("broker", math.nan)
    published = connector.get("records_published_total", 0)
    if BASELINE_BESIDE:
        baseline_latencies, baseline_row = baseline.latencies, "beside the pipeline"
    else:
        baseline_latencies, baseline_row = lone_baseline(rate)
    inputs = records_in.get("hedge", 0) + records_in.get("score-router", 0)
    connector_mb, worker_mb = peaks.get("connect mmapi", math.nan), peaks.get("process", math.nan)
    return [
        (f"offered {rate:,.0f} msg/s for {seconds:.0f} s", f"exit code {up.returncode}"),
        (
            "  MM API connector: records into Kafka / reconnects",
            f"{connector.get('records_published_total', 0):,.0f}"
            f" / {connector.get('reconnects_total', 0):,.0f}",
        ),
        ("  raw events through the agents", f"{inputs:,.0f}"),
        (
            "  first derived record / caught up, s after the start",
            caught_up_row(started_at, follower),
        ),
        ("  tuning set in the environment", tuning() or "none (the profile's defaults)"),
        (
            "  broker / load average at the start, at the end",
            f"{profile} / {load_start} -> {load()}",
        ),
        *latency_rows(follower.observed, steady_from or math.inf, baseline_latencies),
        ("    the bare baseline ran", baseline_row),
        *worker_rows,
        ("  CPU seconds over the run (2 cores shared)", listing(cpu_by_role(cpu))),
        (
            "  broker CPU per MM API record published (all its traffic)",
            f"{broker_cpu / max(published, 1) * 1e6:,.0f} µs",
        ),
        ("  peak RSS: MM API connector / worker", f"{connector_mb:.0f} / {worker_mb:.0f} MiB"),
        ("  worker table keys at the end", listing(tables)),
    ]


def lone_baseline(rate: float) -> tuple[list[float], str]:
    """The bare round trip at `rate` on a fresh broker of the same kind with nothing else on
    it: its latencies after a warm-up, and where / at what broker CPU per message it ran."""
    load_start = load()
    with embedded_stack() as stack:
        profile = "kafka-local" if stack.broker_kind == "kafka" else "tansu"
        baseline = Baseline(ClusterTarget.with_profile(stack.bootstrap_servers, profile), rate)
        baseline.start()
        time.sleep(BASELINE_WARMUP_S)
        brokers = broker_pids()
        cpu_start, skip, sent_start = broker_cpu(brokers), len(baseline.latencies), baseline.sent
        time.sleep(BASELINE_S)
        cpu_used, sent = broker_cpu(brokers) - cpu_start, baseline.sent - sent_start
        baseline.stopping.set()
        baseline.join(15)
    return baseline.latencies[skip:], (
        f"alone after the pipeline, {BASELINE_S:.0f} s on a fresh broker (after"
        f" {BASELINE_WARMUP_S:.0f} s of warm-up): broker CPU {cpu_used / max(sent, 1) * 1e6:,.0f}"
        f" µs per message; load {load_start} -> {load()}"
    )


def broker_pids() -> list[int]:
    return [pid for pid, cmd in children(os.getpid()).items() if cpu_role(cmd) == "broker"]


def broker_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def cpu_by_role(cpu: dict[int, tuple[str, float]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for role, seconds in cpu.values():
        totals[role] = round(totals.get(role, 0.0) + seconds, 1)
    return totals


def probe_rows(path: Path, steady_from: float) -> list[tuple[str, str]]:
    """What the worker's probe (bench/probe/sitecustomize.py) saw in the steady window."""
    ages: list[float] = []
    sizes: list[float] = []
    work: list[float] = []
    hedge_inputs = {TopicSettings().name(t) for t in ("orders", "bets")}
    lines = path.read_text().splitlines() if path.exists() else []
    for line in lines:
        record = json.loads(line)
        ages += [
            a for topic, at, a in record["ages"] if at >= steady_from and topic in hedge_inputs
        ]
        work += [ms for at, ms in record["work_ms"] if at >= steady_from]
        sizes += record["sizes"]
    return [
        ("    worker: raw stamped -> order/bet in the hedge join's batch", summary(ages)),
        ("    worker: an agent's work on a batch", summary(work)),
        ("    worker: events per batch (whole run)", summary(sizes).replace(" ms", "")),
    ]


STALLED_ROLES = ("simulators", "connector", "worker")
# where the event loops stood when a callback was late (innermost frames), appended here
STALLS_FILE = os.environ.get("BENCH_STALLS_FILE")


def stall_rows(path: Path, steady_from: float) -> list[tuple[str, str]]:
    """What held up each watched process's event loop in the steady window (the probe's
    `watch_stalls`): how late a callback scheduled every 10 ms ran, and the GC pauses."""
    rows = []
    for role in STALLED_ROLES:
        lines = Path(f"{path}.{role}.jsonl")
        lags: list[float] = []
        busy: list[float] = []
        pauses: list[tuple[int, float]] = []
        pause_cpu: list[tuple[int, float]] = []
        stalls: dict[str, int] = {}
        for line in lines.read_text().splitlines() if lines.exists() else []:
            record = json.loads(line)
            lags += [lag[1] for lag in record["lag"] if lag[0] >= steady_from]
            busy += [lag[2] for lag in record["lag"] if lag[0] >= steady_from]
            pauses += [(int(g[1]), g[2]) for g in record["gc"] if g[0] >= steady_from]
            pause_cpu += [(int(g[1]), g[3]) for g in record["gc"] if g[0] >= steady_from]
            for where, count in record.get("stalls", {}).items():
                stalls[where] = stalls.get(where, 0) + count
        if STALLS_FILE:
            with open(STALLS_FILE, "a") as out:
                top = sorted(stalls.items(), key=lambda item: -item[1])[:15]
                out.write(f"## {role}\n" + "".join(f"{n} {where}\n" for where, n in top))
        rows += [
            (f"    {role}: event-loop lag (a callback every 10 ms)", summary(lags)),
            (f"    {role}: loop thread's CPU time within that lag", summary(busy)),
            (f"    {role}: GC pauses (wall), all / full ones", pause_row(pauses)),
            (f"    {role}: GC pauses (CPU), all / full ones", pause_row(pause_cpu)),
        ]
    return rows


def pause_row(pauses: list[tuple[int, float]]) -> str:
    full = [ms for gen, ms in pauses if gen == 2]
    return (
        f"{len(pauses):,} for {sum(ms for _, ms in pauses):,.0f} ms, longest"
        f" {max((ms for _, ms in pauses), default=0):,.0f} ms / {len(full):,}, longest"
        f" {max(full, default=0):,.0f} ms"
    )


def caught_up_row(started_at: float, follower: Follower) -> str:
    marks = (follower.observed.first_seen, follower.observed.caught_up)
    return " / ".join("never" if m is None else f"{m / 1000 - started_at:.0f}" for m in marks)


def tuning() -> str:
    marks = ("MMSTREAM_WORKER_", "MMSTREAM_PROCESSOR_BATCH_", "MMSTREAM_KAFKA_")
    return ", ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith(marks))


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(seconds: float, rates: list[float]) -> None:
    rows: list[tuple[str, str]] = []
    for rate in rates:
        rows += run(rate, seconds)
    print(table(rows))


if __name__ == "__main__":
    main(
        float(sys.argv[1]) if len(sys.argv) > 1 else 60.0,
        [float(r) for r in sys.argv[2:]] or [1000.0],
    )
