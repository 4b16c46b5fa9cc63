"""Memory over a one-million-message run of the whole pipeline (`mmstream up`, simulated feeds).

1,000,000 messages offered (1,000 msg/s for 1,000 s; at 2,500 msg/s this 2-core machine
saturates). Peak RSS of the MM API connector and of the worker, and the worker's table sizes
at the end, which stay bounded by retention: orders idle for 60 s leave the table (settled
ones after 30 s) instead of the default hour, so that boundedness shows within the run. See
bench_pipeline.py for how latency is measured.

Usage: bench/bench_million.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_pipeline import main

if __name__ == "__main__":
    os.environ["MMSTREAM_PROCESSOR_RETENTION_S"] = "60"
    os.environ["MMSTREAM_PROCESSOR_CLOSED_RETENTION_S"] = "30"
    main(1000.0, [1000.0])
