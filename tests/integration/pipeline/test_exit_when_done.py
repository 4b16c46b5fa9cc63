"""`mmstream up --exit-when-done` says "scenario sent and processed" only once the broker shows
the worker group committed every raw record — not while the worker is stopped with records
waiting, whatever its last metrics said.

The worker is stopped (SIGSTOP: a process starved, swapped out or stuck, which answers nothing)
once it has taken records in, while the scenario still plays. The scenario ends and no derived
record comes: past the settle time `up` must still be waiting. Then the worker goes on
(SIGCONT): expelled from its group meanwhile, it rejoins and recovers its tables before it reads
its partitions again — a window in which its own figures show nothing behind (no assignment, or
no fetch yet). `up` must finish only after that, with every record of every raw topic committed
by the worker group.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from mmstream.core.settings import TopicSettings
from mmstream.pipeline.drain import RAW_INPUTS, Drain
from mmstream.pipeline.orchestrator import UpOptions
from mmstream.view.sources import scrape
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import read_to_end
from tests.helpers.processes import Child, wait_for
from tests.integration.pipeline.test_end_to_end import PROCESSOR_SETTINGS

STARTED_WORKER = re.compile(r"started worker \(pid (\d+)\)")
WORKER_METRICS = re.compile(r"worker: metrics (http://\S+)")
DURATION_S = 14
SETTLE_S = UpOptions(data_dir=Path("var")).settle_s
TICKS_S = 3.0  # `up` looks once a second (plus a scrape of the stopped worker that times out)


def taken_in(url: str) -> bool:
    """The worker's agents have taken records in."""
    samples = scrape(url) or {}
    return sum(value for _, value in samples.get("mmstream_processor_records_in_total", [])) > 0


def uncommitted(cluster: TestCluster, topics: TopicSettings, app_id: str) -> dict[str, int]:
    """Raw records (read to each partition's end) beyond the worker group's committed offsets."""
    admin = AdminClient({"bootstrap.servers": cluster.target.bootstrap_servers})
    behind: dict[str, int] = {}
    for topic_id in RAW_INPUTS:
        topic = topics.name(topic_id)
        ends: dict[int, int] = {}
        for _, _, message in read_to_end(cluster.target, topic, deadline_s=60):
            partition = message.partition() or 0
            ends[partition] = max(ends.get(partition, 0), (message.offset() or 0) + 1)
        request = [ConsumerGroupTopicPartitions(app_id, [TopicPartition(topic, p) for p in ends])]
        result = admin.list_consumer_group_offsets(request)[app_id].result(10)
        committed = {tp.partition: max(0, tp.offset) for tp in result.topic_partitions}
        missing = sum(max(0, end - committed.get(p, 0)) for p, end in ends.items())
        if missing:
            behind[topic] = missing
    return behind


async def test_exit_when_done_waits_for_a_stopped_worker_to_commit_every_raw_record(
    cluster: TestCluster, topics: TopicSettings, tmp_path: Path
) -> None:
    app_id = f"drain-{tmp_path.name[-20:]}"
    env = {
        **cluster.env(topics),
        **PROCESSOR_SETTINGS,
        "MMSTREAM_DATA_DIR": str(tmp_path),
        "MMSTREAM_PROCESSOR_APP_ID": app_id,
    }
    up = Child(
        [
            *("up", "--no-view", "--seed", "5", "--rate", "40"),
            *("--duration", str(DURATION_S), "--exit-when-done", "--summary-interval", "1"),
        ],
        env,
        tmp_path / "up.log",
    )
    stopped: int | None = None
    try:
        await wait_for(lambda: WORKER_METRICS.search(up.output), 120, "the worker to start")
        found = STARTED_WORKER.search(up.output)
        url = WORKER_METRICS.search(up.output)
        assert found and url, up.output[-3000:]
        await wait_for(lambda: taken_in(url.group(1)), 90, "the worker to take records in")
        os.kill(int(found.group(1)), signal.SIGSTOP)
        stopped = int(found.group(1))
        done = tmp_path / "simulators" / "info.done"
        await wait_for(done.exists, DURATION_S + 60, "the scenario to be sent")
        # the moment the settle time has passed since the scenario's end, as `up` measures it
        moment = done.stat().st_mtime + SETTLE_S + TICKS_S
        await wait_for(
            lambda: up.process.poll() is not None or time.time() > moment,
            SETTLE_S + TICKS_S + 30,
            "the settle time to pass",
        )
        assert up.process.poll() is None, (
            f"up stopped with the worker stopped:\n{up.output[-2000:]}"
        )
        assert "scenario sent and processed" not in up.output
        backlog = await asyncio.to_thread(Drain(cluster.target, topics, app_id).backlog)
        assert backlog, "the stopped worker had committed everything: nothing was shown"
        os.kill(stopped, signal.SIGCONT)
        stopped = None
        code = await up.wait(240)
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        up.kill()
    assert code == 0, up.output[-3000:]
    assert "scenario sent and processed" in up.output, up.output[-2000:]
    behind = await asyncio.to_thread(uncommitted, cluster, topics, app_id)
    assert not behind, f"done was declared with raw records not committed: {behind}"
    assert "waiting for the worker:" in up.output  # it said what it was waiting for
