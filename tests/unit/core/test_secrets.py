"""Every secret, wherever it comes from, is redacted from log lines, error lines and tracebacks
once the settings that carry it have been read (issue: secrets redacted everywhere)."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable

import pytest

from connectors.runner import feed_settings
from mmstream.cli.main import redacted_excepthook
from mmstream.core.logging import RedactingFormatter, redact
from mmstream.core.settings import RegistrySettings, kafka_passthrough, load_settings

SOURCES: dict[str, tuple[str, str, Callable[[], object]]] = {
    # id: (environment variable, its value, the secret that must never be printed, reader)
    "mmapi api key": (
        "MMAPI_API_KEY",
        "0f8e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
        lambda: feed_settings("mmapi"),
    ),
    "predexon api key": (
        "PREDEXON_API_KEY",
        "pdx-live-key-77aa",
        lambda: feed_settings("predexon"),
    ),
    "kafka sasl password": ("MMSTREAM_KAFKA_SASL_PASSWORD", "sasl-pass-1", kafka_passthrough),
    "kafka ssl key password": ("MMSTREAM_KAFKA_SSL_KEY_PASSWORD", "key-pass-2", kafka_passthrough),
    "kafka oauth client secret": (
        "MMSTREAM_KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET",
        "oauth-secret-3",
        kafka_passthrough,
    ),
    "registry user info": (
        "MMSTREAM_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
        "svc:registry-pass-4",
        lambda: load_settings(RegistrySettings),
    ),
}


def secrets_in(value: str) -> list[str]:
    """The strings that must not be printed: the value, and a user-info's password alone."""
    return [value, value.partition(":")[2]] if ":" in value else [value]


@pytest.mark.parametrize("source", SOURCES, ids=list(SOURCES))
def test_a_secret_read_from_settings_never_reaches_a_log_line_or_a_traceback(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable, value, read = SOURCES[source]
    monkeypatch.setenv(variable, value)
    read()
    for secret in secrets_in(value):
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "using %s", (secret,), None)
        for json_lines in (False, True):
            assert secret not in RedactingFormatter(json_lines).format(record)
        assert secret not in redact(f"mmstream: cannot connect with {secret}")
        stderr = io.StringIO()
        monkeypatch.setattr(sys, "stderr", stderr)
        try:
            raise RuntimeError(f"authentication failed for {secret}")
        except RuntimeError as exc:
            redacted_excepthook(RuntimeError, exc, exc.__traceback__)
        assert "authentication failed for ***" in stderr.getvalue()
        assert secret not in stderr.getvalue()


def test_non_secret_kafka_properties_stay_readable() -> None:
    kafka_passthrough({"MMSTREAM_KAFKA_SASL_USERNAME": "svc-mmstream"})
    assert redact("user svc-mmstream") == "user svc-mmstream"
