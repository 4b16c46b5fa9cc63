"""A worker's readiness reads its lag from the consumer-lag gauge the worker publishes."""

from __future__ import annotations

from processors.health import total_lag
from processors.metrics import ProcessorMetrics


def test_total_lag_sums_every_partition_and_is_unknown_before_any() -> None:
    metrics = ProcessorMetrics()
    assert total_lag(metrics.registry) is None, "no partition measured: not 0, unknown"
    metrics.consumer_lag.labels("mmapi.orders", "0").set(120)
    metrics.consumer_lag.labels("mmapi.bets", "3").set(30)
    metrics.lag.labels("hedge").set(999)  # the per-agent sum is not counted twice
    assert total_lag(metrics.registry) == 150
    metrics.consumer_lag.remove("mmapi.orders", "0")
    assert total_lag(metrics.registry) == 30
