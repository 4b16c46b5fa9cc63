"""The CLI as a user runs it: real processes against the session cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mmstream.settings import TopicSettings
from schemas.serde import AvroSerde
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import produce
from tests.helpers.processes import Child

MMSTREAM = [sys.executable, "-m", "mmstream.cli"]


def run(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MMSTREAM_", "MMAPI_", "PREDEXON_"))
    }
    return subprocess.run(
        [*MMSTREAM, *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help_lists_every_command() -> None:
    result = run(["--help"], {})
    for command in (
        "up",
        "registry",
        "topics",
        "tail",
        "simulate",
        "connect",
        "process",
        "fixtures",
    ):
        assert command in result.stdout


def test_topics_list_shows_partitions_and_configs(
    cluster: TestCluster, topics: TopicSettings
) -> None:
    result = run(["topics", "list"], cluster.env(topics))
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert lines[topics.name("orders")].split()[1] == "4"
    assert "cleanup.policy=compact" in lines[topics.name("fixture_map")]


def test_topics_create_is_idempotent_and_registers_schemas(
    cluster: TestCluster, topics: TopicSettings
) -> None:
    result = run(["topics", "create", "--register-schemas"], cluster.env(topics))
    assert result.returncode == 0, result.stderr
    assert "none (all existed)" in result.stdout
    assert f"registered {topics.name('hedge_fills')}-value" in result.stdout


def test_tail_prints_decoded_records_as_json_lines(
    cluster: TestCluster, topics: TopicSettings, serde: AvroSerde
) -> None:
    mapping = {
        "fixtureId": "fx-1",
        "game_id": "nba-atl-nyk-2026-04-18",
        "league": "nba",
        "sport": "basketball",
        "title": None,
        "source": "test",
        "loaded_at": 1771149600000,
    }
    produce(
        cluster.target, topics.name("fixture_map"), [("fx-1", serde.encode("fixture_map", mapping))]
    )
    result = run(["tail", "fixture_map", "-n", "1", "--timeout", "20"], cluster.env(topics))
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.splitlines()[0])
    assert line["key"] == "fx-1" and line["value"]["game_id"] == "nba-atl-nyk-2026-04-18"
    assert line["value"]["loaded_at"] == 1771149600000, "timestamps as epoch ms, one form"


def test_fixtures_load_rejects_a_file_without_game_ids(
    cluster: TestCluster, topics: TopicSettings, tmp_path: Path
) -> None:
    bad = tmp_path / "map.csv"
    bad.write_text("fixtureId,league\nfx-1,nba\n")
    result = run(["fixtures", "load", str(bad)], cluster.env(topics))
    assert result.returncode == 2
    assert "row 1 lacks game_id" in result.stderr


def test_a_bad_setting_stops_start_up_naming_it(tmp_path: Path) -> None:
    result = run(["topics", "list"], {"MMSTREAM_BOOTSTRAP_SERVERS": "no-port-here"})
    assert result.returncode == 2
    assert "MMSTREAM_BOOTSTRAP_SERVERS" in result.stderr
    result = run(["connect", "mmapi"], {"MMSTREAM_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and "MMAPI_API_KEY is not set" in result.stderr


async def test_up_on_the_embedded_default_runs_and_stops_cleanly(tmp_path: Path) -> None:
    """No Kafka settings, no keys: the embedded stack, simulators, connectors and a worker."""
    up = Child(
        ["up", "--no-view", "--duration", "12", "--rate", "40", "--summary-interval", "3"],
        {"MMSTREAM_DATA_DIR": str(tmp_path)},
        tmp_path / "up.log",
    )
    assert await up.wait(120) == 0, up.output[-2000:]
    output = up.output
    assert "embedded broker 127.0.0.1:" in output
    assert "duration reached" in output
    summaries = [line for line in output.splitlines() if line.startswith("feeds[")]
    assert summaries, output[-1500:]
    assert "mmapi=streaming" in "".join(summaries)
    assert not (tmp_path / "stack.json").exists(), "the stack stopped and cleaned up"
