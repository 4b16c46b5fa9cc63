"""The worker's client timings: a few ms of fetch wait and linger on every profile, each a
setting (`MMSTREAM_WORKER_*`) whose bad value stops start-up naming the variable."""

from __future__ import annotations

import pytest

from mmstream.core.errors import ConfigurationError
from mmstream.core.kafka.config import (
    PROFILES,
    ClusterTarget,
    faust_settings,
    low_fetch_wait_consumer,
)
from mmstream.core.settings import KafkaSettings, load_settings


class Recording:
    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_waits_a_few_ms_per_fetch_and_per_batch(profile: str) -> None:
    """Faust's own 1.5 s fetch wait and zero linger apply on no profile."""
    target = ClusterTarget.with_profile("127.0.0.1:1", profile)
    assert 0 < target.worker.fetch_max_wait_ms <= 25
    assert 0 < target.worker.producer_linger_ms <= 5
    assert faust_settings(target)["producer_linger"] == target.worker.producer_linger_ms / 1000
    tuning = target.worker
    consumer = low_fetch_wait_consumer(Recording, tuning.fetch_max_wait_ms, tuning.fetch_min_bytes)
    made = consumer(fetch_max_wait_ms=1500).kwargs
    assert (made["fetch_max_wait_ms"], made["fetch_min_bytes"]) == (
        tuning.fetch_max_wait_ms,
        tuning.fetch_min_bytes,
    )


@pytest.mark.parametrize("profile", ["kafka-local", "default"])
def test_on_kafka_a_fetch_waits_for_more_than_one_append(profile: str) -> None:
    """Kafka answers a fetch as soon as `fetch_min_bytes` are there: with 1 every small batch a
    connector appends ends the worker's fetch (hundreds a second at 1,000 msg/s); the profile
    asks for more, so a fetch at that rate ends at its wait, one per wait."""
    tuning = ClusterTarget.with_profile("127.0.0.1:1", profile).worker
    assert tuning.fetch_min_bytes >= 16 * 1024


def test_on_tansu_a_fetch_answers_with_the_first_record() -> None:
    """Tansu sleeps out fetch waits instead of waking on data (BROKERS.md): no byte threshold."""
    assert ClusterTarget.with_profile("127.0.0.1:1", "tansu").worker.fetch_min_bytes == 1


def test_the_environment_overrides_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMSTREAM_WORKER_FETCH_MAX_WAIT_MS", "1500")
    monkeypatch.setenv("MMSTREAM_WORKER_PRODUCER_LINGER_MS", "0")
    monkeypatch.setenv("MMSTREAM_WORKER_FETCH_MIN_BYTES", "1")
    overrides = load_settings(KafkaSettings).worker_overrides()
    target = ClusterTarget.with_profile("127.0.0.1:1", "kafka-local", worker_overrides=overrides)
    worker = target.worker
    assert (worker.fetch_max_wait_ms, worker.producer_linger_ms, worker.fetch_min_bytes) == (
        1500,
        0,
        1,
    )
    assert faust_settings(target)["producer_linger"] == 0


def test_unset_means_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MMSTREAM_WORKER_FETCH_MAX_WAIT_MS", raising=False)
    monkeypatch.delenv("MMSTREAM_WORKER_PRODUCER_LINGER_MS", raising=False)
    monkeypatch.delenv("MMSTREAM_WORKER_FETCH_MIN_BYTES", raising=False)
    assert load_settings(KafkaSettings).worker_overrides() == {}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MMSTREAM_WORKER_FETCH_MAX_WAIT_MS", "-1"),
        ("MMSTREAM_WORKER_PRODUCER_LINGER_MS", "soon"),
        ("MMSTREAM_WORKER_FETCH_MIN_BYTES", "0"),
    ],
)
def test_a_bad_timing_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(KafkaSettings)
