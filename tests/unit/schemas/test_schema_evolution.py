"""Every schema stays BACKWARD compatible with every version of it committed before.

The current file (reader) must read data written with each earlier committed version (writer),
as a consumer upgraded first must. Runs on any clone with history; a schema with no committed
version yet is new, and that is asserted, not skipped.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from schemas import SCHEMA_DIR, load_schema, schema_names

ROOT = SCHEMA_DIR.parent


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout


def committed_versions(name: str) -> list[tuple[str, str]]:
    path = f"schemas/{name}.avsc"
    shas = git("log", "--format=%H", "--", path).split()
    versions = []
    for sha in shas:
        try:
            versions.append((sha[:10], git("show", f"{sha}:{path}")))
        except subprocess.CalledProcessError:
            continue  # the commit deleted or renamed it
    return versions


@pytest.mark.parametrize("name", schema_names())
def test_schema_reads_every_earlier_version(name: str) -> None:
    reader = avro.schema.parse(load_schema(name))
    versions = committed_versions(name)
    if not versions:
        status = git("status", "--porcelain", "--", f"schemas/{name}.avsc")
        assert status.startswith("??") or status.startswith("A"), f"{name}: no history, not new"
        return
    for sha, text in versions:
        result = ReaderWriterCompatibilityChecker().get_compatibility(  # type: ignore[no-untyped-call]
            reader, avro.schema.parse(text)
        )
        assert result.compatibility is SchemaCompatibilityType.compatible, (
            f"schemas/{name}.avsc cannot read data written with its version at {sha}: "
            f"{sorted(map(str, result.messages))}"
        )


def test_every_topic_has_a_schema_with_docs() -> None:
    import json

    from mmstream.core.topics import TOPICS

    for spec in TOPICS:
        if spec.value_schema is None:  # a dead-letter topic: other topics' original bytes
            continue
        schema = json.loads(load_schema(spec.value_schema))
        assert schema.get("doc"), spec.value_schema
        undocumented = [f["name"] for f in schema["fields"] if not f.get("doc")]
        assert not undocumented, f"{spec.value_schema}: fields without doc: {undocumented}"
    assert Path(SCHEMA_DIR).is_dir()
