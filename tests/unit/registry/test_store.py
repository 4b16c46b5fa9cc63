"""The registry's state machine: ids, versions, compatibility, and replay of its log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmstream.registry import errors
from mmstream.registry.store import LOG_FILE, SchemaStore

V1 = json.dumps({"type": "record", "name": "Fill", "fields": [{"name": "stake", "type": "double"}]})
V2_OPTIONAL = json.dumps(
    {
        "type": "record",
        "name": "Fill",
        "fields": [
            {"name": "stake", "type": "double"},
            {"name": "price", "type": ["null", "double"], "default": None},
        ],
    }
)
V2_REQUIRED = json.dumps(
    {
        "type": "record",
        "name": "Fill",
        "fields": [{"name": "stake", "type": "double"}, {"name": "price", "type": "double"}],
    }
)


def test_ids_are_shared_by_identical_schemas_and_versions_grow(tmp_path: Path) -> None:
    store = SchemaStore(tmp_path)
    first = store.register("a-value", V1)
    again = store.register("a-value", V1)
    other = store.register("b-value", V1)
    second = store.register("a-value", V2_OPTIONAL)
    assert (first.schema_id, first.version) == (1, 1)
    assert again.version == 1, "re-registering is idempotent"
    assert other.schema_id == first.schema_id and other.version == 1
    assert (second.schema_id, second.version) == (2, 2)
    assert [v.version for v in store.live_versions("a-value")] == [1, 2]


def test_backward_compatibility_rejects_a_new_required_field(tmp_path: Path) -> None:
    store = SchemaStore(tmp_path)
    store.register("a-value", V1)
    with pytest.raises(errors.RegistryError) as rejected:
        store.register("a-value", V2_REQUIRED)
    assert (rejected.value.http_status, rejected.value.error_code) == (409, 409)
    assert "price" in rejected.value.message


@pytest.mark.parametrize(
    ("level", "accepted"),
    [("NONE", True), ("FORWARD", True), ("FULL", False), ("BACKWARD", False)],
)
def test_compatibility_levels(tmp_path: Path, level: str, accepted: bool) -> None:
    store = SchemaStore(tmp_path)
    store.register("a-value", V1)
    store.set_compatibility("a-value", level)
    assert (store.check("a-value", V2_REQUIRED) == []) is accepted


def test_transitive_levels_check_every_version(tmp_path: Path) -> None:
    def schema(*fields: dict[str, object]) -> str:
        return json.dumps({"type": "record", "name": "Fill", "fields": list(fields)})

    store = SchemaStore(tmp_path)
    store.set_compatibility(None, "NONE")
    store.register("a-value", schema({"name": "stake", "type": "string"}))
    store.register("a-value", schema())
    candidate = schema({"name": "stake", "type": "double", "default": 0.0})
    store.set_compatibility("a-value", "BACKWARD")
    assert store.check("a-value", candidate) == [], "readable with the latest version"
    store.set_compatibility("a-value", "BACKWARD_TRANSITIVE")
    assert store.check("a-value", candidate) != [], "not with the first (stake was a string)"


def test_invalid_input_gets_confluent_error_codes(tmp_path: Path) -> None:
    store = SchemaStore(tmp_path)
    with pytest.raises(errors.RegistryError) as bad_schema:
        store.register("a-value", '{"type": "record", "name": "X"}')
    assert bad_schema.value.error_code == 42201
    with pytest.raises(errors.RegistryError) as no_subject:
        store.version("missing-value", "latest")
    assert no_subject.value.error_code == 40401
    store.register("a-value", V1)
    with pytest.raises(errors.RegistryError) as no_version:
        store.version("a-value", "7")
    assert no_version.value.error_code == 40402
    with pytest.raises(errors.RegistryError) as no_schema:
        store.schema_by_id(99)
    assert no_schema.value.error_code == 40403
    with pytest.raises(errors.RegistryError) as bad_level:
        store.set_compatibility(None, "SIDEWAYS")
    assert bad_level.value.error_code == 42203


def test_the_log_replays_to_the_same_state_and_survives_a_torn_write(tmp_path: Path) -> None:
    store = SchemaStore(tmp_path)
    store.register("a-value", V1)
    store.register("a-value", V2_OPTIONAL)
    store.set_compatibility("a-value", "FULL")
    store.delete_version("a-value", "1", permanent=False)
    store.close()
    with (tmp_path / LOG_FILE).open("a") as log:
        log.write('{"key": {"keytype": "SCHEMA"')  # a crash in the middle of an append

    replayed = SchemaStore(tmp_path)
    assert [v.version for v in replayed.live_versions("a-value")] == [2]
    assert replayed.schema_by_id(1) == json.dumps(json.loads(V1), separators=(",", ":"))
    assert replayed.compatibility("a-value") == "FULL"
    assert replayed.register("b-value", V2_OPTIONAL).schema_id == 2, "ids are never reused"


def test_log_records_use_confluent_schemas_topic_shapes(tmp_path: Path) -> None:
    store = SchemaStore(tmp_path)
    store.register("a-value", V1)
    store.close()
    record = json.loads((tmp_path / LOG_FILE).read_text().splitlines()[0])
    assert record["key"] == {"keytype": "SCHEMA", "subject": "a-value", "version": 1, "magic": 1}
    assert record["value"]["id"] == 1 and record["value"]["deleted"] is False
