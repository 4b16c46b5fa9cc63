"""Start → ready time and idle memory of the local brokers: Tansu, one Kafka node, three.

Ready = the metadata answers (for Kafka: every node lists every broker). Fresh data directory
each round; the idle RSS is read 5 s after ready. A durable restart of one Kafka node (SIGKILL,
start on the same data) is timed too. Usage: `.venv/bin/python bench/bench_broker_start.py`.
Needs Java 17+ and `make kafka` for the Kafka rows.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mmstream.stack.embedded import Broker
from mmstream.stack.kafka_cluster import KafkaCluster

ROUNDS = 3
IDLE_S = 5.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tansu_round(directory: Path) -> tuple[float, list[float], float | None]:
    broker = Broker(directory)
    broker.start_ready()
    try:
        time.sleep(IDLE_S)  # idle on purpose: the figure is the memory of an idle broker
        return broker.ready_s, [rss_mib(broker.pid)], None
    finally:
        broker.stop()


def kafka_round(nodes: int) -> Callable[[Path], tuple[float, list[float], float | None]]:
    def run(directory: Path) -> tuple[float, list[float], float | None]:
        cluster = KafkaCluster(directory / "kafka", nodes=nodes).start()
        try:
            time.sleep(IDLE_S)  # idle on purpose, as above
            rss = [rss_mib(node.pid) for node in cluster.nodes.values()]
            restart_s = cluster.restart(max(cluster.nodes))
            return cluster.ready_s, rss, restart_s
        finally:
            cluster.stop()

    return run


def main() -> None:
    rows = [
        ("Tansu 0.6.0 (memory)", tansu_round),
        ("Kafka 4.1.1, 1 node", kafka_round(1)),
        ("Kafka 4.1.1, 3 nodes", kafka_round(3)),
    ]
    print("| broker | start → ready (median of 3, max) | idle RSS per node | restart of one node |")
    print("|---|---|---|---|")
    for name, run in rows:
        ready, rss, restarts = [], [], []
        for _ in range(ROUNDS):
            with tempfile.TemporaryDirectory() as directory:
                ready_s, rss_nodes, restart_s = run(Path(directory))
            ready.append(ready_s)
            rss.extend(rss_nodes)
            if restart_s is not None:
                restarts.append(restart_s)
        restart = f"{statistics.median(restarts):.1f} s" if restarts else "— (loses all data)"
        print(
            f"| {name} | {statistics.median(ready):.2f} s, {max(ready):.2f} s | "
            f"{statistics.median(rss):.0f} MiB | {restart} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
