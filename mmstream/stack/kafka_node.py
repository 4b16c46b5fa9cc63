"""One local Apache Kafka node (KRaft, broker + controller) run from the jars of `make kafka`.

The jars come from Maven Central (`deploy/kafka/pom.xml`, `make kafka` → `.kafka/lib`); the
classes run are the ones the distribution's scripts run: `kafka.tools.StorageTool` to format the
storage and `kafka.Kafka` for the server. Java 17+ must be on the PATH (or `JAVA_HOME`). The
settings below are for a developer machine and the tests: a small heap, few threads, short group
and broker-liveness timeouts, a log cleaner that wakes every second.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from mmstream.core.child_process import ChildProcess
from mmstream.core.errors import StackError

REPO_ROOT = Path(__file__).resolve().parents[2]
LIB_ENV = "MMSTREAM_LOCAL_KAFKA_LIB"
DEFAULT_LIB = REPO_ROOT / ".kafka" / "lib"
LOG4J_CONFIG = REPO_ROOT / "deploy" / "kafka" / "log4j2.properties"
HEAP = os.environ.get("MMSTREAM_LOCAL_KAFKA_HEAP", "320m")
JVM_OPTIONS = [
    f"-Xmx{HEAP}",
    "-Xms64m",
    "-XX:+UseSerialGC",  # 2-core machines: no parallel GC threads competing with the pipeline
    # C1 only: a JVM start is mostly JIT work; on 2 busy cores this halves start → ready
    # (measured 30 → 16 s at load 13) for a peak throughput a local broker does not need
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]
INSTALL_HINT = "run `make kafka` (Maven fetches Apache Kafka's jars) and install a JDK 17+"


def kafka_lib() -> Path:
    return Path(os.environ.get(LIB_ENV) or DEFAULT_LIB)


def java_binary() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def missing_requirements() -> str | None:
    """Why a local Kafka cannot start here, or None when Java and the jars are present."""
    lib = kafka_lib()
    if java_binary() is None:
        return f"no `java` found (JAVA_HOME or PATH): {INSTALL_HINT}"
    if not any(lib.glob("kafka_2.13-*.jar")):
        return f"Apache Kafka's jars are not in {lib}: {INSTALL_HINT}"
    return None


def require_kafka() -> str:
    """The java binary, or a StackError saying what to install."""
    problem = missing_requirements()
    if problem is not None:
        raise StackError(f"the local Apache Kafka cannot start: {problem}")
    java = java_binary()
    assert java is not None
    return java


def java_command(main_class: str, *args: str) -> list[str]:
    return [
        require_kafka(),
        *JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp",
        str(kafka_lib() / "*"),
        main_class,
        *args,
    ]


def random_cluster_id() -> str:
    """What `kafka.tools.StorageTool random-uuid` prints (a base64url UUID), without a JVM."""
    while True:  # like Kafka's Uuid.randomUuid: never one that starts with "-" (an option)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


@dataclass(frozen=True)
class NodeAddress:
    node_id: int
    broker_port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    @property
    def voter(self) -> str:
        return f"{self.node_id}@127.0.0.1:{self.controller_port}"


def server_properties(
    node: NodeAddress, voters: list[NodeAddress], log_dir: Path
) -> dict[str, str | int]:
    """The node's server.properties. Replication settings follow the node count: 3 nodes give
    RF 3 and min.insync.replicas 2 (acks=all survives one node down), 1 node gives RF 1."""
    replicas = len(voters)
    min_isr = 2 if replicas >= 3 else 1
    return {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        # a static quorum: every node knows the voters; restarts reuse the same ports
        "controller.quorum.voters": ",".join(v.voter for v in voters),
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://{node.bootstrap}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": 4,
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": 10,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": 10,
        "unclean.leader.election.enable": "false",
        # groups: no initial join delay, and the tuned client profile's 2 s session accepted
        "group.initial.rebalance.delay.ms": 0,
        "group.min.session.timeout.ms": 500,
        # a killed node is fenced (its partitions move) after 3 s instead of 9 s
        "broker.heartbeat.interval.ms": 500,
        "broker.session.timeout.ms": 3000,
        # compaction visible in tests: the cleaner looks every second; 8 MB, not 128 MB, of heap
        "log.cleaner.backoff.ms": 1000,
        "log.cleaner.dedupe.buffer.size": 8 * 1024 * 1024,
        "log.cleaner.threads": 1,
        # few threads on a 2-core machine
        "num.network.threads": 2,
        "num.io.threads": 2,
        "background.threads": 2,
        "num.replica.fetchers": 1,
        "num.recovery.threads.per.data.dir": 1,
    }


def write_properties(path: Path, properties: Mapping[str, str | int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))


def registered_brokers(bootstrap: str) -> set[int]:
    """Ids of the brokers the metadata of `bootstrap` lists (unfenced ones), or empty."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 1000, "log_level": 0})
    try:
        return set(admin.list_topics(timeout=1).brokers)
    except Exception:  # any failure = not ready yet
        return set()


class KafkaNode(ChildProcess):
    """One node: its directory holds `server.properties`, `data/` (the log) and `node.log`."""

    def __init__(self, address: NodeAddress, voters: list[NodeAddress], node_dir: Path) -> None:
        self.address = address
        self.node_dir = node_dir
        self.config_path = node_dir / "server.properties"
        self.log_dir = node_dir / "data"
        super().__init__(
            f"kafka node {address.node_id}",
            java_command("kafka.Kafka", str(self.config_path)),
            node_dir / "node.log",
        )
        write_properties(self.config_path, server_properties(address, voters, self.log_dir))

    @property
    def node_id(self) -> int:
        return self.address.node_id

    @property
    def bootstrap_servers(self) -> str:
        return self.address.bootstrap

    @property
    def formatted(self) -> bool:
        return (self.log_dir / "meta.properties").exists()

    def start_format(self, cluster_id: str) -> subprocess.Popen[str] | None:
        """Start formatting the storage, or None if formatted already (restarts are durable:
        a formatted node keeps its data). `finish_format` waits for it."""
        if self.formatted:
            return None
        return subprocess.Popen(
            java_command(
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                cluster_id,
                "--config",
                str(self.config_path),
                "--ignore-formatted",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def finish_format(self, formatting: subprocess.Popen[str] | None) -> None:
        if formatting is None:
            return
        output, _ = formatting.communicate()
        if formatting.returncode != 0:
            raise StackError(
                f"{self.name}: storage format failed ({formatting.returncode}): "
                + output.strip()[-500:]
            )

    def answers(self, expected_brokers: int) -> bool:
        brokers = registered_brokers(self.bootstrap_servers)
        return self.node_id in brokers and len(brokers) >= expected_brokers

    def pause(self) -> None:
        """Stall the node (SIGSTOP): clients and the other nodes see it unreachable."""
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)
