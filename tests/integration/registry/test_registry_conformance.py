"""Confluent Schema Registry's promises on delete, `?deleted=true` and modes, walked step by step.

Runs against the session's registry: the embedded one, or the configured one in external mode
(`MMSTREAM_TEST_SCHEMA_REGISTRY_URL`), so the expected codes are Confluent's own, not ours.
Codes and statuses from Confluent's `rest/exceptions/Errors.java` (all HTTP 404): 40401 subject
not found, 40402 version not found, 40404 subject soft deleted, 40405 subject not soft deleted
before a permanent delete, 40406 version soft deleted, 40407 version not soft deleted before a
permanent delete, 40409 no subject-level mode; 42202 invalid version (HTTP 422).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.integration.registry.test_registry_http import FILL, call

OPTIONAL_PRICE = {
    **FILL,
    "fields": [*FILL["fields"], {"name": "price", "type": ["null", "double"], "default": None}],
}


def code(answer: tuple[int, Any]) -> tuple[int, Any]:
    """(HTTP status, Confluent error_code) of an error answer, else (status, body)."""
    status, body = answer
    if isinstance(body, dict) and "error_code" in body:
        return status, body["error_code"]
    return status, body


@pytest.fixture
def subject(registry_url: str) -> str:
    """A subject with versions 1 and 2."""
    name = f"conformance-{uuid.uuid4().hex[:8]}-value"
    for schema in (FILL, OPTIONAL_PRICE):
        status, body = call(
            f"{registry_url}/subjects/{name}/versions", "POST", {"schema": json.dumps(schema)}
        )
        assert status == 200, body
    return name


def test_delete_is_soft_first_then_permanent_per_version(registry_url: str, subject: str) -> None:
    url = f"{registry_url}/subjects/{subject}"
    assert code(call(f"{url}/versions/1?permanent=true", "DELETE")) == (404, 40407)
    assert code(call(f"{url}/versions")) == (200, [1, 2]), "a refused delete changes nothing"

    assert code(call(f"{url}/versions/1", "DELETE")) == (200, 1)
    assert code(call(f"{url}/versions")) == (200, [2])
    assert code(call(f"{url}/versions?deleted=true")) == (200, [1, 2])
    assert code(call(f"{url}/versions/1")) == (404, 40402)
    status, body = call(f"{url}/versions/1?deleted=true")
    assert status == 200 and (body["subject"], body["version"]) == (subject, 1)
    assert code(call(f"{url}/versions/1", "DELETE")) == (404, 40406), "already soft deleted"

    assert code(call(f"{url}/versions/1?permanent=true", "DELETE")) == (200, 1)
    assert code(call(f"{url}/versions?deleted=true")) == (200, [2])
    assert code(call(f"{url}/versions/1?deleted=true")) == (404, 40402)
    assert code(call(f"{url}/versions/1?permanent=true", "DELETE")) == (404, 40402)
    assert code(call(f"{url}/versions/one", "DELETE")) == (422, 42202)


def test_delete_is_soft_first_then_permanent_per_subject(registry_url: str, subject: str) -> None:
    url = f"{registry_url}/subjects/{subject}"
    assert code(call(f"{url}?permanent=true", "DELETE")) == (404, 40405)
    assert code(call(f"{url}/versions")) == (200, [1, 2]), "a refused delete changes nothing"

    assert code(call(url, "DELETE")) == (200, [1, 2])
    assert subject not in call(f"{registry_url}/subjects")[1]
    assert subject in call(f"{registry_url}/subjects?deleted=true")[1]
    assert code(call(f"{url}/versions")) == (404, 40401)
    assert code(call(f"{url}/versions?deleted=true")) == (200, [1, 2])
    assert code(call(url, "DELETE")) == (404, 40404), "already soft deleted"
    assert code(call(f"{url}/versions/2", "DELETE")) == (404, 40406)

    assert code(call(f"{url}?permanent=true", "DELETE")) == (200, [1, 2])
    assert subject not in call(f"{registry_url}/subjects?deleted=true")[1]
    assert code(call(url, "DELETE")) == (404, 40401)
    assert code(call(f"{url}/versions/1", "DELETE")) == (404, 40401)


def test_a_soft_deleted_subject_takes_new_versions_after_the_old_numbers(
    registry_url: str, subject: str
) -> None:
    url = f"{registry_url}/subjects/{subject}"
    assert code(call(url, "DELETE")) == (200, [1, 2])
    status, _ = call(f"{url}/versions", "POST", {"schema": json.dumps(FILL)})
    assert status == 200
    assert code(call(f"{url}/versions")) == (200, [3])


def test_mode_globally_and_per_subject(registry_url: str, subject: str) -> None:
    status, body = call(f"{registry_url}/mode")
    assert (status, body["mode"]) == (200, "READWRITE")
    assert code(call(f"{registry_url}/mode/{subject}")) == (404, 40409)
    status, body = call(f"{registry_url}/mode/{subject}?defaultToGlobal=true")
    assert (status, body["mode"]) == (200, "READWRITE")
