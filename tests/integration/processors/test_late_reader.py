"""An agent that reads in bulk but waits before routing (the score router waits for the fixture
map) loses nothing that the consumer fetched meanwhile, wherever it waits: its topics are given
to the intake when the agent is defined (`processors.bulk.register`). Found on the 3-node
broker-kill test: while the intake learnt them only at the first batch, the router waited for
the map before asking for it, and the records fetched in between went to a Faust queue nobody
read and were committed past (a SCORE_CONFLICT window unreported). A channel not registered
that way now fails at its first batch (`test_bulk_register.py`)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import consume, consume_until, produce
from tests.integration.broker.test_broker_conformance import new_topic

APP = "tests.integration.processors.late_reader_app"
EARLY, LATE = 12, 5  # records in the topic before the app starts / once it routes


def run_app(cluster: TestCluster, topic: str, output: str, wait: str, log: Path) -> Any:
    env = {
        **os.environ,
        "TEST_BOOTSTRAP": cluster.target.bootstrap_servers,
        "TEST_PROFILE": cluster.target.profile,
        "TEST_APP_ID": f"late-reader-{uuid.uuid4().hex[:8]}",
        "TEST_INPUT": topic,
        "TEST_OUTPUT": output,
        "TEST_RECORDS": str(EARLY),
        "TEST_WAIT": wait,
        "TEST_DATADIR": str(log.parent / "faust"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", APP],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=str(Path(__file__).parents[3]),
    )


@pytest.mark.parametrize("wait", ["inside", "before"])
def test_records_fetched_while_the_agent_waits(
    cluster: TestCluster, tmp_path: Path, wait: str
) -> None:
    topic, output = new_topic(cluster.target), new_topic(cluster.target)
    produce(cluster.target, topic, [("k", str(n).encode()) for n in range(EARLY)])
    app = run_app(cluster, topic, output, wait, tmp_path / "app.log")
    try:
        consume(cluster.target, output, 1, 90)  # the gate: every early record was fetched
        produce(cluster.target, topic, [("k", str(n).encode()) for n in range(LATE)])
        last = str(EARLY + LATE - 1)  # routed in both cases, after all that will be routed

        def done(records: list[tuple[str | None, Any]]) -> bool:
            return ("offset", last) in records

        routed = consume_until(cluster.target, output, done, 60, bytes.decode)
    finally:
        app.kill()
        app.wait(10)
    offsets = sorted(int(v) for k, v in routed if k == "offset")
    assert offsets == list(range(EARLY + LATE)), (tmp_path / "app.log").read_text()[-2000:]
