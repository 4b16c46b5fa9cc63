"""The CLI as a user runs it: real processes against the session cluster."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Producer

from connectors.dlq import dead_letter
from connectors.errors import RejectedInput
from mmstream.core.child_process import free_port
from mmstream.core.kafka.admin import ADMIN_TIMEOUT_S
from mmstream.core.kafka.config import producer_config
from mmstream.core.settings import TopicSettings
from mmstream.core.stackfile import read_stack_file
from schemas.serde import AvroSerde
from tests.fixtures.kafka import TEST_BROKER, TestCluster
from tests.helpers.health import status_is, wait_answer
from tests.helpers.kafka import produce
from tests.helpers.processes import Child, wait_for

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


def read_url(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body


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


def test_tail_shows_a_connector_dead_letter_as_its_frame_and_headers(
    cluster: TestCluster, topics: TopicSettings
) -> None:
    frame = b'{"type":"broadcast","channel":"orders","payload":{"orderId":"x"}}'
    try:
        raise RejectedInput("payload.orderId: expected long, got str 'x'", "orders")
    except RejectedInput as exc:
        value, headers = dead_letter(
            "mmapi",
            frame,
            exc,
            topic=topics.name("orders"),
            channel="orders",
            received_at_ms=1,
            connection_id="c",
            subscription_id="s",
            task_class="connectors.mmapi.MmapiProtocol",
        )
    producer = Producer(producer_config(cluster.target))
    producer.produce(topics.name("dlq"), value, b"mmapi", headers=headers)
    assert producer.flush(30) == 0
    result = run(["tail", "dlq", "-n", "1", "--timeout", "20"], cluster.env(topics))
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.splitlines()[0])
    assert line["raw"] == frame.decode() and "error" not in line
    assert line["headers"]["__connect.errors.topic"] == topics.name("orders")
    assert line["headers"]["__connect.errors.exception.class.name"] == (
        "connectors.errors.RejectedInput"
    )


def test_fixtures_load_rejects_a_file_without_game_ids(
    cluster: TestCluster, topics: TopicSettings, tmp_path: Path
) -> None:
    bad = tmp_path / "map.csv"
    bad.write_text("fixtureId,league\nfx-1,nba\n")
    result = run(["fixtures", "load", str(bad)], cluster.env(topics))
    assert result.returncode == 2
    assert "row 1 lacks game_id" in result.stderr


# (command, setting, bad value)
BAD_SETTINGS = [
    (["topics", "list"], "MMSTREAM_LOG_LEVEL", "LOUD"),
    (["topics", "list"], "MMSTREAM_LOG_FORMAT", "xml"),
    (["topics", "list"], "MMSTREAM_KAFKA_NO_SUCH_PROP", "1"),
    (["topics", "list"], "MMSTREAM_KAFKA_SOCKET_TIMEOUT_MS", "x"),
    (["topics", "list"], "MMSTREAM_TOPIC_ORDERS", "two words"),
    (["topics", "list"], "MMSTREAM_BROKER_PROFILE", "fast"),
    (["tail", "orders"], "MMSTREAM_SCHEMA_REGISTRY_URL", "registry:8081"),
    (["process"], "MMSTREAM_PROCESSOR_HEDGE_DEADLINE_S", "soon"),
    (["process"], "MMSTREAM_DATA_DIR", "/proc/no/such/dir"),
    (["up", "--no-view"], "MMSTREAM_DATA_DIR", "/proc/no/such/dir"),
    (["up", "--no-view"], "MMAPI_METRICS_PORT", "ninety"),
    (["connect", "mmapi"], "MMAPI_PING_INTERVAL_S", "-1"),
]


@pytest.mark.parametrize(
    ("args", "setting", "value"), BAD_SETTINGS, ids=[b[1] for b in BAD_SETTINGS]
)
def test_every_bad_setting_exits_2_naming_it(
    args: list[str], setting: str, value: str, tmp_path: Path
) -> None:
    # addresses where nothing listens: start-up must stop before they are ever dialled
    env = {
        "MMSTREAM_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "MMSTREAM_SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{free_port()}",
        "MMSTREAM_DATA_DIR": str(tmp_path),
        "MMAPI_API_KEY": "mmapi-test-key",
        setting: value,
    }
    result = run(args, env, timeout=30)
    assert result.returncode == 2, result.stderr[-2000:]
    assert setting in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["simulate", "--faults", "{not json"], "--faults"),
        (["simulate", "--faults", '{"no_such_fault": 1}'], "--faults"),
        (["up", "--no-view", "--rate", "-5"], "--rate"),
        (["up", "--no-view", "--exit-when-done"], "--exit-when-done needs --duration"),
    ],
)
def test_a_bad_argument_exits_2_naming_it(args: list[str], named: str, tmp_path: Path) -> None:
    result = run(args, {"MMSTREAM_DATA_DIR": str(tmp_path)}, timeout=30)
    assert result.returncode == 2, result.stderr[-2000:]
    assert named in result.stderr and "Traceback" not in result.stderr


def test_tail_of_an_unknown_topic_fails_with_a_message(
    cluster: TestCluster, topics: TopicSettings
) -> None:
    result = run(["tail", "no.such.topic"], cluster.env(topics), timeout=60)
    assert result.returncode == 2
    assert "no topic 'no.such.topic' in the cluster" in result.stderr
    assert result.stdout == ""


ONE_SHOT_COMMANDS = [
    ["topics", "list"],
    ["topics", "create"],
    ["tail", "hedge_fills"],
    ["fixtures", "load", "{fixtures}"],
]


@pytest.mark.parametrize("command", ONE_SHOT_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_an_unreachable_kafka_fails_at_once_in_one_line_naming_the_setting(
    tmp_path: Path, command: list[str]
) -> None:
    """Nothing listens at the bootstrap address: a one-shot command says so at once, not after
    the admin client's `ADMIN_TIMEOUT_S` of retries (the run is given half of it)."""
    fixtures = tmp_path / "fixtures.csv"
    fixtures.write_text("fixtureId,game_id\nf1,g1\n")
    address = f"127.0.0.1:{free_port()}"
    env = {
        "MMSTREAM_BOOTSTRAP_SERVERS": address,
        "MMSTREAM_SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{free_port()}",
        "MMSTREAM_DATA_DIR": str(tmp_path),
    }
    args = [arg.format(fixtures=fixtures) for arg in command]
    result = run(args, env, timeout=ADMIN_TIMEOUT_S / 2)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("mmstream: Kafka:"), result.stderr
    assert f"{address}: connection refused" in result.stderr
    assert "MMSTREAM_BOOTSTRAP_SERVERS" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


