"""A connector's liveness and readiness (served by `mmstream.health` beside its metrics).

Ready: the session is streaming (subscribed, and any REST resync done) and the producer's
metadata requests are answered by Kafka. Alive: the connector's event loop keeps beating.
"""

from __future__ import annotations

from connectors.metrics import ConnectorMetrics
from connectors.sink import KafkaSink
from mmstream.health import CheckResult, Health, kafka_reachable

READY_STATE = "streaming"


def connector_health(feed: str, metrics: ConnectorMetrics, sink: KafkaSink) -> Health:
    health = Health(f"connector-{feed}")
    health.ready_when("session", lambda: CheckResult(metrics.state == READY_STATE, metrics.state))
    health.ready_when("kafka", kafka_reachable(lambda: sink.producer))
    return health
