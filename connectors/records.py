"""Feed JSON → Avro record, driven by the topic's schema.

Known fields are converted to their Avro type (ISO 8601 → epoch ms for `timestamp-millis`,
objects → JSON text for string fields); fields the schema does not know are kept as JSON text in
the nearest `extra` / `payload_extra` map, so nothing the feed sent is lost. A value that cannot
take its field's type raises `RejectedInput` with the field's path: the message goes to the DLQ.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from connectors.errors import RejectedInput

Schema = Any  # a parsed .avsc (dicts, lists, strings)
EXTRA_FIELDS = ("extra", "periods")


def change_record(
    envelope: dict[str, Any],
    event: str,
    payload: dict[str, Any],
    payload_extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A raw change record (`mmapi.*` topics) as the connectors write it, with no `old` yet."""
    return {
        "envelope": envelope,
        "event": event,
        "payload": payload,
        "old": None,
        "changed_fields": [],
        "payload_extra": {} if payload_extra is None else payload_extra,
        "old_extra": {},
    }


def parse_time_ms(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise RejectedInput(f"{path}: expected a timestamp, got {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise RejectedInput(f"{path}: invalid timestamp {value!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    raise RejectedInput(f"{path}: expected a timestamp, got {type(value).__name__}")


class Converter:
    """Converts JSON values to one schema's Avro shape; named types resolved once."""

    def __init__(self, schema: Schema) -> None:
        self.named: dict[str, Schema] = {}
        self._index(schema, None)
        self.schema = schema

    def _index(self, schema: Schema, namespace: str | None) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._index(branch, namespace)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind in ("record", "enum", "fixed"):
                namespace = schema.get("namespace", namespace)
                name = schema["name"]
                self.named[name] = schema
                if namespace and "." not in name:
                    self.named[f"{namespace}.{name}"] = schema
            if kind == "record":
                for field in schema["fields"]:
                    self._index(field["type"], namespace)
            elif kind == "array":
                self._index(schema["items"], namespace)
            elif kind == "map":
                self._index(schema["values"], namespace)
            elif isinstance(kind, dict | list):
                self._index(kind, namespace)

    def record(
        self, schema: Schema, value: Any, path: str, sink: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Convert a JSON object to the record `schema`.

        Unknown fields go to the record's own extra map if it has one, else to `sink` (the
        enclosing record's `payload_extra`), keyed by their path below the sink's record.
        """
        if not isinstance(value, dict):
            raise RejectedInput(f"{path}: expected an object, got {type(value).__name__}")
        out: dict[str, Any] = {}
        known = set()
        extra_field = next(
            (
                f
                for f in schema["fields"]
                if f["name"] in EXTRA_FIELDS
                and isinstance(f["type"], dict)
                and f["type"].get("type") == "map"
            ),
            None,
        )
        nested_sink = {} if extra_field is not None else sink
        for field in schema["fields"]:
            name = field["name"]
            known.add(name)
            if field is extra_field:
                continue
            if name in value:
                out[name] = self.convert(field["type"], value[name], f"{path}.{name}", nested_sink)
            elif "default" in field:
                out[name] = field["default"]
            else:
                raise RejectedInput(f"{path}.{name}: required field missing")
        if extra_field is not None:
            extras = self.extras(extra_field, value, known, path)
            if nested_sink and extra_field["type"]["values"] == "string":
                extras.update(nested_sink)
            out[extra_field["name"]] = extras
        elif sink is not None:
            prefix = path.split(".", 1)[1] + "." if "." in path else ""
            for name, extra in value.items():
                if name not in known:
                    sink[prefix + name] = json.dumps(extra)
        return out

    def extras(
        self, field: dict[str, Any], value: dict[str, Any], known: set[str], path: str
    ) -> dict[str, Any]:
        unknown = {k: v for k, v in value.items() if k not in known}
        if field["type"]["values"] == "string":
            return {k: json.dumps(v) for k, v in unknown.items()}
        # a numeric map (score periods): numbers only
        return {
            k: self.convert(field["type"]["values"], v, f"{path}.{k}") for k, v in unknown.items()
        }

    def convert(
        self, schema: Schema, value: Any, path: str, sink: dict[str, str] | None = None
    ) -> Any:
        if isinstance(schema, list):  # union: null or one type
            if value is None:
                if "null" in schema:
                    return None
                raise RejectedInput(f"{path}: null not allowed")
            branches = [b for b in schema if b != "null"]
            return self.convert(branches[0], value, path, sink)
        if isinstance(schema, str):
            if schema in self.named:
                return self.convert(self.named[schema], value, path, sink)
            return self.primitive(schema, value, path)
        kind = schema["type"]
        if schema.get("logicalType") == "timestamp-millis":
            return parse_time_ms(value, path)
        if kind == "record":
            return self.record(schema, value, path, sink)
        if kind == "array":
            if not isinstance(value, list):
                raise RejectedInput(f"{path}: expected a list, got {type(value).__name__}")
            return [self.convert(schema["items"], v, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, dict):
                raise RejectedInput(f"{path}: expected an object, got {type(value).__name__}")
            return {k: self.convert(schema["values"], v, f"{path}.{k}") for k, v in value.items()}
        return self.convert(kind, value, path, sink)

    @staticmethod
    def primitive(kind: str, value: Any, path: str) -> Any:
        if kind == "string":
            if isinstance(value, str):
                return value
            if isinstance(value, dict | list):
                return json.dumps(value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return str(value)
        elif kind in ("long", "int"):
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif kind in ("double", "float"):
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        elif kind == "boolean" and isinstance(value, bool):
            return value
        raise RejectedInput(f"{path}: expected {kind}, got {type(value).__name__} {value!r:.40}")


def field_schema(record_schema: Schema, name: str) -> Schema:
    """The type of one top-level field, with a nullable union unwrapped."""
    for field in record_schema["fields"]:
        if field["name"] == name:
            kind = field["type"]
            if isinstance(kind, list):
                return next(b for b in kind if b != "null")
            return kind
    raise KeyError(name)
