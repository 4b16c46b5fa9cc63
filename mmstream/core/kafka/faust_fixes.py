"""The patches every Faust worker process installs, each named, each on the brokers that need it.

| fix                               | fixes (upstream)                              | brokers      |
|-----------------------------------|-----------------------------------------------|--------------|
| `pause_streams_on_assign`         | Faust: stream records before recovery (#596)  | Tansu, Kafka |
| `position_before_resume`          | Faust: resume before seek (#216, #596)        | Tansu, Kafka |
| `seek_uncommitted_to_beginning`   | aiokafka: no seek without commit (#1003)      | Tansu, Kafka |
| `empty_active_means_none`         | Faust + aiokafka: empty set = all (#69)       | Tansu, Kafka |
| `forget_moved_keys`               | Faust: moved keys stay in memory (#199)       | Tansu, Kafka |
| `partition_keys_through_failover` | aiokafka: no partitions while leaderless      | Tansu, Kafka |
| `exact_changelog_ends`            | Tansu: short end offsets (BROKERS.md)         | Tansu        |
| `low_fetch_wait`                  | Faust: 1.5 s fetch wait x aiokafka's fetcher  | Tansu, Kafka |

The first six are bugs of faust-streaming / aiokafka and are needed whatever the broker;
`exact_changelog_ends` works around Tansu and is not installed on Apache Kafka; `low_fetch_wait`
costs a hop hundreds of ms on both (Tansu sleeps in a fetch; aiokafka's one fetch in flight
per broker leaves busy partitions out, `mmstream.core.kafka.config.WorkerTuning`). The tests that
show each bug without its fix: `tests/integration/broker/test_faust_fixes.py`; `forget_moved_keys`:
`tests/integration/processors/test_worker_join.py`. The patched
functions copy code of the versions in `PINNED` (also in `constraints.txt` and
`pyproject.toml`); any other installed version stops the worker at start-up (exit 2), since the
copies would be wrong.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from mmstream.core.errors import ConfigurationError
from mmstream.core.kafka.config import ClusterTarget

PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}
TANSU, KAFKA = "tansu", "kafka"
_ORIGINALS: dict[tuple[Any, str], Any] = {}
FIXES_OFF_VARIABLE = "TEST_FAUST_FIXES_OFF"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fix:
    name: str
    brokers: frozenset[str]
    install: Callable[[ClusterTarget], None]


def check_pinned_versions() -> None:
    """Stop (ConfigurationError, exit 2) unless the pinned faust-streaming and aiokafka run."""
    wrong = []
    for package, pinned in PINNED.items():
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            wrong.append(f"{package} {installed} is installed, the Faust fixes need {pinned}")
    if wrong:
        raise ConfigurationError(
            "; ".join(wrong)
            + " (mmstream/core/kafka/faust_fixes.py copies their code: install with "
            "`pip install -c constraints.txt`, or re-check every fix before changing the pin)"
        )


def broker_of(target: ClusterTarget) -> str:
    """Which broker's fixes apply: the embedded profile means Tansu."""
    return TANSU if target.embedded else KAFKA


def install_faust_fixes(target: ClusterTarget, disabled: Collection[str] = ()) -> list[str]:
    """Check the pinned versions, then patch Faust/aiokafka once per process with every fix
    the target's broker needs, except `disabled` ones and those named in TEST_FAUST_FIXES_OFF
    (comma-separated; tests only, to show what each fix fixes); the names installed."""
    check_pinned_versions()
    off = [name for name in os.environ.get(FIXES_OFF_VARIABLE, "").split(",") if name]
    if off:
        log.warning(
            "%s=%s: these Faust fixes are NOT installed (tests only)", FIXES_OFF_VARIABLE, off
        )
    disabled = {*disabled, *off}
    unknown = set(disabled) - {fix.name for fix in FIXES}
    if unknown:
        raise ConfigurationError(f"unknown Faust fixes {sorted(unknown)}")
    broker = broker_of(target)
    installed = []
    for fix in FIXES:
        if broker in fix.brokers and fix.name not in disabled:
            fix.install(target)
            installed.append(fix.name)
    return installed


