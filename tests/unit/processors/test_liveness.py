"""Lag per input partition, per agent, and the stalled flag, from the broker's offsets.

The broker here is a table of end and committed offsets behind `GroupLag.read` (the real one
is tested against real brokers in `tests/integration/processors/test_consumer_lag.py`); the
consumer gives `Liveness` only its assignment.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from confluent_kafka import KafkaException
from faust.types import TP
from prometheus_client import generate_latest

from mmstream.core.kafka.group_lag import Partition
from processors.liveness import Liveness
from processors.metrics import ProcessorMetrics


class Offsets:
    """The consumer's assignment, and the broker's end and committed offsets."""

    def __init__(self) -> None:
        self.ends: dict[TP, int] = {}
        self.committed: dict[TP, int] = {}
        self.down = False
        self.asked: list[set[Partition]] = []

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def read(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        wanted = set(partitions)
        self.asked.append(wanted)
        if self.down:
            raise KafkaException("broker down")
        return {p: self.ends[TP(*p)] - self.committed.get(TP(*p), 0) for p in wanted}


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
    consumer.committed = {orders0: 854, orders1: 40, bets0: 10}
    metrics = ProcessorMetrics()
    app: Any = SimpleNamespace(consumer=consumer)
    liveness = Liveness(app, metrics, stall_after_s=30.0, read_lags=consumer.read)
    liveness.follow("hedge", SimpleNamespace(topics=["mmapi.orders", "mmapi.bets"]))
    liveness.processed("hedge")

    await liveness.sample()
    lag = "mmstream_processor_consumer_lag"
    assert consumer.asked == [{Partition(*orders0), Partition(*orders1), Partition(*bets0)}]
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

    consumer.committed[orders0] = 900  # caught up: no longer stalled
    del consumer.ends[orders1]  # revoked: its series goes
    await liveness.sample()
    assert sample_value(metrics, "mmstream_processor_agent_stalled", agent="hedge") == 0
    assert sample_value(metrics, lag, topic="mmapi.orders", partition="1") is None


async def test_while_the_broker_does_not_answer_the_figures_are_kept_and_their_age_shows() -> None:
    consumer = Offsets()
    orders0 = TP("mmapi.orders", 0)
    consumer.ends, consumer.committed = {orders0: 10}, {orders0: 4}
    metrics = ProcessorMetrics()
    app: Any = SimpleNamespace(consumer=consumer)
    liveness = Liveness(app, metrics, stall_after_s=30.0, read_lags=consumer.read)
    liveness.follow("hedge", SimpleNamespace(topics=["mmapi.orders"]))
    await liveness.sample()
    read_at = sample_value(metrics, "mmstream_processor_lag_sampled_timestamp_seconds")
    assert read_at is not None
    lag = "mmstream_processor_consumer_lag"
    assert sample_value(metrics, lag, topic="mmapi.orders", partition="0") == 6

    consumer.down, consumer.committed[orders0] = True, 10
    await liveness.sample()
    assert sample_value(metrics, lag, topic="mmapi.orders", partition="0") == 6
    assert sample_value(metrics, "mmstream_processor_lag_sampled_timestamp_seconds") == read_at
    consumer.down = False
    await liveness.sample()
    assert sample_value(metrics, lag, topic="mmapi.orders", partition="0") == 0
