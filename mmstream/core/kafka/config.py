"""Kafka client configuration: user pass-through settings, safe defaults, and the embedded profile.

`ClusterTarget` is what every component receives: where Kafka is, which client profile applies,
and the user's pass-through librdkafka properties. The client-config builders add the delivery
guarantees the pipeline needs and a profile:

- `tansu` (`embedded=True`): the embedded Tansu broker — short group timeouts and a low fetch
  wait (BROKERS.md: group join and fetch wait are slow with client defaults on Tansu), and the
  Tansu-only Faust work-arounds;
- `kafka-local` (`local_kafka=True`): the local Apache Kafka of `mmstream up --broker kafka` and
  the Kafka test tier — the short group timeouts only (a killed consumer is evicted after 2 s,
  a second joiner waits one 0.5 s heartbeat); Kafka wakes a fetch on new data, so the librdkafka
  consumers keep their fetch wait;
- `default`: an external cluster — the client defaults and the user's settings.

Latency (README "Latency"): on every profile the worker's Faust consumer waits at most a few ms
per fetch and its producer lingers a few ms (`WorkerTuning`; `MMSTREAM_WORKER_*` override them).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

PROFILES = ("tansu", "kafka-local", "default")
KIB = 1024
# Group timeouts for the local brokers (Tansu and the local Kafka, whose
# group.min.session.timeout.ms accepts them). Against an external cluster the user's settings and
# the client defaults apply.
LOCAL_CONSUMER_PROFILE: dict[str, Any] = {
    "session.timeout.ms": 2000,
    "heartbeat.interval.ms": 500,
}
EMBEDDED_CONSUMER_PROFILE: dict[str, Any] = {**LOCAL_CONSUMER_PROFILE, "fetch.wait.max.ms": 10}


@dataclass(frozen=True)
class WorkerTuning:
    """The Faust worker's aiokafka client timings, per profile (no pass-through reaches them).

    `fetch_max_wait_ms`: aiokafka keeps one fetch in flight per broker and leaves out of it every
    partition whose fetched records the worker has not consumed yet; a fetch that holds only
    quiet partitions then waits its whole wait (Faust's 1.5 s) while new records of the busy
    ones queue behind it, on Apache Kafka as on Tansu (where a fetch also sleeps half its wait).
    `fetch_min_bytes`: what a fetch waits for (up to `fetch_max_wait_ms`) before Kafka answers.
    With 1 (the client default) every append of any producer to any assigned partition ends
    the worker's fetch: at 1,000 msg/s from the connectors' small batches that is hundreds of
    fetches a second, each a full request over every assigned partition, built and parsed in
    pure Python (aiokafka has no incremental fetch sessions) and served by the broker. A
    larger value caps the fetches at one per wait at any rate below it, and a backlog still
    returns at once. Not on Tansu, whose fetch already sleeps instead of waking on data.
    `producer_linger_ms`: Faust's default 0 writes one tiny batch per record: slower in pure
    Python, and on Tansu a partition of tiny batches becomes unreadable (BROKERS.md)."""

    fetch_max_wait_ms: int
    producer_linger_ms: int
    fetch_min_bytes: int = 1


WORKER_TUNING: dict[str, WorkerTuning] = {
    "tansu": WorkerTuning(fetch_max_wait_ms=10, producer_linger_ms=5),
    "kafka-local": WorkerTuning(
        fetch_max_wait_ms=10, producer_linger_ms=5, fetch_min_bytes=64 * KIB
    ),
    # a remote cluster: fewer empty fetches per idle worker, still well under the 50 ms goal
    "default": WorkerTuning(fetch_max_wait_ms=25, producer_linger_ms=5, fetch_min_bytes=64 * KIB),
}


@dataclass(frozen=True)
class ClusterTarget:
    """A Kafka cluster to talk to, plus the user's pass-through client properties.

    `embedded`: it is the embedded Tansu broker (its profile and its gaps apply);
    `local_kafka`: it is the local Apache Kafka (the short group timeouts apply);
    `worker_overrides`: `WorkerTuning` fields the user set (`MMSTREAM_WORKER_*`)."""

    bootstrap_servers: str
    embedded: bool
    client_properties: dict[str, str] = field(default_factory=dict)
    local_kafka: bool = False
    worker_overrides: dict[str, int] = field(default_factory=dict)

    @classmethod
    def with_profile(
        cls,
        bootstrap_servers: str,
        profile: str,
        client_properties: dict[str, str] | None = None,
        worker_overrides: dict[str, int] | None = None,
    ) -> ClusterTarget:
        if profile not in PROFILES:
            raise ValueError(f"unknown broker profile {profile!r}, expected one of {PROFILES}")
        return cls(
            bootstrap_servers,
            embedded=profile == "tansu",
            client_properties=dict(client_properties or {}),
            local_kafka=profile == "kafka-local",
            worker_overrides=dict(worker_overrides or {}),
        )

    @property
    def worker(self) -> WorkerTuning:
        """The worker's client timings: the profile's, with the user's overrides."""
        return replace(WORKER_TUNING[self.profile], **self.worker_overrides)

    @property
    def profile(self) -> str:
        if self.embedded:
            return "tansu"
        return "kafka-local" if self.local_kafka else "default"


def producer_config(target: ClusterTarget, **overrides: Any) -> dict[str, Any]:
    """An at-least-once producer: idempotent, acks=all, bounded in-flight queue."""
    conf: dict[str, Any] = {
        "bootstrap.servers": target.bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        # Java-compatible key hashing: Faust (aiokafka) and Kafka Streams place keys alike
        "partitioner": "murmur2_random",
    }
    conf.update(target.client_properties)
    conf.update(overrides)
    return conf


def consumer_config(target: ClusterTarget, group_id: str, **overrides: Any) -> dict[str, Any]:
    """A consumer in `group_id` with manual-friendly defaults and the embedded profile if needed."""
    conf: dict[str, Any] = {
        "bootstrap.servers": target.bootstrap_servers,
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
    }
    if target.embedded:
        conf.update(EMBEDDED_CONSUMER_PROFILE)
    elif target.local_kafka:
        conf.update(LOCAL_CONSUMER_PROFILE)
    conf.update(target.client_properties)
    conf.update(overrides)
    return conf


def admin_config(target: ClusterTarget, **overrides: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {"bootstrap.servers": target.bootstrap_servers}
    conf.update(target.client_properties)
    conf.update(overrides)
    return conf


# Faust (aiokafka) equivalents of the local profiles. Faust's aiokafka driver hard-codes a 1.5 s
# fetch wait; `low_fetch_wait_consumer` lowers it to the profile's `WorkerTuning`.
LOCAL_FAUST_PROFILE: dict[str, Any] = {
    "broker_session_timeout": 2.0,
    "broker_heartbeat_interval": 0.1,
    "broker_rebalance_timeout": 2.0,
}
EMBEDDED_FAUST_FETCH_WAIT_MS = WORKER_TUNING["tansu"].fetch_max_wait_ms


def faust_settings(target: ClusterTarget) -> dict[str, Any]:
    """Keyword arguments for `faust.App`: brokers, credentials, and the embedded profile."""
    servers = [f"kafka://{server.strip()}" for server in target.bootstrap_servers.split(",")]
    settings: dict[str, Any] = {
        "broker": servers,
        "table_standby_replicas": 0,
        "topic_allow_declare": True,
        "consumer_auto_offset_reset": "earliest",
        # changelogs and outputs in multi-record batches: on Tansu the worker reads the
        # changelogs' true ends at recovery (fix `exact_changelog_ends`, BROKERS.md)
        "producer_linger": target.worker.producer_linger_ms / 1000,
    }
    credentials = faust_credentials(target.client_properties)
    if credentials is not None:
        settings["broker_credentials"] = credentials
    if target.embedded or target.local_kafka:
        settings.update(LOCAL_FAUST_PROFILE)
    return settings


def faust_credentials(properties: dict[str, str]) -> Any:
    """SASL / SSL credentials for Faust from the pass-through librdkafka properties."""
    import ssl

    from faust.auth import SASLCredentials, SSLCredentials

    protocol = properties.get("security.protocol", "PLAINTEXT").upper()
    if protocol == "PLAINTEXT":
        return None
    context = None
    if protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=properties.get("ssl.ca.location"))
        if properties.get("ssl.certificate.location"):
            context.load_cert_chain(
                properties["ssl.certificate.location"], properties.get("ssl.key.location")
            )
    if protocol == "SSL":
        return SSLCredentials(context)
    return SASLCredentials(
        username=properties.get("sasl.username"),
        password=properties.get("sasl.password"),
        mechanism=properties.get("sasl.mechanism", "PLAIN"),
        ssl_context=context,
    )


def low_fetch_wait_consumer(
    consumer_class: Any,
    fetch_max_wait_ms: int = EMBEDDED_FAUST_FETCH_WAIT_MS,
    fetch_min_bytes: int = 1,
) -> Any:
    """Fix `low_fetch_wait`: an aiokafka consumer class whose every instance waits at most
    `fetch_max_wait_ms` per fetch, for `fetch_min_bytes` (the target's `WorkerTuning`).

    Faust's aiokafka driver hard-codes `fetch_max_wait_ms=1500` (no setting reaches it). Tansu
    sleeps half the remaining fetch wait instead of waking on new data (BROKERS.md), so each hop
    through a worker costs up to 0.75 s there. Apache Kafka answers a waiting fetch as soon as
    data arrives for a partition in it, but aiokafka leaves partitions with unconsumed fetched
    records out of the one fetch it keeps in flight per broker (`WorkerTuning`): records of a
    busy partition then wait behind a fetch of quiet ones, up to the whole 1.5 s.
    """

    class TunedConsumer(consumer_class):  # type: ignore[misc]  # Faust's class, untyped
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["fetch_max_wait_ms"] = fetch_max_wait_ms
            kwargs["fetch_min_bytes"] = fetch_min_bytes
            super().__init__(*args, **kwargs)

    return TunedConsumer
