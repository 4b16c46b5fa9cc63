"""`mmstream up` end to end: a fixed-seed scenario in, the derived topics checked against the
scenario's ground truth, every process exiting cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmstream.core.settings import TopicSettings
from mmstream.simulators import GroundTruth
from tests.fixtures.kafka import TestCluster
from tests.helpers.processes import Child
from tests.helpers.truth import assert_derived_equal_truth

DEADLINE_S = 4
PROCESSOR_SETTINGS = {
    "MMSTREAM_PROCESSOR_HEDGE_DEADLINE_S": str(DEADLINE_S),
    "MMSTREAM_PROCESSOR_MAX_LAG_S": "10",
    "MMSTREAM_PROCESSOR_CONFLICT_GRACE_S": "1.5",
    "MMSTREAM_PROCESSOR_RESOLVE_HYSTERESIS_S": "1.5",
    "MMSTREAM_PROCESSOR_TICK_INTERVAL_S": "0.2",
}


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


async def test_up_derives_what_the_ground_truth_says(
    cluster: TestCluster, topics: TopicSettings, tmp_path: Path
) -> None:
    env = {
        **cluster.env(topics),
        **PROCESSOR_SETTINGS,
        "MMSTREAM_DATA_DIR": str(tmp_path),
        "MMSTREAM_PROCESSOR_APP_ID": f"e2e-{tmp_path.name}",
    }
    up = Child(
        [
            "up",
            "--no-view",
            "--seed",
            "3",
            "--rate",
            "60",
            "--duration",
            "20",
            "--exit-when-done",
            "--summary-interval",
            "5",
        ],
        env,
        tmp_path / "up.log",
    )
    code = await up.wait(240)
    assert code == 0, up.output[-3000:]
    assert "scenario sent and processed" in up.output
    for name in ("connector-mmapi=0", "connector-predexon=0", "worker=0", "simulators=0"):
        assert name in up.output, f"{name} missing: {up.output[-1500:]}"
    truth = GroundTruth.read(tmp_path / "simulators" / "ground_truth.json")

    assert_derived_equal_truth(cluster, topics, truth, DEADLINE_S)
    summary = json.dumps(up.output[-600:])
    assert "fills=" in summary
