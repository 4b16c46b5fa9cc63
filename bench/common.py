"""Shared pieces of the benchmark scripts: a throwaway embedded stack, timing, peak RSS."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mmstream.stack import EmbeddedStack


@contextmanager
def embedded_stack() -> Iterator[EmbeddedStack]:
    """The embedded stack on MMSTREAM_EMBEDDED_BROKER (tansu by default, or kafka)."""
    broker = os.environ.get("MMSTREAM_EMBEDDED_BROKER", "tansu")
    with (
        tempfile.TemporaryDirectory() as directory,
        EmbeddedStack(Path(directory), broker=broker) as stack,
    ):
        yield stack


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "p50": pick(0.50),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "mean": statistics.fmean(ordered),
    }


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident set size (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def listing(counts: dict[str, float]) -> str:
    """`name count, …` in name order, e.g. table sizes."""
    return ", ".join(f"{name} {count:,.0f}" for name, count in sorted(counts.items()))


def table(rows: list[tuple[str, str]], header: tuple[str, str] = ("figure", "value")) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def stop_child(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