def original(owner: Any, attribute: str) -> Any:
    """`owner.attribute` as the library defines it, whether or not a fix replaced it."""
    return _ORIGINALS.get((owner, attribute), getattr(owner, attribute))


def _replace(owner: Any, attribute: str, build: Callable[[Any], Any]) -> None:
    """Replace `owner.attribute` with `build(the original)`, once per process."""
    if (owner, attribute) in _ORIGINALS:
        return
    _ORIGINALS[(owner, attribute)] = getattr(owner, attribute)
    setattr(owner, attribute, build(_ORIGINALS[(owner, attribute)]))


def _pause_streams_on_assign(target: ClusterTarget) -> None:
    from faust.transport.consumer import Consumer

    from mmstream.core.kafka.faust_rebalance import pause_streams_on_assign

    _replace(Consumer, "on_partitions_assigned", pause_streams_on_assign)


def _position_before_resume(target: ClusterTarget) -> None:
    from faust.tables.recovery import Recovery

    from mmstream.core.kafka import faust_rebalance

    _replace(Recovery, "_resume_streams", lambda _: faust_rebalance.resume_streams)
    _replace(Recovery, "on_recovery_completed", lambda _: faust_rebalance.on_recovery_completed)


def _seek_uncommitted_to_beginning(target: ClusterTarget) -> None:
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    from mmstream.core.kafka.faust_rebalance import seek_to_committed

    _replace(AIOKafkaConsumerThread, "seek_to_committed", lambda _: seek_to_committed)


def _empty_active_means_none(target: ClusterTarget) -> None:
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    from mmstream.core.kafka.faust_rebalance import fetch_only_active

    _replace(AIOKafkaConsumerThread, "_fetch_records", fetch_only_active)


def _forget_moved_keys(target: ClusterTarget) -> None:
    from faust.tables.base import Collection

    from mmstream.core.kafka.faust_rebalance import INDEX_WRITTEN_KEYS, remember_key_partitions

    _replace(Collection, "send_changelog", remember_key_partitions)
    INDEX_WRITTEN_KEYS["installed"] = True  # the agents' hot path indexes its writes too


def _partition_keys_through_failover(target: ClusterTarget) -> None:
    from faust.transport.drivers.aiokafka import Producer

    from mmstream.core.kafka.faust_failover import key_partition_from_known_partitions

    _replace(Producer, "key_partition", key_partition_from_known_partitions)


def _exact_changelog_ends(target: ClusterTarget) -> None:
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    from mmstream.core.kafka.changelog_ends import exact_highwaters

    _replace(AIOKafkaConsumerThread, "highwaters", lambda ends: exact_highwaters(ends, target))


def _low_fetch_wait(target: ClusterTarget) -> None:
    import aiokafka

    from mmstream.core.kafka.config import low_fetch_wait_consumer

    tuning = target.worker
    _replace(
        aiokafka,
        "AIOKafkaConsumer",
        lambda cls: low_fetch_wait_consumer(cls, tuning.fetch_max_wait_ms, tuning.fetch_min_bytes),
    )


ANY_BROKER = frozenset({TANSU, KAFKA})
FIXES = (
    Fix("pause_streams_on_assign", ANY_BROKER, _pause_streams_on_assign),
    Fix("position_before_resume", ANY_BROKER, _position_before_resume),
    Fix("seek_uncommitted_to_beginning", ANY_BROKER, _seek_uncommitted_to_beginning),
    Fix("empty_active_means_none", ANY_BROKER, _empty_active_means_none),
    Fix("forget_moved_keys", ANY_BROKER, _forget_moved_keys),
    Fix("partition_keys_through_failover", ANY_BROKER, _partition_keys_through_failover),
    Fix("exact_changelog_ends", frozenset({TANSU}), _exact_changelog_ends),
    Fix("low_fetch_wait", ANY_BROKER, _low_fetch_wait),
)
