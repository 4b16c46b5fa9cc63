"""Secrets never reach a log line: registered values, URL passwords and Predexon URL keys."""

from __future__ import annotations

import json
import logging

import pytest

from mmstream.core.logging import RedactingFormatter, redact, register_secret


def test_registered_secret_is_redacted_everywhere_in_a_line() -> None:
    register_secret("6f1c2b7e-0000-4000-8000-1234567890ab")
    line = redact("subscribe apiKey=6f1c2b7e-0000-4000-8000-1234567890ab failed")
    assert "6f1c2b7e" not in line
    assert "***" in line


def test_predexon_key_in_url_path_and_url_password_are_redacted() -> None:
    assert redact("connect wss://wss.predexon.com/v1/abcDEF123 refused") == (
        "connect wss://wss.predexon.com/v1/*** refused"
    )
    assert redact("sasl://svc:pa55word@kafka:9092") == "sasl://svc:***@kafka:9092"


@pytest.mark.parametrize("json_lines", [False, True])
def test_formatter_redacts_messages_and_exceptions(json_lines: bool) -> None:
    register_secret("topsecretkey42")
    formatter = RedactingFormatter(json_lines)
    try:
        raise RuntimeError("auth failed for topsecretkey42")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "key %s", ("topsecretkey42",), sys.exc_info()
        )
    text = formatter.format(record)
    assert "topsecretkey42" not in text
    if json_lines:
        assert json.loads(text)["level"] == "ERROR"
