"""`mmstream up` with its MM API connector killed (SIGKILL) while orders and bets change: the
supervisor restarts it, the new process gap-fills from the recorded position, and the derived
topics equal the ground truth (no false unhedged-fill alert, no fill missing)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

from mmstream.settings import TopicSettings
from mmstream.simulators import GroundTruth
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import consume_until, decoder_for
from tests.helpers.processes import Child, wait_for
from tests.helpers.truth import assert_derived_equal_truth, read_all
from tests.integration.pipeline.test_end_to_end import PROCESSOR_SETTINGS

STARTED = re.compile(r"started connector-mmapi \(pid (\d+)\)")


def connector_pids(up: Child) -> list[int]:
    return [int(pid) for pid in STARTED.findall(up.output)]


async def test_a_killed_connector_is_restarted_and_closes_its_gap(
    cluster: TestCluster, topics: TopicSettings, tmp_path: Path
) -> None:
    env = {
        **cluster.env(topics),
        **PROCESSOR_SETTINGS,
        "MMSTREAM_DATA_DIR": str(tmp_path),
        "MMSTREAM_PROCESSOR_APP_ID": f"restart-{tmp_path.name}",
        "MMAPI_OFFSET_FLUSH_INTERVAL_S": "0.2",
    }
    up = Child(
        ["up", "--no-view", "--seed", "3", "--rate", "60", "--duration", "20", "--exit-when-done"],
        env,
        tmp_path / "up.log",
    )
    try:
        await wait_for(lambda: connector_pids(up), 120, "the MM API connector to start")
        offsets_topic = topics.name("connector_offsets")
        decode = decoder_for(cluster.registry_url, topics)
        await asyncio.to_thread(
            consume_until,
            cluster.target,
            offsets_topic,
            lambda records: (
                {k for k, v in records if v["watermark"]} >= {"mmapi/orders", "mmapi/bets"}
            ),
            120,
            lambda data: decode(data, offsets_topic),
        )
        os.kill(connector_pids(up)[0], signal.SIGKILL)  # mid-scenario: no flush, no last word
        await wait_for(lambda: len(connector_pids(up)) == 2, 60, "the supervisor to restart it")
        code = await up.wait(240)
    finally:
        up.kill()
    assert code == 0, up.output[-3000:]
    assert "connector-mmapi exited with -9; restart 1" in up.output
    connector_log = (tmp_path / "logs" / "connector-mmapi.log").read_text()
    assert "resuming orders where the last process stopped" in connector_log
    assert "resuming bets where the last process stopped" in connector_log
    backfilled = [
        r
        for topic_id in ("orders", "bets")
        for r in read_all(cluster, topics, topic_id)
        if r["envelope"]["origin"] == "BACKFILL"
    ]
    assert backfilled, "the restarted connector closed the gap from REST"
    truth = GroundTruth.read(tmp_path / "simulators" / "ground_truth.json")
    assert_derived_equal_truth(cluster, topics, truth)
