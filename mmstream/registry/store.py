"""Registry state and its append-only log.

The log holds one JSON line per record, `{"key": …, "value": …}`, with the keys and values that
Confluent Schema Registry writes to its `_schemas` topic (`SCHEMA`, `CONFIG`, `DELETE_SUBJECT`;
`value: null` is a tombstone). Replaying the log rebuilds the state, so a restart keeps every id.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro.errors
import avro.schema

from mmstream.registry import errors
from mmstream.registry.compatibility import DEFAULT_LEVEL, LEVELS, incompatibilities

log = logging.getLogger(__name__)
LOG_FILE = "_schemas.log"


@dataclass
class Version:
    subject: str
    version: int
    schema_id: int
    schema: str
    deleted: bool = False


def normalize(schema_text: str) -> str:
    """The identity of a schema: its JSON re-serialised compactly (docs and order kept)."""
    try:
        return json.dumps(json.loads(schema_text), separators=(",", ":"))
    except json.JSONDecodeError as exc:
        raise errors.invalid_schema(str(exc)) from None


def parse(schema_text: str) -> avro.schema.Schema:
    try:
        return avro.schema.parse(schema_text)
    except (avro.errors.SchemaParseException, json.JSONDecodeError, TypeError, ValueError) as exc:
        raise errors.invalid_schema(str(exc)) from None


class SchemaStore:
    """Subjects, versions, ids and compatibility configs, persisted to `<data_dir>/_schemas.log`."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / LOG_FILE
        self.ids: dict[str, int] = {}  # normalized schema -> id
        self.schemas: dict[int, str] = {}  # id -> schema text
        self.subjects: dict[str, list[Version]] = {}
        self.configs: dict[str | None, str] = {}
        self._replay()
        self._log = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        self._log.close()

    # --- persistence -------------------------------------------------------------------------

    def _replay(self) -> None:
        if not self.path.exists():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # a torn last write: the append never completed
                    log.warning("ignoring a torn last line in %s", self.path)
                    continue
                raise
            self._apply(record["key"], record["value"])

    def _append(self, key: dict[str, Any], value: dict[str, Any] | None) -> None:
        self._log.write(json.dumps({"key": key, "value": value}, separators=(",", ":")) + "\n")
        self._log.flush()
        os.fsync(self._log.fileno())
        self._apply(key, value)

    def _apply(self, key: dict[str, Any], value: dict[str, Any] | None) -> None:
        keytype = key["keytype"]
        if keytype == "SCHEMA":
            subject, version = key["subject"], key["version"]
            versions = self.subjects.setdefault(subject, [])
            if value is None:  # permanent delete
                versions[:] = [v for v in versions if v.version != version]
                return
            schema_id = value["id"]
            self.schemas.setdefault(schema_id, value["schema"])
            self.ids.setdefault(normalize(value["schema"]), schema_id)
            existing = next((v for v in versions if v.version == version), None)
            if existing is not None:
                existing.deleted = bool(value.get("deleted", False))
            else:
                versions.append(Version(subject, version, schema_id, value["schema"]))
                versions.sort(key=lambda v: v.version)
        elif keytype == "CONFIG":
            if value is None:
                self.configs.pop(key.get("subject"), None)
            else:
                self.configs[key.get("subject")] = value["compatibilityLevel"]

    # --- queries -----------------------------------------------------------------------------

    def live_versions(self, subject: str, deleted: bool = False) -> list[Version]:
        versions = [v for v in self.subjects.get(subject, []) if deleted or not v.deleted]
        if not versions:
            raise errors.subject_not_found(subject)
        return versions

    def subject_names(self, deleted: bool = False) -> list[str]:
        return sorted(
            s for s, vs in self.subjects.items() if any(deleted or not v.deleted for v in vs)
        )

    def version(self, subject: str, version: str, deleted: bool = False) -> Version:
        """One version; `deleted` also finds soft-deleted ones (`?deleted=true`)."""
        versions = self.live_versions(subject, deleted)
        if version in ("latest", "-1"):
            return versions[-1]
        number = version_number(version)
        found = next((v for v in versions if v.version == number), None)
        if found is None:
            raise errors.version_not_found(version)
        return found

    def schema_by_id(self, schema_id: int) -> str:
        if schema_id not in self.schemas:
            raise errors.schema_not_found(f"Schema {schema_id} not found")
        return self.schemas[schema_id]

    def usages(self, schema_id: int) -> list[Version]:
        return [v for vs in self.subjects.values() for v in vs if v.schema_id == schema_id]

    def lookup(self, subject: str, schema_text: str, deleted: bool = False) -> Version:
        versions = self.live_versions(subject, deleted)
        wanted = normalize(schema_text)
        for candidate in versions:
            if normalize(candidate.schema) == wanted:
                return candidate
        raise errors.schema_not_found()

    def compatibility(self, subject: str | None) -> str:
        if subject is not None and subject in self.configs:
            return self.configs[subject]
        return self.configs.get(None, DEFAULT_LEVEL)

    def check(self, subject: str, schema_text: str, against: str | None = None) -> list[str]:
        """Incompatibilities of `schema_text` with the subject's versions (or one version)."""
        candidate = parse(schema_text)
        level = self.compatibility(subject)
        versions = self.live_versions(subject) if subject in self.subjects else []
        if against is not None:
            versions = [self.version(subject, against)]
            level = level.removesuffix("_TRANSITIVE")
        return incompatibilities(candidate, [parse(v.schema) for v in versions], level)

    # --- commands ----------------------------------------------------------------------------

    def register(self, subject: str, schema_text: str) -> Version:
        parse(schema_text)
        wanted = normalize(schema_text)
        current = [v for v in self.subjects.get(subject, []) if not v.deleted]
        for existing in current:
            if normalize(existing.schema) == wanted:
                return existing
        problems = self.check(subject, schema_text) if current else []
        if problems:
            raise errors.incompatible(problems)
        schema_id = self.ids.get(wanted, max(self.schemas, default=0) + 1)
        version = max((v.version for v in self.subjects.get(subject, [])), default=0) + 1
        key = schema_key(subject, version)
        value = {
            "subject": subject,
            "version": version,
            "id": schema_id,
            "schema": self.schemas.get(schema_id, wanted),
            "deleted": False,
        }
        self._append(key, value)
        return self.version(subject, str(version))

    def set_compatibility(self, subject: str | None, level: object) -> str:
        if not isinstance(level, str) or level.upper() not in LEVELS:
            raise errors.invalid_compatibility_level(level)
        self._append(
            {"keytype": "CONFIG", "subject": subject, "magic": 0},
            {"compatibilityLevel": level.upper()},
        )
        return level.upper()

    def delete_compatibility(self, subject: str) -> str:
        level = self.compatibility(subject)
        self._append({"keytype": "CONFIG", "subject": subject, "magic": 0}, None)
        return level

    def delete_version(self, subject: str, version: str, permanent: bool) -> int:
        """Soft delete a live version, or permanently delete a soft-deleted one (Confluent's
        two steps: 40406 for a second soft delete, 40407 for a permanent one that skips it)."""
        every = self.subjects.get(subject, [])
        if not every:
            raise errors.subject_not_found(subject)
        live = [v for v in every if not v.deleted]
        if version in ("latest", "-1"):
            target = (every if permanent or not live else live)[-1]
        else:
            number = version_number(version)
            found = next((v for v in every if v.version == number), None)
            if found is None:
                raise errors.version_not_found(version)
            target = found
        if permanent and not target.deleted:
            raise errors.version_not_soft_deleted(subject, target.version)
        if not permanent and target.deleted:
            raise errors.version_soft_deleted(subject, target.version)
        self._delete(target, permanent)
        return target.version

    def delete_subject(self, subject: str, permanent: bool) -> list[int]:
        """Soft delete every live version (and the subject's compatibility config), or
        permanently delete a subject whose every version is soft deleted (40404 / 40405)."""
        every = list(self.subjects.get(subject, []))
        if not every:
            raise errors.subject_not_found(subject)
        live = [v for v in every if not v.deleted]
        if permanent and live:
            raise errors.subject_not_soft_deleted(subject)
        if not permanent and not live:
            raise errors.subject_soft_deleted(subject)
        for target in every if permanent else live:
            self._delete(target, permanent)
        if not permanent and subject in self.configs:
            self.delete_compatibility(subject)
        return [v.version for v in (every if permanent else live)]

    def _delete(self, target: Version, permanent: bool) -> None:
        key = schema_key(target.subject, target.version)
        if permanent:
            self._append(key, None)
            return
        value = {
            "subject": target.subject,
            "version": target.version,
            "id": target.schema_id,
            "schema": target.schema,
            "deleted": True,
        }
        self._append(key, value)


def schema_key(subject: str, version: int) -> dict[str, Any]:
    """The `_schemas` key of one subject version."""
    return {"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}


def version_number(version: str) -> int:
    if not version.isdigit() or int(version) < 1:
        raise errors.invalid_version(version)
    return int(version)
