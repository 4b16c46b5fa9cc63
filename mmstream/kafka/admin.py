"""Topic administration: create the pipeline's topics (idempotently) and describe them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from mmstream.errors import MmstreamError
from mmstream.kafka.config import ClusterTarget, admin_config
from mmstream.settings import TopicSettings
from mmstream.topics import TOPICS

log = logging.getLogger(__name__)
ADMIN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    exists: bool


def admin_client(target: ClusterTarget) -> AdminClient:
    return AdminClient(admin_config(target))


def create_topics(
    target: ClusterTarget, names: TopicSettings, replication_factor: int = -1
) -> list[str]:
    """Create every pipeline topic that does not exist yet; return the names created."""
    admin = admin_client(target)
    new = [
        NewTopic(
            names.name(spec.id),
            num_partitions=spec.partitions,
            replication_factor=replication_factor,
            config=dict(spec.config),
        )
        for spec in TOPICS
    ]
    created: list[str] = []
    for name, future in admin.create_topics(new, request_timeout=ADMIN_TIMEOUT_S).items():
        try:
            future.result(ADMIN_TIMEOUT_S)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise MmstreamError(f"could not create topic {name}: {exc.args[0].str()}") from None
    if created:
        log.info("created topics %s", ", ".join(created))
    return created


def delete_topics(target: ClusterTarget, topic_names: list[str]) -> None:
    admin = admin_client(target)
    for future in admin.delete_topics(topic_names, request_timeout=ADMIN_TIMEOUT_S).values():
        try:
            future.result(ADMIN_TIMEOUT_S)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise


def topic_exists(target: ClusterTarget, name: str) -> bool:
    """Whether the cluster has the topic. Lists every topic rather than asking for this one:
    a metadata request naming a topic creates it on brokers that auto-create topics."""
    topic = admin_client(target).list_topics(timeout=ADMIN_TIMEOUT_S).topics.get(name)
    return topic is not None and topic.error is None


def describe_topics(target: ClusterTarget, names: TopicSettings) -> list[TopicState]:
    metadata = admin_client(target).list_topics(timeout=ADMIN_TIMEOUT_S)
    states = []
    for spec in TOPICS:
        name = names.name(spec.id)
        topic = metadata.topics.get(name)
        exists = topic is not None and topic.error is None
        states.append(TopicState(name, len(topic.partitions) if topic and exists else 0, exists))
    return states
