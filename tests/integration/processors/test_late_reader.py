"""An agent that reads in bulk but waits before routing (the score router waits for the fixture
map) loses nothing that the consumer fetched meanwhile, provided it waits inside its loop: the
topics are registered with the intake when the batches are first asked for. Waiting before
asking for them (the router until this was found on the 3-node broker-kill test) leaves the
records fetched in between in a Faust queue nobody reads: the `before` case pins that."""

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
    if wait == "inside":
        assert offsets == list(range(EARLY + LATE)), (tmp_path / "app.log").read_text()[-2000:]
    else:
        assert offsets == list(range(EARLY, EARLY + LATE)), offsets  # the early ones are lost
