"""Settings: validated at start-up, errors name the variable, Kafka properties pass through."""

from __future__ import annotations

import pytest

from mmstream.core.errors import ConfigurationError
from mmstream.core.kafka.config import ClusterTarget, consumer_config
from mmstream.core.settings import (
    KafkaSettings,
    RegistrySettings,
    StackSettings,
    TopicSettings,
    kafka_passthrough,
    load_settings,
)


def test_no_bootstrap_servers_means_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MMSTREAM_BOOTSTRAP_SERVERS", raising=False)
    assert load_settings(KafkaSettings).embedded


@pytest.mark.parametrize(
    ("servers", "setting", "stack_broker", "profile"),
    [
        (None, "auto", None, "tansu"),
        (None, "auto", "tansu", "tansu"),
        (None, "auto", "kafka", "kafka-local"),
        ("kafka:9092", "auto", None, "default"),
        ("kafka:9092", "embedded", None, "tansu"),
        ("127.0.0.1:9092", "kafka-local", None, "kafka-local"),
    ],
)
def test_the_client_profile_follows_the_setting_or_the_running_stack(
    monkeypatch: pytest.MonkeyPatch,
    servers: str | None,
    setting: str,
    stack_broker: str | None,
    profile: str,
) -> None:
    monkeypatch.delenv("MMSTREAM_BOOTSTRAP_SERVERS", raising=False)
    if servers:
        monkeypatch.setenv("MMSTREAM_BOOTSTRAP_SERVERS", servers)
    monkeypatch.setenv("MMSTREAM_BROKER_PROFILE", setting)
    assert load_settings(KafkaSettings).profile(stack_broker) == profile
    target = ClusterTarget.with_profile("127.0.0.1:1", profile)
    assert target.profile == profile
    consumer = consumer_config(target, "g")
    assert ("fetch.wait.max.ms" in consumer) == (profile == "tansu")
    assert ("session.timeout.ms" in consumer) == (profile != "default")


def test_a_bad_embedded_broker_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMSTREAM_EMBEDDED_BROKER", "redpanda")
    with pytest.raises(ConfigurationError, match="MMSTREAM_EMBEDDED_BROKER"):
        load_settings(StackSettings)


def test_bad_bootstrap_servers_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMSTREAM_BOOTSTRAP_SERVERS", "kafka-without-port")
    with pytest.raises(ConfigurationError, match="MMSTREAM_BOOTSTRAP_SERVERS"):
        load_settings(KafkaSettings)


def test_bad_registry_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMSTREAM_SCHEMA_REGISTRY_URL", "registry:8081")
    with pytest.raises(ConfigurationError, match="MMSTREAM_SCHEMA_REGISTRY_URL"):
        load_settings(RegistrySettings)


def test_registry_auth_reaches_the_client_config_but_not_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMSTREAM_SCHEMA_REGISTRY_URL", "https://registry.example:8081/")
    monkeypatch.setenv("MMSTREAM_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "svc:hunter22")
    settings = load_settings(RegistrySettings)
    assert settings.client_config() == {
        "url": "https://registry.example:8081",
        "basic.auth.user.info": "svc:hunter22",
    }
    assert "hunter22" not in repr(settings)


def test_every_kafka_property_passes_through() -> None:
    env = {
        "MMSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "MMSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "MMSTREAM_KAFKA_SSL_CA_LOCATION": "/etc/ca.pem",
        "MMSTREAM_BOOTSTRAP_SERVERS": "k:9092",
        "OTHER": "x",
    }
    assert kafka_passthrough(env) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "ssl.ca.location": "/etc/ca.pem",
    }


def test_topics_can_be_renamed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMSTREAM_TOPIC_HEDGE_FILLS", "desk1.hedge.fills")
    names = load_settings(TopicSettings).names()
    assert names["hedge_fills"] == "desk1.hedge.fills"
    assert names["orders"] == "mmapi.orders"
