"""Where this process's Kafka and schema registry are: settings first, else a running stack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmstream.core.errors import ConfigurationError
from mmstream.core.kafka.config import ClusterTarget
from mmstream.core.settings import (
    KafkaSettings,
    RegistrySettings,
    StackSettings,
    TopicSettings,
    kafka_passthrough,
    load_settings,
)
from mmstream.core.stackfile import read_stack_file


@dataclass(frozen=True)
class Runtime:
    """Everything a component needs to reach the cluster."""

    target: ClusterTarget
    registry: RegistrySettings
    registry_url: str
    topics: TopicSettings

    def registry_config(self) -> dict[str, Any]:
        return self.registry.client_config(self.registry_url)


def resolve_runtime() -> Runtime:
    """Resolve from `MMSTREAM_*` settings, falling back to `<data_dir>/stack.json`."""
    kafka = load_settings(KafkaSettings)
    registry = load_settings(RegistrySettings)
    stack_settings = load_settings(StackSettings)
    stack = read_stack_file(stack_settings.data_dir)
    bootstrap = kafka.bootstrap_servers or (stack or {}).get("bootstrap_servers")
    if not bootstrap:
        raise ConfigurationError(
            "MMSTREAM_BOOTSTRAP_SERVERS is not set and no embedded stack is running "
            f"(no {stack_settings.data_dir}/stack.json): set it, or start `mmstream up`"
        )
    registry_url = registry.url or (stack or {}).get("registry_url")
    if not registry_url:
        raise ConfigurationError(
            "MMSTREAM_SCHEMA_REGISTRY_URL is not set and no embedded stack is running"
        )
    profile = kafka.profile(None if kafka.bootstrap_servers else (stack or {}).get("broker"))
    target = ClusterTarget.with_profile(
        str(bootstrap), profile, kafka_passthrough(), kafka.worker_overrides()
    )
    return Runtime(target, registry, str(registry_url), load_settings(TopicSettings))
