"""`require_listening`: a refused bootstrap address fails at once; a listening one that is slow
to answer is left to the Kafka client's own timeouts (real sockets on 127.0.0.1, no broker)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from mmstream.core.child_process import free_port
from mmstream.core.kafka.admin import KafkaUnreachable, require_listening
from mmstream.core.kafka.config import ClusterTarget


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A port that accepts connections and never answers: a broker still starting, or loaded."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    server.close()


def target(servers: str) -> ClusterTarget:
    return ClusterTarget(servers, embedded=False)


def test_every_address_refused_is_an_error_naming_each_and_the_setting() -> None:
    first, second = f"127.0.0.1:{free_port()}", f"localhost:{free_port()}"
    with pytest.raises(KafkaUnreachable) as raised:
        require_listening(target(f"{first}, {second}"))
    message = str(raised.value)
    assert f"{first}: connection refused" in message
    assert f"{second}: connection refused" in message
    assert "MMSTREAM_BOOTSTRAP_SERVERS" in message


def test_an_unknown_host_is_an_error_too() -> None:
    with pytest.raises(KafkaUnreachable, match=re.escape("no-such-host.invalid:9092")):
        require_listening(target("no-such-host.invalid:9092"))


def test_a_listening_address_passes_even_if_it_does_not_answer(silent_listener: str) -> None:
    require_listening(target(silent_listener))
    require_listening(target(f"127.0.0.1:{free_port()},{silent_listener}"))  # one is enough
    require_listening(target(f"SASL_SSL://{silent_listener}"))
