"""The 3-node tier: three local Apache Kafka nodes (RF 3, min.insync.replicas 2, producers with
acks=all) and an embedded registry, started once for the tests of this folder.

These tests SIGKILL brokers and workers, so they run in a tier of their own, once per CI run
(`MMSTREAM_TEST_CLUSTER3=1`, see `.ci/run`); elsewhere they are skipped with that reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmstream.core.kafka.config import ClusterTarget
from mmstream.stack.embedded import Registry
from mmstream.stack.kafka_cluster import KafkaCluster
from mmstream.stack.kafka_node import missing_requirements
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import produce

ENABLED = os.environ.get("MMSTREAM_TEST_CLUSTER3") == "1"
Cluster3 = tuple[TestCluster, KafkaCluster]
REASON = "the 3-node Kafka tier runs when MMSTREAM_TEST_CLUSTER3=1 (once per .ci/run)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ENABLED:
        return
    for item in items:
        if "cluster3" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=REASON))


@pytest.fixture(scope="session")
def cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster3]:
    missing = missing_requirements()
    assert missing is None, f"the 3-node tier needs the local Kafka: {missing}"
    directory = Path(tmp_path_factory.mktemp("cluster3"))
    registry = Registry(directory)
    registry.start_ready()
    try:
        with KafkaCluster(directory / "kafka", nodes=3) as nodes:
            target = ClusterTarget.with_profile(nodes.bootstrap_servers, "kafka-local")
            # the first idempotent producer of a new cluster waits for its coordinator to load
            produce(target, f"warm-up-{uuid.uuid4().hex[:8]}", [("k", b"v")])
            yield TestCluster(target, registry.url, nodes), nodes
    finally:
        registry.stop()
