"""Connector test plumbing: run `mmstream connect` against the simulators and the session
cluster, and read back what reached Kafka."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from mmstream.core.settings import TopicSettings
from mmstream.simulators import SimulatorCluster
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import consume
from tests.helpers.processes import Child


def connector_env(
    feed: str, sims: SimulatorCluster, key: str | None = None, **extra: str
) -> dict[str, str]:
    if feed == "mmapi":
        env = {
            "MMAPI_API_KEY": key or sims.mmapi_api_key,
            "MMAPI_WS_URL": sims.mmapi_ws_url,
            "MMAPI_REST_URL": sims.mmapi_rest_url,
            "MMAPI_HEARTBEAT_INTERVAL_S": "1",
            "MMAPI_PING_INTERVAL_S": "0.5",
            "MMAPI_BACKFILL_MARGIN_S": "2",
        }
    else:
        env = {
            "PREDEXON_API_KEY": key or sims.predexon_api_key,
            "PREDEXON_WS_URL": sims.predexon_ws_base_url,
            "PREDEXON_REST_URL": sims.predexon_rest_url,
            "PREDEXON_PING_INTERVAL_S": "1",
        }
    prefix = "MMAPI_" if feed == "mmapi" else "PREDEXON_"
    env.update({f"{prefix}BACKOFF_BASE_S": "0.1", f"{prefix}BACKOFF_CAP_S": "1"})
    env[f"{prefix}TIME_WINDOW_PAST_S"] = str(sims.accepted_past_s())
    env.update(extra)
    return env


@pytest.fixture
async def run_connector(
    cluster: TestCluster, topics: TopicSettings, tmp_path: Path
) -> AsyncIterator[Callable[..., Child]]:
    children: list[Child] = []

    def start(feed: str, sims: SimulatorCluster, key: str | None = None, **extra: str) -> Child:
        env = {**cluster.env(topics), **connector_env(feed, sims, key, **extra)}
        child = Child(["connect", feed], env, tmp_path / f"{feed}-{uuid.uuid4().hex[:6]}.log")
        children.append(child)
        return child

    yield start
    for child in children:
        child.kill()


def read_topic(
    cluster: TestCluster,
    topics: TopicSettings,
    topic_id: str,
    count: int,
    decode: Callable[[bytes], Any],
    deadline_s: float = 30.0,
) -> list[Any]:
    return [
        value
        for _, value, _ in consume(cluster.target, topics.name(topic_id), count, deadline_s, decode)
    ]
