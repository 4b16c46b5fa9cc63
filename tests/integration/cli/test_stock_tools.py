"""The README's notes on stock Kafka tools, checked: kcat against the session broker.

Debian's kcat links librdkafka 2.0, whose ApiVersion v3 request the embedded broker (Tansu)
answers in a form it cannot read; pointed at the confluent-kafka wheel's newer librdkafka with
LD_PRELOAD it lists and reads topics. kcat comes from Debian's `kcat` package (`make tools`).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import confluent_kafka
import pytest

from mmstream.core.settings import TopicSettings
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import produce

KCAT = shutil.which("kcat")
pytestmark = pytest.mark.skipif(
    KCAT is None, reason="kcat not installed (Debian package `kcat`; `make tools` installs it)"
)


def wheel_librdkafka() -> str:
    """The librdkafka bundled in the confluent-kafka wheel (the README's LD_PRELOAD value)."""
    libs = Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs"
    found = glob.glob(str(libs / "librdkafka-*.so*"))
    assert found, f"no librdkafka in {libs}"
    return found[0]


def kcat(args: list[str], preload: bool) -> subprocess.CompletedProcess[str]:
    assert KCAT is not None
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = wheel_librdkafka()
    return subprocess.run(
        [KCAT, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.mark.tansu_only
def test_debian_kcat_alone_cannot_read_the_embedded_broker(cluster: TestCluster) -> None:
    result = kcat(["-b", cluster.target.bootstrap_servers, "-L", "-m", "5"], preload=False)
    assert result.returncode != 0
    assert "Read underflow" in result.stderr


@pytest.mark.kafka_only
def test_debian_kcat_alone_lists_apache_kafka(cluster: TestCluster) -> None:
    """The Tansu gap above is Tansu's: Debian's kcat (librdkafka 2.0) talks to Kafka 4.1."""
    result = kcat(["-b", cluster.target.bootstrap_servers, "-L", "-m", "5"], preload=False)
    assert result.returncode == 0, result.stderr
    assert "brokers:" in result.stdout


def test_kcat_with_the_wheels_librdkafka_lists_and_reads_topics(
    cluster: TestCluster, topics: TopicSettings
) -> None:
    topic = topics.name("dlq")
    produce(cluster.target, topic, [("mmapi", b"raw-bytes-1"), ("mmapi", b"raw-bytes-2")])
    bootstrap = cluster.target.bootstrap_servers
    listing = kcat(["-b", bootstrap, "-L", "-t", topic], preload=True)
    assert listing.returncode == 0, listing.stderr
    assert f'topic "{topic}"' in listing.stdout
    read = kcat(
        ["-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%k=%s\\n"],
        preload=True,
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines() == ["mmapi=raw-bytes-1", "mmapi=raw-bytes-2"]
