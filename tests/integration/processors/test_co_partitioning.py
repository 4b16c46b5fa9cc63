"""A worker refuses to start on a cluster whose co-partitioned inputs differ in partition count
(the hedge join would otherwise meet an order and its bets in different partitions and miss),
or whose internal topics and changelogs were created with another count than `topics.py`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic

from mmstream.core.errors import ConfigurationError
from mmstream.core.kafka.admin import (
    ADMIN_TIMEOUT_S,
    admin_client,
    check_co_partitioning,
    check_internal_partitions,
)
from mmstream.core.kafka.config import ClusterTarget
from mmstream.core.settings import TopicSettings
from mmstream.core.topics import INTERNAL_PARTITIONS, partitions
from tests.fixtures.kafka import TestCluster
from tests.helpers.processes import Child


@contextmanager
def created(target: ClusterTarget, counts: dict[str, int]) -> Iterator[None]:
    """The topics, created with these counts for the test, then deleted."""
    admin = admin_client(target)
    replication = 1 if target.embedded else -1
    new = [NewTopic(name, count, replication) for name, count in counts.items()]
    for future in admin.create_topics(new, request_timeout=ADMIN_TIMEOUT_S).values():
        future.result(ADMIN_TIMEOUT_S)
    yield
    for future in admin.delete_topics(list(counts), request_timeout=ADMIN_TIMEOUT_S).values():
        future.result(ADMIN_TIMEOUT_S)


@pytest.fixture
def unequal(kafka_target: ClusterTarget) -> Iterator[TopicSettings]:
    """`mmapi.orders` with the declared count, `mmapi.bets` with one more, under uuid names."""
    suffix = uuid.uuid4().hex[:10]
    names = TopicSettings(orders=f"mmapi.orders.{suffix}", bets=f"mmapi.bets.{suffix}")
    counts = {names.orders: partitions("orders"), names.bets: partitions("bets") + 1}
    with created(kafka_target, counts):
        yield names


@pytest.fixture
def stale_changelog(kafka_target: ClusterTarget) -> Iterator[str]:
    """An app id whose hedge table changelog exists with one partition fewer than declared."""
    app_id = f"copart-{uuid.uuid4().hex[:10]}"
    changelog = {f"{app_id}-hedge-state-changelog": INTERNAL_PARTITIONS["hedge-state"] - 1}
    with created(kafka_target, changelog):
        yield app_id


async def test_worker_stops_with_exit_2_naming_the_topics_and_counts(
    cluster: TestCluster, unequal: TopicSettings, tmp_path: Path
) -> None:
    env = {**cluster.env(unequal), "MMSTREAM_DATA_DIR": str(tmp_path)}
    worker = Child(["process"], env, tmp_path / "worker.log")
    try:
        code = await worker.wait(60)
    finally:
        worker.kill()
    declared = partitions("orders")
    assert code == 2, worker.output
    assert "configuration error" in worker.output
    assert f"{unequal.orders} (MMSTREAM_TOPIC_ORDERS) has {declared}" in worker.output
    assert f"{unequal.bets} (MMSTREAM_TOPIC_BETS) has {declared + 1}" in worker.output
    assert "Traceback" not in worker.output


def test_the_pipeline_topics_pass_the_check(
    kafka_target: ClusterTarget, topics: TopicSettings
) -> None:
    check_co_partitioning(kafka_target, topics)  # created from mmstream/core/topics.py: no error


def test_the_check_names_unequal_topics(
    kafka_target: ClusterTarget, unequal: TopicSettings
) -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"hedge join reads .*orders.* and .*bets.* into its table hedge-state",
    ):
        check_co_partitioning(kafka_target, unequal)


async def test_worker_stops_when_a_changelog_has_another_count(
    cluster: TestCluster, topics: TopicSettings, stale_changelog: str, tmp_path: Path
) -> None:
    env = {
        **cluster.env(topics),
        "MMSTREAM_DATA_DIR": str(tmp_path),
        "MMSTREAM_PROCESSOR_APP_ID": stale_changelog,
    }
    worker = Child(["process"], env, tmp_path / "worker.log")
    try:
        code = await worker.wait(60)
    finally:
        worker.kill()
    declared = INTERNAL_PARTITIONS["hedge-state"]
    assert code == 2, worker.output
    assert f"{stale_changelog}-hedge-state-changelog has {declared - 1} (needs {declared})" in (
        worker.output
    )
    assert "Traceback" not in worker.output


def test_internal_topics_not_created_yet_pass_the_check(kafka_target: ClusterTarget) -> None:
    check_internal_partitions(kafka_target, f"fresh-{uuid.uuid4().hex[:10]}")
