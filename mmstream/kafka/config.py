"""Kafka client configuration: user pass-through settings, safe defaults, and the embedded profile.

`ClusterTarget` is what every component receives: where Kafka is, whether it is the embedded
Tansu broker, and the user's pass-through librdkafka properties. The client-config builders add
the delivery guarantees the pipeline needs and, on the embedded broker only, the tuned profile
(see BROKERS.md: group join and fetch wait are slow with client defaults on Tansu).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Used only when the pipeline runs on the embedded Tansu broker. Against an external cluster the
# user's settings and the client defaults apply.
EMBEDDED_CONSUMER_PROFILE: dict[str, Any] = {
    "session.timeout.ms": 2000,
    "heartbeat.interval.ms": 500,
    "fetch.wait.max.ms": 10,
}


@dataclass(frozen=True)
class ClusterTarget:
    """A Kafka cluster to talk to, plus the user's pass-through client properties."""

    bootstrap_servers: str
    embedded: bool
    client_properties: dict[str, str] = field(default_factory=dict)


def producer_config(target: ClusterTarget, **overrides: Any) -> dict[str, Any]:
    """An at-least-once producer: idempotent, acks=all, bounded in-flight queue."""
    conf: dict[str, Any] = {
        "bootstrap.servers": target.bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
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
    conf.update(target.client_properties)
    conf.update(overrides)
    return conf


def admin_config(target: ClusterTarget, **overrides: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {"bootstrap.servers": target.bootstrap_servers}
    conf.update(target.client_properties)
    conf.update(overrides)
    return conf
