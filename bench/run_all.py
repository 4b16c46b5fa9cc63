"""Run every benchmark script in bench/ and write the figures to bench/RESULTS.md.

Each script prints its own figures (markdown tables or `name: value` lines); this runner records
them with the machine and the commit they were measured on, so the README can quote the latest.
Usage: `make bench` or `.venv/bin/python bench/run_all.py [--only NAME ...]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"
PER_SCRIPT_TIMEOUT_S = 3600  # bench_million runs for about 40 minutes


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True)
    return result.stdout.strip() + (" (+ uncommitted changes)" if dirty.stdout.strip() else "")


def run(script: Path) -> tuple[str, float, int]:
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=PER_SCRIPT_TIMEOUT_S,
        )
        code = result.returncode
        output = result.stdout + (result.stderr if code else "")
    except subprocess.TimeoutExpired:
        output, code = f"timed out after {PER_SCRIPT_TIMEOUT_S}s", -1
    return output.strip(), time.monotonic() - started, code


def previous_sections() -> dict[str, str]:
    """The sections of the current RESULTS.md by script name (kept when re-running some)."""
    if not RESULTS.exists():
        return {}
    sections: dict[str, str] = {}
    for chunk in RESULTS.read_text().split("\n## ")[1:]:
        name = chunk.split(" ", 1)[0].split("\n", 1)[0]
        sections[name] = "## " + chunk.rstrip() + "\n"
    return sections


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="script names without .py, e.g. bench_serde")
    args = parser.parse_args()
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem in set(args.only)]
    sections = previous_sections() if args.only else {}
    failures = 0
    for script in scripts:
        print(f"running {script.name} …", flush=True)
        output, seconds, code = run(script)
        failures += code != 0
        status = "" if code == 0 else f" — FAILED (exit {code})"
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        stamp = f"{seconds:.0f} s, commit {commit()}, {when}"
        sections[script.stem] = f"## {script.stem} ({stamp}){status}\n\n```\n{output}\n```\n"
    header = [
        "# Benchmark results\n",
        f"- machine: {machine()}",
        "- each section names the commit and time it was measured at",
        "- command: `make bench` (or `.venv/bin/python bench/<script>.py`); "
        "`bench/run_all.py --only NAME` re-runs one section and keeps the others\n",
    ]
    RESULTS.write_text("\n".join(header + [sections[name] for name in sorted(sections)]))
    print(f"wrote {RESULTS}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
