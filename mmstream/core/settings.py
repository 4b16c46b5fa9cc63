"""Settings shared by every mmstream process, read from the environment and an optional `.env`.

Each component with settings of its own (connectors, processors, simulators) declares its own
`BaseSettings` class with its own prefix beside its code, built with `load_settings`, so that a
bad value stops start-up with a message that names the environment variable.

Kafka client settings pass through unchanged: every `MMSTREAM_KAFKA_<PROPERTY>` variable becomes
the librdkafka property `<property>` (lower case, `_` → `.`), e.g.
`MMSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_SSL` → `security.protocol=SASL_SSL`,
`MMSTREAM_KAFKA_SASL_PASSWORD=…` → `sasl.password=…`.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mmstream.core.errors import ConfigurationError
from mmstream.core.logging import redact, register_secret
from mmstream.core.topics import TOPICS, TOPICS_BY_ID

KAFKA_PASSTHROUGH_PREFIX = "MMSTREAM_KAFKA_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
ENV_FILE = ".env"

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def settings_config(prefix: str) -> SettingsConfigDict:
    """The configuration every settings class uses: env prefix, optional `.env`, extras ignored."""
    return SettingsConfigDict(
        env_prefix=prefix, env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore"
    )


def load_settings(cls: type[SettingsT], **overrides: Any) -> SettingsT:
    """Build a settings object, turning validation errors into a message naming the variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = []
        for error in exc.errors():
            name = prefix + "_".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{name}: {error['msg']}")
        raise ConfigurationError("invalid setting " + "; ".join(problems)) from None


class KafkaSettings(BaseSettings):
    """Where Kafka is. No bootstrap servers means: run on the embedded broker."""

    model_config = settings_config("MMSTREAM_")

    bootstrap_servers: str | None = Field(
        default=None, description="Kafka bootstrap servers; unset = embedded Tansu broker"
    )
    client_id: str = "mmstream"
    broker_profile: str = Field(
        default="auto",
        pattern="^(auto|embedded|tansu|kafka-local|default)$",
        description=(
            "client tuning: embedded/tansu = the Tansu profile, kafka-local = the local Kafka's "
            "short group timeouts, default = client defaults; auto = the running stack's broker "
            "when no servers are given, else default"
        ),
    )
    # the Faust worker's aiokafka timings (README "Latency"); unset = the profile's WorkerTuning
    worker_fetch_max_wait_ms: int | None = Field(
        default=None, ge=0, le=10_000, description="longest wait of the worker's fetch"
    )
    worker_fetch_min_bytes: int | None = Field(
        default=None, ge=1, le=52_428_800, description="bytes a worker fetch waits for"
    )
    worker_producer_linger_ms: int | None = Field(
        default=None, ge=0, le=1_000, description="the worker producer's batching wait"
    )

    def worker_overrides(self) -> dict[str, int]:
        """The `WorkerTuning` fields set by the user."""
        values = {
            "fetch_max_wait_ms": self.worker_fetch_max_wait_ms,
            "fetch_min_bytes": self.worker_fetch_min_bytes,
            "producer_linger_ms": self.worker_producer_linger_ms,
        }
        return {name: value for name, value in values.items() if value is not None}

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port…], got {server.strip()!r}")
        return value

    @property
    def embedded(self) -> bool:
        return self.bootstrap_servers is None

    def profile(self, stack_broker: str | None) -> str:
        """The client profile (`ClusterTarget.with_profile`): the setting, or with `auto` the
        running embedded stack's broker (`stack_broker`) when no servers are given."""
        if self.broker_profile == "auto":
            if self.bootstrap_servers is not None:
                return "default"
            return "kafka-local" if stack_broker == "kafka" else "tansu"
        return "tansu" if self.broker_profile == "embedded" else self.broker_profile


# librdkafka properties whose values are credentials (passwords, client secrets, private keys,
# the whole OAUTHBEARER / registry user-info strings): registered for redaction when read.
SECRET_PROPERTY_MARKS = ("password", "secret", "key.pem", "oauthbearer.config", "user.info")


def is_secret_property(name: str) -> bool:
    return any(mark in name for mark in SECRET_PROPERTY_MARKS)


def env_file_value(variable: str) -> str | None:
    """`variable` as the optional `.env` sets it (the environment is not consulted)."""
    if not Path(ENV_FILE).is_file():
        return None
    return dotenv_values(ENV_FILE).get(variable)


def kafka_passthrough(environ: dict[str, str] | None = None) -> dict[str, str]:
    """librdkafka properties given as `MMSTREAM_KAFKA_<PROPERTY>` in `.env` or the environment.

    Credentials among them are registered for redaction as they are read, whoever reads them.
    """
    merged: dict[str, str] = {}
    if environ is None:
        if Path(ENV_FILE).is_file():
            merged.update({k: v for k, v in dotenv_values(ENV_FILE).items() if v is not None})
        merged.update(os.environ)
    else:
        merged.update(environ)
    properties = {
        name[len(KAFKA_PASSTHROUGH_PREFIX) :].lower().replace("_", "."): value
        for name, value in merged.items()
        if name.startswith(KAFKA_PASSTHROUGH_PREFIX) and len(name) > len(KAFKA_PASSTHROUGH_PREFIX)
    }
    for name, value in properties.items():
        if is_secret_property(name):
            register_secret(value)
    return properties


