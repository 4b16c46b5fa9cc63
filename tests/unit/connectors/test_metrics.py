"""The connector's per-record counts, kept as plain ints, read as a scrape reads them."""

from __future__ import annotations

from prometheus_client import generate_latest

from connectors.metrics import ConnectorMetrics


def sample(metrics: ConnectorMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"feed": "mmapi", **labels})


def test_counts_reach_each_scrape_once() -> None:
    metrics = ConnectorMetrics("mmapi")
    for _ in range(3):
        metrics.message("orders")
        metrics.frame("published")
    metrics.delivered("mmapi.orders", 2)
    assert sample(metrics, "mmstream_connector_messages_received_total", channel="orders") == 3
    assert sample(metrics, "mmstream_connector_frames_total", outcome="published") == 3
    metrics.delivered("mmapi.orders", 1)
    metrics.frame("dropped")
    # a second collection adds only what happened since the first
    assert sample(metrics, "mmstream_connector_records_published_total", topic="mmapi.orders") == 3
    assert sample(metrics, "mmstream_connector_frames_total", outcome="published") == 3
    assert sample(metrics, "mmstream_connector_frames_total", outcome="dropped") == 1


def test_lag_histogram_buckets_are_cumulative_with_le_labels() -> None:
    metrics = ConnectorMetrics("mmapi")
    for seconds in (0.001, 0.005, 0.2, 100.0):
        metrics.lag_of_feed.observe(seconds)
    name = "mmstream_connector_end_to_end_lag_seconds"
    assert sample(metrics, f"{name}_bucket", le="0.005") == 2  # le: at most the bound
    assert sample(metrics, f"{name}_bucket", le="0.25") == 3
    assert sample(metrics, f"{name}_bucket", le="60.0") == 3
    assert sample(metrics, f"{name}_bucket", le="+Inf") == 4
    assert sample(metrics, f"{name}_count") == 4
    assert sample(metrics, f"{name}_sum") == 100.206
    text = generate_latest(metrics.registry).decode()
    assert f'{name}_bucket{{feed="mmapi",le="1.0"}} 3.0' in text
