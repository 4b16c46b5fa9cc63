"""Topic administration: create the pipeline's topics (idempotently), describe them, and check
that the topics joined by key are co-partitioned on the cluster; `require_listening` lets a
one-shot command fail at once when nothing listens at the bootstrap addresses."""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from mmstream.core.errors import ConfigurationError, MmstreamError
from mmstream.core.kafka.config import ClusterTarget, admin_config
from mmstream.core.settings import TopicSettings
from mmstream.core.topics import CO_PARTITIONED, INTERNAL_PARTITIONS, TOPICS

log = logging.getLogger(__name__)
ADMIN_TIMEOUT_S = 30.0
CONNECT_PROBE_S = 3.0
METADATA_RETRY_S = 0.2
UNKNOWN_TOPIC = KafkaError.UNKNOWN_TOPIC_OR_PART


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    exists: bool


class KafkaUnreachable(MmstreamError):
    """No bootstrap address of the cluster accepts a connection."""


def admin_client(target: ClusterTarget) -> AdminClient:
    return AdminClient(admin_config(target))


def require_listening(target: ClusterTarget) -> None:
    """Fail at once, naming the setting, when every bootstrap address refuses the connection or
    does not resolve: nothing listens there, and librdkafka would retry until `ADMIN_TIMEOUT_S`.
    A broker that accepts connections but is slow to answer (starting, loaded), or an address
    that does not answer within `CONNECT_PROBE_S` (a firewall, a far network), is left to the
    admin timeouts. For one-shot commands: a long-running service waits for a broker that starts
    after it (its supervisor or its own timeouts decide). The client settings are checked before
    the error: a bad `MMSTREAM_KAFKA_<PROPERTY>` is reported as a bad setting (exit 2), not as a
    missing broker."""
    failures = []
    for address in target.bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition("://")[2].rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), CONNECT_PROBE_S).close()
            return
        except ConnectionRefusedError:
            failures.append(f"{address.strip()}: connection refused")
        except socket.gaierror as exc:
            failures.append(f"{address.strip()}: {exc.strerror or 'unknown host'}")
        except (OSError, ValueError):
            return  # not a clear refusal: the client's own timeouts decide
    # a bad property raises here (KafkaException _INVALID_ARG); the client's own log lines
    # (its failed connects) go to a logger never polled, so the error stays one line
    quiet: dict[str, Any] = {**admin_config(target), "logger": log.getChild("probe")}
    AdminClient(quiet)
    raise KafkaUnreachable(
        f"Kafka: no broker listens at the bootstrap servers ({'; '.join(failures)}); "
        "check MMSTREAM_BOOTSTRAP_SERVERS (unset: the embedded stack of `mmstream up`)"
    )


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


def partition_counts(target: ClusterTarget, topic_names: list[str]) -> dict[str, int]:
    """The partition count of each named topic the cluster has (absent ones are left out).
    A topic listed with an error (just created: no leader yet) is asked again until it shows its
    partitions, so that a check never passes by leaving it out; still failing after
    `ADMIN_TIMEOUT_S`, it is an error naming the topic."""
    admin = admin_client(target)
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while True:
        metadata = admin.list_topics(timeout=ADMIN_TIMEOUT_S)
        counts, failing = {}, {}
        for name in topic_names:
            topic = metadata.topics.get(name)
            if topic is None or (topic.error is not None and topic.error.code() == UNKNOWN_TOPIC):
                continue
            if topic.error is not None:
                failing[name] = topic.error.str()
            else:
                counts[name] = len(topic.partitions)
        if not failing:
            return counts
        if time.monotonic() >= deadline:
            found = ", ".join(f"{name}: {error}" for name, error in failing.items())
            raise MmstreamError(f"topics listed with an error for {ADMIN_TIMEOUT_S:.0f} s: {found}")
        time.sleep(METADATA_RETRY_S)


def check_co_partitioning(target: ClusterTarget, names: TopicSettings) -> None:
    """Stop start-up when topics an agent folds into one table do not all have the partition
    count the table is sized with (`mmstream.core.topics`): records of one key would meet in
    different partitions, on different workers, and the join would silently miss. A topic that
    does not exist yet is left to whoever creates it (`mmstream topics`, `mmstream up`)."""
    for group in CO_PARTITIONED:
        ids = {names.name(topic_id): topic_id for topic_id in group.topic_ids}
        counts = partition_counts(target, list(ids))
        expected = INTERNAL_PARTITIONS[group.table]
        if all(count == expected for count in counts.values()):
            continue
        found = ", ".join(
            f"{name} (MMSTREAM_TOPIC_{ids[name].upper()}) has {count}"
            for name, count in counts.items()
        )
        raise ConfigurationError(
            f"{group.reader} reads {' and '.join(ids)} into its table {group.table} by key: "
            f"they need the table's partition count ({expected}, from mmstream/core/topics.py), "
            f"but {found}; recreate the topics with {expected} partitions"
        )


def check_internal_partitions(target: ClusterTarget, app_id: str) -> None:
    """Stop start-up when a worker's internal topic or table changelog already exists with
    another partition count than `mmstream.core.topics.INTERNAL_PARTITIONS` gives it (created
    before the count changed): Faust would use it as it is, and a table's keys would no longer
    sit in the partition numbers of their source records."""
    expected = {
        f"{app_id}-{name}{suffix}": count
        for name, count in INTERNAL_PARTITIONS.items()
        for suffix in ("", "-changelog")
    }
    counts = partition_counts(target, list(expected))
    wrong = {name: count for name, count in counts.items() if count != expected[name]}
    if wrong:
        found = ", ".join(
            f"{name} has {count} (needs {expected[name]})" for name, count in wrong.items()
        )
        raise ConfigurationError(
            f"internal topics of app id {app_id} (MMSTREAM_PROCESSOR_APP_ID) have other partition "
            f"counts than mmstream/core/topics.py gives them: {found}; recreate them, or start "
            "under a new app id (a table then recovers nothing)"
        )
