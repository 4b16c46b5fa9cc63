"""`KafkaCluster`: one or three local Apache Kafka nodes on loopback, durable across restarts.

Each node is broker and controller; the nodes are the controller quorum's voters (1 or 3). The
cluster lives in one directory (`<data_dir>/kafka` for `mmstream up --broker kafka`):
`cluster.json` records the cluster id and every node's ports, so that a later start — of the
whole cluster or of one node after `kill` — finds its data and its quorum again. Ready means
the metadata of every node lists every broker.

    with KafkaCluster(path, nodes=3) as cluster:
        cluster.kill(cluster.leader_of("topic", 0))   # SIGKILL, no clean shutdown
        cluster.restart(node_id)                      # same ports, same data; waits until ready
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import signal
import time
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient

from mmstream.core.child_process import free_port
from mmstream.core.errors import StackError
from mmstream.stack.kafka_node import KafkaNode, NodeAddress, random_cluster_id, require_kafka

log = logging.getLogger(__name__)
CLUSTER_FILE = "cluster.json"
# a JVM start on a busy 2-core machine: seconds, not milliseconds
READY_DEADLINE_S = 180.0


class KafkaCluster:
    """`nodes` local Kafka nodes in `directory`; start / stop / kill / restart / pause."""

    def __init__(self, directory: Path | str, nodes: int = 1) -> None:
        if nodes not in (1, 3):
            raise StackError(f"a local Kafka cluster has 1 or 3 nodes, not {nodes}")
        self.directory = Path(directory)
        self.size = nodes
        self.nodes: dict[int, KafkaNode] = {}
        self.cluster_id = ""
        self.ready_s = 0.0

    # -- addresses -------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes.values())

    @property
    def pid(self) -> int:
        """The first node's pid (a single-node cluster's only process)."""
        return self.nodes[min(self.nodes)].pid

    def node(self, node_id: int) -> KafkaNode:
        return self.nodes[node_id]

    def running_nodes(self) -> list[KafkaNode]:
        return [node for node in self.nodes.values() if node.running]

    def leader_of(self, topic: str, partition: int = 0) -> int:
        """The node id leading `topic`'s `partition` now (metadata from a running node)."""
        for node in self.running_nodes():
            admin = AdminClient({"bootstrap.servers": node.bootstrap_servers, "log_level": 0})
            try:
                metadata = admin.list_topics(topic, timeout=5)
            except Exception:  # this node does not answer: ask the next one
                continue
            partitions = metadata.topics[topic].partitions
            if partition in partitions and partitions[partition].leader >= 0:
                return int(partitions[partition].leader)
        raise StackError(f"no running node knows a leader of {topic}[{partition}]")

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> KafkaCluster:
        require_kafka()
        started = time.monotonic()
        self._load_or_create_layout()
        # one JVM per format: the nodes format side by side
        formatting = {i: node.start_format(self.cluster_id) for i, node in self.nodes.items()}
        for i, node in self.nodes.items():
            node.finish_format(formatting[i])
        for node in self.nodes.values():
            node.launch()
        try:
            self.wait_healed(READY_DEADLINE_S, started)
        except BaseException:
            self.stop()
            raise
        self.ready_s = time.monotonic() - started
        log.info("kafka cluster of %d ready in %.1f s", self.size, self.ready_s)
        return self

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM every node (a controlled shutdown), SIGKILL after `grace_s`."""
        for node in self.nodes.values():
            node.signal(signal.SIGCONT)
            node.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for node in self.nodes.values():
            if node.process is None:
                continue
            try:
                node.process.wait(max(0.1, deadline - time.monotonic()))
            except Exception:  # did not stop in time
                node.kill()

    def kill(self, node_id: int, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send `sig` to one node; SIGKILL (the default) waits until it is gone."""
        node = self.nodes[node_id]
        if sig == signal.SIGKILL:
            node.kill()
        else:
            node.signal(sig)

    def restart(self, node_id: int | None = None) -> float:
        """Start a node (default: the first) again, SIGKILLing it first if it runs, on its ports
        with its data; wait until every broker is registered again. Returns the seconds."""
        node = self.nodes[min(self.nodes) if node_id is None else node_id]
        node.kill()
        started = time.monotonic()
        node.launch()
        return node.wait_ready(lambda: node.answers(self.size), READY_DEADLINE_S, started)

    def pause(self, node_id: int | None = None) -> None:
        """SIGSTOP one node (default: the first); it keeps its data and resumes with SIGCONT."""
        self.nodes[min(self.nodes) if node_id is None else node_id].pause()

    def resume(self, node_id: int | None = None) -> None:
        targets = self.nodes.values() if node_id is None else [self.nodes[node_id]]
        for node in targets:
            node.resume()

    def wait_healed(
        self, deadline_s: float = READY_DEADLINE_S, started: float | None = None
    ) -> None:
        """Wait until every node lists every broker (at start, after restarts)."""
        started = time.monotonic() if started is None else started
        for node in self.nodes.values():
            node.wait_ready(functools.partial(node.answers, self.size), deadline_s, started)

    # -- layout ----------------------------------------------------------------------------

    def _load_or_create_layout(self) -> None:
        path = self.directory / CLUSTER_FILE
        if path.exists():
            layout = json.loads(path.read_text())
            if len(layout["nodes"]) != self.size:
                raise StackError(
                    f"{path} describes {len(layout['nodes'])} nodes, not {self.size}: "
                    "remove the directory for a fresh cluster"
                )
            self.cluster_id = layout["cluster_id"]
            addresses = [NodeAddress(**entry) for entry in layout["nodes"]]
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.cluster_id = random_cluster_id()
            addresses = [NodeAddress(i, free_port(), free_port()) for i in range(1, self.size + 1)]
            layout = {
                "cluster_id": self.cluster_id,
                "nodes": [dataclasses.asdict(address) for address in addresses],
            }
            path.write_text(json.dumps(layout, indent=2))
        self.nodes = {
            a.node_id: KafkaNode(a, addresses, self.directory / f"node-{a.node_id}")
            for a in addresses
        }

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
