"""One bench script on both embedded brokers in one run, side by side.

    python bench/both_brokers.py bench_agents.py 5000 1000 5

Runs `bench/<script> <args>` with MMSTREAM_EMBEDDED_BROKER=tansu, then =kafka (needs
`make kafka` and Java 17+), and prints each run's output under its broker's name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main(script: str, args: list[str]) -> int:
    failed = 0
    for broker in ("tansu", "kafka"):
        print(f"\n### {script} {' '.join(args)} on {broker}\n", flush=True)
        env = {**os.environ, "MMSTREAM_EMBEDDED_BROKER": broker}
        done = subprocess.run([sys.executable, str(BENCH / script), *args], env=env, check=False)
        failed |= done.returncode != 0
    return int(failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
