"""The replication factor of the topics Faust creates itself (table changelogs, the internal
signal and score-view topics, its assignor's topic).

Faust creates them with `topic_replication_factor`, 1 unless set: on a 3-node cluster each
changelog partition then lives on one broker, and killing that broker stalls every worker's
table recovery until it returns (measured: `tests/integration/cluster/test_broker_kill.py`), and
loses the state for good with the broker's disk. The pipeline's own topics are created with the
cluster's default (`replication_factor=-1`, `mmstream.core.kafka.admin`); Faust's take the same,
read from the brokers' `default.replication.factor` at start-up.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource, ResourceType

from mmstream.core.kafka.admin import ADMIN_TIMEOUT_S, admin_client
from mmstream.core.kafka.config import ClusterTarget

log = logging.getLogger(__name__)
MOST_REPLICAS = 3  # when the brokers' setting cannot be read: 3, or fewer brokers


def cluster_replication_factor(target: ClusterTarget) -> int:
    """The replication factor topics get by default on this cluster (1 on the embedded
    broker, which has one node)."""
    if target.embedded:
        return 1
    admin = admin_client(target)
    brokers = sorted(admin.list_topics(timeout=ADMIN_TIMEOUT_S).brokers)
    resource = ConfigResource(ResourceType.BROKER, str(brokers[0]))
    try:
        configs = admin.describe_configs([resource])[resource].result(ADMIN_TIMEOUT_S)
        return int(configs["default.replication.factor"].value)
    except (KafkaException, KeyError, ValueError) as exc:
        fallback = min(MOST_REPLICAS, len(brokers))
        log.warning(
            "could not read default.replication.factor from broker %s (%s): Faust's topics get %d",
            brokers[0],
            exc,
            fallback,
        )
        return fallback


def faust_topic_settings(target: ClusterTarget) -> dict[str, Any]:
    """`faust.App` keyword arguments for the topics Faust creates."""
    return {"topic_replication_factor": cluster_replication_factor(target)}
