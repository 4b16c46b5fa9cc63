"""Lag per input partition, per agent, and the stalled flag, from what the consumer knows.

The consumer here is a table of end and committed offsets behind the three things `Liveness`
reads from Faust's consumer (its assignment, `highwater(tp)`, the committed offsets).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.types import TP
from prometheus_client import generate_latest

from processors.liveness import Liveness
from processors.metrics import ProcessorMetrics


class Offsets:
    def __init__(self) -> None:
        self.ends: dict[TP, int] = {}
        self._committed_offset: dict[TP, int] = {}

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def highwater(self, tp: TP) -> int:
        return self.ends[tp]


def sample_value(metrics: ProcessorMetrics, name: str, **labels: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


async def test_lag_by_topic_name_and_partition_summed_per_agent_and_a_stall() -> None:
    consumer = Offsets()
    orders0, orders1, bets0 = TP("mmapi.orders", 0), TP("mmapi.orders", 1), TP("mmapi.bets", 0)
    changelog = TP("app-hedge-state-changelog", 0)
    consumer.ends = {orders0: 900, orders1: 40, bets0: 10, changelog: 5000}
    consumer._committed_offset = {orders0: 854, orders1: 40, bets0: 10}
    metrics = ProcessorMetrics()
    app: Any = SimpleNamespace(consumer=consumer)
    liveness = Liveness(app, metrics, stall_after_s=30.0)
    liveness.follow("hedge", SimpleNamespace(topics=["mmapi.orders", "mmapi.bets"]))
    liveness.processed("hedge")

    await liveness.sample()
    lag = "mmstream_processor_consumer_lag"
    assert sample_value(metrics, lag, topic="mmapi.orders", partition="0") == 46
    assert sample_value(metrics, lag, topic="mmapi.orders", partition="1") == 0
    assert sample_value(metrics, lag, topic="app-hedge-state-changelog", partition="0") is None
    assert sample_value(metrics, "mmstream_processor_lag", agent="hedge") == 46
    assert sample_value(metrics, "mmstream_processor_agent_stalled", agent="hedge") == 0
    processed = sample_value(
        metrics, "mmstream_processor_last_processed_timestamp_seconds", agent="hedge"
    )
    assert processed == liveness.last["hedge"]

    liveness.last["hedge"] -= 31  # nothing processed for 31 s while 46 records wait
    await liveness.sample()
    assert sample_value(metrics, "mmstream_processor_agent_stalled", agent="hedge") == 1

    consumer._committed_offset[orders0] = 900  # caught up: no longer stalled
    del consumer.ends[orders1]  # revoked: its series goes
    await liveness.sample()
    assert sample_value(metrics, "mmstream_processor_agent_stalled", agent="hedge") == 0
    assert sample_value(metrics, lag, topic="mmapi.orders", partition="1") is None