def register_url_user_info(url: str) -> None:
    """Register the user info of `url` (the registry client's basic auth, `user:password@`):
    the password as written and decoded, and `user:password` decoded, as a client may send it."""
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        password = urllib.parse.unquote(parts.password)
        register_secret(parts.password)
        register_secret(password)
        register_secret(f"{urllib.parse.unquote(parts.username or '')}:{password}")


class RegistrySettings(BaseSettings):
    """Where the schema registry is. No URL means: run the embedded registry."""

    model_config = settings_config("MMSTREAM_SCHEMA_REGISTRY_")

    url: str | None = Field(default=None, description="schema registry URL; unset = embedded")
    basic_auth_user_info: SecretStr | None = Field(
        default=None, description="USER:PASSWORD for the registry's basic auth"
    )
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None

    @field_validator("basic_auth_user_info")
    @classmethod
    def _redacted_user_info(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            secret = value.get_secret_value()
            register_secret(secret)
            register_secret(secret.partition(":")[2])  # the password alone, as it may be echoed
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not value.startswith(("http://", "https://", "mock://")):
            raise ValueError(f"expected an http(s):// URL, got {redact(value)!r}")
        register_url_user_info(value)
        return value.rstrip("/")

    @property
    def embedded(self) -> bool:
        return self.url is None

    def client_config(self, url: str | None = None) -> dict[str, str]:
        """Configuration for confluent-kafka's `SchemaRegistryClient`."""
        conf: dict[str, str] = {"url": url or self.url or ""}
        if self.basic_auth_user_info is not None:
            conf["basic.auth.user.info"] = self.basic_auth_user_info.get_secret_value()
        for key, value in (
            ("ssl.ca.location", self.ssl_ca_location),
            ("ssl.certificate.location", self.ssl_certificate_location),
            ("ssl.key.location", self.ssl_key_location),
        ):
            if value:
                conf[key] = value
        return conf


class TopicSettings(BaseSettings):
    """Topic names. Every topic can be renamed with `MMSTREAM_TOPIC_<ID>` (e.g. ..._HEDGE_FILLS)."""

    model_config = settings_config("MMSTREAM_TOPIC_")

    orders: str = TOPICS_BY_ID["orders"].default_name
    bets: str = TOPICS_BY_ID["bets"].default_name
    accounts: str = TOPICS_BY_ID["accounts"].default_name
    scores: str = TOPICS_BY_ID["scores"].default_name
    emergency: str = TOPICS_BY_ID["emergency"].default_name
    sports_live: str = TOPICS_BY_ID["sports_live"].default_name
    dlq: str = TOPICS_BY_ID["dlq"].default_name
    connector_offsets: str = TOPICS_BY_ID["connector_offsets"].default_name
    processors_dlq: str = TOPICS_BY_ID["processors_dlq"].default_name
    fixture_map: str = TOPICS_BY_ID["fixture_map"].default_name
    hedge_fills: str = TOPICS_BY_ID["hedge_fills"].default_name
    risk_emergency: str = TOPICS_BY_ID["risk_emergency"].default_name
    risk_alerts: str = TOPICS_BY_ID["risk_alerts"].default_name
    scores_reconciled: str = TOPICS_BY_ID["scores_reconciled"].default_name

    @field_validator("*")
    @classmethod
    def _legal_topic_name(cls, value: str) -> str:
        if not TOPIC_NAME.fullmatch(value) or value in (".", ".."):
            raise ValueError(
                f"expected a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -), got {value!r}"
            )
        return value

    def name(self, topic_id: str) -> str:
        return str(getattr(self, topic_id))

    def names(self) -> dict[str, str]:
        """Topic id → configured name, for every pipeline topic."""
        return {spec.id: self.name(spec.id) for spec in TOPICS}


class StackSettings(BaseSettings):
    """The embedded stack's own settings."""

    model_config = settings_config("MMSTREAM_")

    data_dir: Path = Field(default=Path("var"), description="embedded registry log and state")
    embedded_broker: str = Field(
        default="tansu",
        pattern="^(tansu|kafka)$",
        description="the embedded stack's broker: tansu (zero install) or kafka (`make kafka`)",
    )
    log_level: str = "INFO"
    log_format: str = Field(default="text", pattern="^(text|json)$")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
        return value.strip().upper()


def writable_dir(path: Path, variable: str) -> Path:
    """Create `path` if needed; a directory that cannot be made is a bad setting."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"{variable}: cannot create {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise ConfigurationError(f"{variable}: {path} is not writable")
    return path