HELP_EXIT_CODES = {
    ("up",): ("0 ", "1 ", "2 "),
    ("connect",): ("0 ", "1 ", "2 ", "3 "),
    ("process",): ("0 ", "1 ", "2 ", "70 "),
    ("simulate",): ("0 ", "2 "),
    ("registry",): ("0 ", "2 "),
    ("tail",): ("0 ", "1 ", "2 "),
    ("topics",): ("0 ", "1 ", "2 "),
    ("topics", "create"): ("0 ", "1 ", "2 "),
    ("topics", "list"): ("0 ", "1 ", "2 "),
    ("fixtures", "load"): ("0 ", "1 ", "2 "),
    (): ("0 ", "1 ", "2 "),
}


@pytest.mark.parametrize("command", list(HELP_EXIT_CODES), ids=lambda c: " ".join(c) or "mmstream")
def test_help_of_each_command_lists_its_exit_codes(command: tuple[str, ...]) -> None:
    result = run([*command, "--help"], {})
    assert result.returncode == 0, result.stderr
    codes = result.stdout.split("Exit codes:", 1)[1].splitlines()
    listed = {line.split()[0] + " " for line in codes if line.strip()}
    assert set(HELP_EXIT_CODES[command]) <= listed, result.stdout


def test_a_bad_setting_stops_start_up_naming_it(tmp_path: Path) -> None:
    result = run(["topics", "list"], {"MMSTREAM_BOOTSTRAP_SERVERS": "no-port-here"})
    assert result.returncode == 2
    assert "MMSTREAM_BOOTSTRAP_SERVERS" in result.stderr
    result = run(["connect", "mmapi"], {"MMSTREAM_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and "MMAPI_API_KEY is not set" in result.stderr
    result = run(["up", "--duration", "1"], {"MMSTREAM_EMBEDDED_BROKER": "redpanda"})
    assert result.returncode == 2 and "MMSTREAM_EMBEDDED_BROKER" in result.stderr


def test_up_on_kafka_without_its_jars_says_what_to_install(tmp_path: Path) -> None:
    result = run(
        ["up", "--broker", "kafka", "--duration", "1", "--no-view"],
        {"MMSTREAM_DATA_DIR": str(tmp_path), "MMSTREAM_LOCAL_KAFKA_LIB": str(tmp_path / "none")},
    )
    assert result.returncode == 1
    assert "make kafka" in result.stderr and "JDK 17" in result.stderr


@pytest.mark.per_broker
async def test_up_on_the_embedded_default_runs_and_stops_cleanly(tmp_path: Path) -> None:
    """No Kafka settings, no keys: the embedded stack, simulators, connectors and a worker —
    on the tier's broker (`--broker kafka` on the Kafka tier, the Tansu default otherwise)."""
    args = ["up", "--no-view", "--duration", "12", "--rate", "40", "--summary-interval", "3"]
    if TEST_BROKER == "kafka":
        args += ["--broker", "kafka"]
    up = Child(args, {"MMSTREAM_DATA_DIR": str(tmp_path)}, tmp_path / "up.log")
    assert await up.wait(180) == 0, up.output[-2000:]
    output = up.output
    assert "embedded broker 127.0.0.1:" in output
    assert f"({TEST_BROKER})" in output
    assert "duration reached" in output
    summaries = [line for line in output.splitlines() if line.startswith("feeds[")]
    assert summaries, output[-1500:]
    assert "mmapi=streaming" in "".join(summaries)
    assert not (tmp_path / "stack.json").exists(), "the stack stopped and cleaned up"


async def test_up_records_and_prints_every_childs_health_and_metrics_urls(tmp_path: Path) -> None:
    fixed = free_port()
    up = Child(
        ["up", "--no-view", "--duration", "90", "--rate", "20"],
        {"MMSTREAM_DATA_DIR": str(tmp_path), "MMAPI_METRICS_PORT": str(fixed)},
        tmp_path / "up.log",
    )
    try:
        await wait_for(
            lambda: "endpoints" in (read_stack_file(tmp_path) or {}), 90, "endpoints in stack.json"
        )
        endpoints = read_stack_file(tmp_path)["endpoints"]  # type: ignore[index]
        assert set(endpoints) == {"connector-mmapi", "connector-predexon", "worker"}
        assert endpoints["connector-mmapi"]["metrics"] == f"http://127.0.0.1:{fixed}/metrics"
        for child, urls in endpoints.items():
            assert f"{child}: metrics {urls['metrics']}  health {urls['health']}" in up.output
            await wait_answer(urls["health"], status_is(200), 60, f"{child} alive")
        for child in ("connector-mmapi", "connector-predexon", "worker"):
            await wait_answer(endpoints[child]["ready"], status_is(200), 90, f"{child} ready")
        metrics = await asyncio.to_thread(read_url, endpoints["worker"]["metrics"])
        assert b"mmstream_processor_records_in_total" in metrics
    finally:
        assert await up.stop(60) == 0, up.output[-2000:]
    assert not (tmp_path / "stack.json").exists()
