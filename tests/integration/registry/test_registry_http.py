"""The embedded registry over real HTTP, driven by confluent-kafka's own client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from mmstream.stack.embedded import Registry

FILL: dict[str, Any] = {
    "type": "record",
    "name": "Fill",
    "fields": [{"name": "stake", "type": "double"}],
}


def schema(*extra: dict[str, Any]) -> Schema:
    return Schema(json.dumps({**FILL, "fields": FILL["fields"] + list(extra)}), "AVRO")


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def subject() -> str:
    return f"test-{uuid.uuid4().hex[:8]}-value"


def test_register_lookup_and_fetch_by_id(
    registry_client: SchemaRegistryClient, subject: str
) -> None:
    schema_id = registry_client.register_schema(subject, schema())
    assert registry_client.register_schema(f"other-{subject}", schema()) == schema_id
    found = registry_client.lookup_schema(subject, schema())
    assert (found.schema_id, found.version) == (schema_id, 1)
    assert json.loads(registry_client.get_schema(schema_id).schema_str or "") == FILL
    assert registry_client.get_latest_version(subject).version == 1
    assert subject in registry_client.get_subjects()


def test_incompatible_schema_is_rejected_with_409(
    registry_client: SchemaRegistryClient, subject: str
) -> None:
    registry_client.register_schema(subject, schema())
    with pytest.raises(SchemaRegistryError) as rejected:
        registry_client.register_schema(subject, schema({"name": "price", "type": "double"}))
    assert rejected.value.http_status_code == 409
    assert rejected.value.error_code in (409, 40901)
    optional = schema({"name": "price", "type": ["null", "double"], "default": None})
    assert registry_client.test_compatibility(subject, optional)
    assert registry_client.register_schema(subject, optional) != 0
    assert registry_client.get_versions(subject) == [1, 2]


def test_rest_shapes_and_error_codes(registry_url: str, subject: str) -> None:
    status, body = call(f"{registry_url}/subjects/{subject}/versions/latest")
    assert (status, body["error_code"]) == (404, 40401)
    status, body = call(
        f"{registry_url}/subjects/{subject}/versions", "POST", {"schema": json.dumps(FILL)}
    )
    assert status == 200 and isinstance(body["id"], int)
    status, body = call(f"{registry_url}/subjects/{subject}/versions/9")
    assert (status, body["error_code"]) == (404, 40402)
    status, body = call(f"{registry_url}/schemas/ids/999999")
    assert (status, body["error_code"]) == (404, 40403)
    status, body = call(
        f"{registry_url}/subjects/{subject}/versions", "POST", {"schema": '{"type": "nope"}'}
    )
    assert (status, body["error_code"]) == (422, 42201)
    status, body = call(f"{registry_url}/config/{subject}", "PUT", {"compatibility": "FULL"})
    assert (status, body) == (200, {"compatibility": "FULL"})
    status, body = call(f"{registry_url}/config/{subject}")
    assert body == {"compatibilityLevel": "FULL"}
    status, body = call(
        f"{registry_url}/compatibility/subjects/{subject}/versions/latest",
        "POST",
        {"schema": json.dumps(FILL)},
    )
    assert (status, body) == (200, {"is_compatible": True})
    status, body = call(f"{registry_url}/associations/resources/-/t?resourceType=topic")
    assert (status, body["error_code"]) == (404, 40410)


def test_a_restarted_registry_keeps_every_id(tmp_path: Path) -> None:
    first = Registry(tmp_path)
    first.start_ready()
    try:
        client = SchemaRegistryClient({"url": first.url})
        ids = [
            client.register_schema(
                f"s{i}-value", schema({"name": f"f{i}", "type": ["null", "long"], "default": None})
            )
            for i in range(3)
        ]
    finally:
        first.stop()
    second = Registry(tmp_path)
    second.start_ready()
    try:
        client = SchemaRegistryClient({"url": second.url})
        for i, schema_id in enumerate(ids):
            assert client.get_latest_version(f"s{i}-value").schema_id == schema_id
        new_id = client.register_schema(
            "new-value", schema({"name": "z", "type": "string", "default": ""})
        )
        assert new_id == max(ids) + 1
    finally:
        second.stop()
