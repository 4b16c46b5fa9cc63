"""Kafka Connect's dead-letter headers, as DLQ tooling reads them."""

from __future__ import annotations

from mmstream.core.deadletter import STACKTRACE_LIMIT, Origin, error_headers, header_map
from schemas.decoder import UnknownSchemaId


def raised(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:
        return caught


def test_every_connect_header_is_there_as_utf8_text() -> None:
    exc = raised(UnknownSchemaId("the registry has no schema id 7"))
    headers = error_headers(
        Origin("mmapi.orders", 2, 41),
        exc,
        connector_name="hedge",
        stage="VALUE_CONVERTER",
        class_name="schemas.decoder.Decoder",
    )
    assert all(name.startswith("__connect.errors.") for name, _ in headers)
    assert all(isinstance(value, bytes) for _, value in headers)
    fields = header_map(list(headers))
    assert fields == {
        "topic": "mmapi.orders",
        "partition": "2",
        "offset": "41",
        "connector.name": "hedge",
        "task.id": "0",
        "stage": "VALUE_CONVERTER",
        "class.name": "schemas.decoder.Decoder",
        "exception.class.name": "schemas.decoder.UnknownSchemaId",
        "exception.message": "the registry has no schema id 7",
        "exception.stacktrace": fields["exception.stacktrace"],
    }
    assert fields["exception.stacktrace"].startswith("Traceback")
    assert "UnknownSchemaId: the registry has no schema id 7" in fields["exception.stacktrace"]


def test_a_long_stack_trace_keeps_its_start_and_its_end() -> None:
    exc = raised(ValueError("x" * (3 * STACKTRACE_LIMIT)))
    trace = header_map(
        list(error_headers(Origin("t", 0, 0), exc, connector_name="a", stage="s", class_name="c"))
    )["exception.stacktrace"]
    assert len(trace) <= STACKTRACE_LIMIT + 8
    assert trace.startswith("Traceback") and trace.endswith("\n")
