"""Feed JSON → Avro record, driven by the topic's schema.

Known fields are converted to their Avro type (ISO 8601 → epoch ms for `timestamp-millis`,
objects → JSON text for string fields); fields the schema does not know are kept as JSON text in
the nearest `extra` / `payload_extra` map, so nothing the feed sent is lost — also a provider
field named like the map itself (`extra`) or like a field the connector fills (`envelope`).
Keys of nested fields are their path below the map's record (`reliability.weight`); a `.` or
`\\` inside a provider's field name is escaped with a backslash, so paths stay unambiguous.
A value that cannot take its field's type, or is outside the edge limits (`connectors.edge`),
raises `RejectedInput` with the field's path: the message goes to the DLQ.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from typing import Any

from connectors.compiled import CompiledRecord, compile_record, extra_map
from connectors.edge import EdgeLimits, integer, is_valid_text, time_ms
from connectors.errors import RejectedInput

Schema = Any  # a parsed .avsc (dicts, lists, strings)
NO_NAMES: frozenset[str] = frozenset()


def change_record(
    envelope: dict[str, Any],
    event: str,
    payload: dict[str, Any],
    payload_extra: dict[str, str] | None = None,
    frame_extra: dict[str, str] | None = None,
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
        "frame_extra": {} if frame_extra is None else frame_extra,
    }


def escape_key(name: str) -> str:
    """A provider field name as a key of an extra map, where `.` separates path levels."""
    if "." in name or "\\" in name:
        return name.replace("\\", "\\\\").replace(".", "\\.")
    return name


def json_text(value: Any, path: str) -> str:
    """A provider value kept as JSON text (an extra map's value)."""
    try:
        return json.dumps(value, allow_nan=False)
    except (ValueError, RecursionError):
        raise RejectedInput(f"{path}: cannot be kept as JSON text") from None


def frame_extra(body: dict[str, Any], known: frozenset[str]) -> dict[str, str]:
    """Fields of a provider frame outside the ones the connector reads, as JSON text."""
    return {
        escape_key(name): json_text(value, name)
        for name, value in body.items()
        if name not in known
    }


class Converter:
    """Converts JSON values to one schema's Avro shape; named types resolved once."""

    def __init__(self, schema: Schema, limits: EdgeLimits | None = None) -> None:
        self.named: dict[str, Schema] = {}
        self._index(schema, None)
        self.schema = schema
        self.limits = limits or EdgeLimits()
        self._compiled: dict[tuple[int, frozenset[str]], CompiledRecord | None] = {}

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

    def time_ms(self, value: Any, path: str) -> int:
        return time_ms(value, path, self.limits)

    def record(
        self,
        schema: Schema,
        value: Any,
        path: str,
        sink: dict[str, str] | None = None,
        owned: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Convert a JSON object to the record `schema`.

        Unknown fields go to the record's own extra map if it has one, else to `sink` (the
        enclosing record's `payload_extra`), keyed by their path below the sink's record.
        `owned` holds the values of fields the connector fills itself (`envelope`): a provider
        field of that name is kept as an unknown one.
        """
        compiled = self.compiled(schema, frozenset(owned) if owned else NO_NAMES)
        if compiled is not None:
            converted: dict[str, Any] = compiled(value, path, sink, owned)
            return converted
        return self.walk_record(schema, value, path, sink, owned)

    def record_function(self, schema: Schema) -> Callable[..., dict[str, Any]]:
        """`record` for `schema` with no owned fields, as a function `(value, path, sink,
        None)` looked up once: the compiled converter, else the walk."""
        compiled = self.compiled(schema, NO_NAMES)
        if compiled is not None:
            return compiled
        return functools.partial(self.walk_record, schema)

    def compiled(self, schema: Schema, owned: frozenset[str]) -> CompiledRecord | None:
        """The record's converter compiled once (`connectors.compiled`), None if it cannot be."""
        key = (id(schema), owned)
        if key not in self._compiled:
            self._compiled[key] = compile_record(self, schema, owned)
        return self._compiled[key]

    def walk_record(
        self,
        schema: Schema,
        value: Any,
        path: str,
        sink: dict[str, str] | None = None,
        owned: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`record` walking the schema: the reference the compiled converters must equal."""
        if not isinstance(value, dict):
            raise RejectedInput(f"{path}: expected an object, got {type(value).__name__}")
        owned = owned or {}
        out: dict[str, Any] = {}
        known = set()
        extra_field = extra_map(schema)
        nested_sink = {} if extra_field is not None else sink
        for field in schema["fields"]:
            name = field["name"]
            if field is extra_field:
                continue
            if name in owned:
                out[name] = owned[name]
                continue
            known.add(name)
            if name in value:
                out[name] = self.convert(field["type"], value[name], f"{path}.{name}", nested_sink)
            elif "default" in field:
                out[name] = field["default"]
            else:
                raise RejectedInput(f"{path}.{name}: required field missing")
        self.unknowns(extra_field, value, known, path, sink, nested_sink, out)
        return out

    def unknowns(
        self,
        extra_field: dict[str, Any] | None,
        value: dict[str, Any],
        known: set[str] | frozenset[str],
        path: str,
        sink: dict[str, str] | None,
        nested_sink: dict[str, str] | None,
        out: dict[str, Any],
    ) -> None:
        """Keep the fields of `value` outside `known`: in the record's extra map, else `sink`."""
        unknown = {k: v for k, v in value.items() if k not in known}
        prefix = path.split(".", 1)[1] + "." if "." in path else ""
        if extra_field is not None:
            values_type = extra_field["type"]["values"]
            extras: dict[str, Any] = {}
            for name, item in unknown.items():
                if values_type == "string":
                    extras[escape_key(name)] = json_text(item, f"{path}.{name}")
                elif self._fits_number(values_type, item) and name != extra_field["name"]:
                    extras[escape_key(name)] = self.convert(values_type, item, f"{path}.{name}")
                elif sink is not None:  # not a number for a numeric map: kept by the enclosing one
                    sink[prefix + escape_key(name)] = json_text(item, f"{path}.{name}")
                else:
                    raise RejectedInput(f"{path}.{name}: expected {values_type}")
            if values_type == "string" and nested_sink:
                extras.update(nested_sink)
            out[extra_field["name"]] = extras
        elif sink is not None:
            for name, item in unknown.items():
                sink[prefix + escape_key(name)] = json_text(item, f"{path}.{name}")
        elif unknown:
            raise RejectedInput(f"{path}.{next(iter(unknown))}: unknown field with nowhere to go")

    @staticmethod
    def _fits_number(kind: Any, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return kind not in ("long", "int") or isinstance(value, int) or value.is_integer()

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
            return time_ms(value, path, self.limits)
        if kind == "record":
            return self.record(schema, value, path, sink)
        if kind == "array":
            if not isinstance(value, list):
                raise RejectedInput(f"{path}: expected a list, got {type(value).__name__}")
            items = schema["items"]
            return [self.convert(items, v, f"{path}[{i}]", sink) for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, dict):
                raise RejectedInput(f"{path}: expected an object, got {type(value).__name__}")
            values = schema["values"]
            out = {}
            for k, v in value.items():
                out[k] = self.convert(values, v, f"{path}.{escape_key(k)}", sink)
            return out
        return self.convert(kind, value, path, sink)

    @staticmethod
    def primitive(kind: str, value: Any, path: str) -> Any:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if kind == "string":
            if isinstance(value, str):
                if not is_valid_text(value):
                    raise RejectedInput(f"{path}: text is not valid Unicode")
                return value
            if isinstance(value, dict | list):
                return json_text(value, path)
            if number and (isinstance(value, int) or math.isfinite(value)):
                return str(value)
        elif kind in ("long", "int"):
            if isinstance(value, int) and not isinstance(value, bool):
                return integer(value, kind, path)
            if isinstance(value, float) and value.is_integer():
                return integer(int(value), kind, path)
        elif kind in ("double", "float"):
            if number:
                try:
                    result = float(value)
                except OverflowError:
                    raise RejectedInput(f"{path}: {str(value)[:40]} is out of range") from None
                if not math.isfinite(result):
                    raise RejectedInput(f"{path}: {value!r} is not a number")
                return result
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
