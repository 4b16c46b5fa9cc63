"""Faust's stuck-stream check on an agent fed by the bulk intake: quiet while the agent works
through a backlog, an error naming the partition once the agent really stops.

Faust's aiokafka driver checks every assigned partition every `broker_commit_interval` x 2.5 s:
with records waiting on the broker (highwater above the fetch position), it logs an ERROR when
aiokafka has not fetched the partition, or the partition's stream has not taken an event
(`Monitor.stream_inbound_time`), for `stream_processing_timeout`. The bulk intake bypasses the
per-event stream, so the check must learn of the chunks the agent takes from the intake.

The app (`bulk_agent_app.py`) works slowly for twice the timeout, with a backlog throughout, then
stops taking records while the backlog is still there.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import produce
from tests.helpers.processes import wait_for
from tests.integration.broker.test_broker_conformance import new_topic

STUCK_AFTER_S = 5.0
WORK_S = 2 * STUCK_AFTER_S  # the check runs with the agent at work after the timeout
BATCH_SLEEP_S = 0.05  # at most ~200 records/s: the backlog outlasts the work
BACKLOG = 3000
# the messages of faust/transport/drivers/aiokafka.py's `verify_event_path` for a stream or fetch
STUCK = re.compile(
    r"Stream has not started processing|Stream stopped processing|"
    r"Aiokafka has not sent fetch request|Aiokafka stopped fetching"
)
REPO = Path(__file__).resolve().parents[3]
STOP_MARK = "bulk agent stops taking records"


def run_app(cluster: TestCluster, topic: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TEST_BOOTSTRAP": cluster.target.bootstrap_servers,
        "TEST_PROFILE": cluster.target.profile,
        "TEST_APP_ID": f"stuck-{uuid.uuid4().hex[:8]}",
        "TEST_INPUT": topic,
        "TEST_DATADIR": str(log.parent / "faust"),
        "TEST_STUCK_AFTER_S": str(STUCK_AFTER_S),
        "TEST_WORK_S": str(WORK_S),
        "TEST_BATCH_SLEEP_S": str(BATCH_SLEEP_S),
        "TEST_STOP_MARK": STOP_MARK,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.processors.bulk_agent_app"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=str(REPO),
    )


async def test_the_stuck_stream_check_is_quiet_while_a_bulk_agent_works_and_fires_once_it_stops(
    cluster: TestCluster, tmp_path: Path
) -> None:
    topic = new_topic(cluster.target)
    # one record per batch: Tansu's end offsets are right then (BROKERS.md)
    records = [(f"k{i}", b"v" * 20) for i in range(BACKLOG)]
    await asyncio.to_thread(
        produce, cluster.target, topic, records, **{"linger.ms": 0, "batch.num.messages": 1}
    )
    log = tmp_path / "app.log"
    app = run_app(cluster, topic, log)

    def output() -> str:
        return log.read_text(errors="replace")

    def stuck_after_stop() -> bool:
        _, _, after = output().partition(STOP_MARK)
        return any(STUCK.search(line) and topic in line for line in after.splitlines())

    try:
        await wait_for(lambda: STOP_MARK in output(), WORK_S + 60, "the agent to stop")
        await wait_for(stuck_after_stop, STUCK_AFTER_S + 20, "the stuck check to fire")
    finally:
        app.kill()
        app.wait(10)
    before, _, _ = output().partition(STOP_MARK)
    false_alarms = [line for line in before.splitlines() if STUCK.search(line)]
    assert not false_alarms, f"stuck-stream errors while the agent was working: {false_alarms}"
