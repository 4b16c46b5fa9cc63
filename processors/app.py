"""The Faust app: topics, tables and the plumbing every agent shares.

The agents' decisions are pure functions (`processors/*/logic.py`); this layer only moves
records: it decodes inputs (through the one decoder; `processors/failures.py` dead-letters what
cannot be decoded or processed), keeps state in tables (changelogged, so a restarted worker recovers
it), sends the derived records, and advances stream time.

Processing guarantee: at-least-once with deterministic, keyed outputs (see README). Faust's
exactly-once is experimental and does not start on the embedded broker (BROKERS.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import faust
from confluent_kafka.schema_registry import SchemaRegistryClient
from faust.types import TableT

from mmstream.core.errors import ConfigurationError
from mmstream.core.kafka.config import faust_settings
from mmstream.core.kafka.faust_fixes import install_faust_fixes
from mmstream.core.runtime import Runtime
from mmstream.core.topics import INTERNAL_PARTITIONS, PARTITIONS
from processors import signals as signal_contract
from processors.codec import CompactJson
from processors.common import Output
from processors.failures import FailurePath
from processors.liveness import Liveness
from processors.metrics import ProcessorMetrics
from processors.settings import ProcessorSettings
from schemas.codec import AvroTopicCodec
from schemas.decoder import Decoder
from schemas.serde import AvroSerde

log = logging.getLogger(__name__)
OUTPUT_TOPICS = ("hedge_fills", "risk_alerts", "risk_emergency", "scores_reconciled")


@dataclass
class Pipeline:
    """What agents share: the app, topics by id, settings, metrics and the output sender."""

    app: faust.App
    settings: ProcessorSettings
    runtime: Runtime
    metrics: ProcessorMetrics
    registry: SchemaRegistryClient
    serde: AvroSerde
    failures: FailurePath
    outputs: dict[str, faust.TopicT] = field(default_factory=dict)
    topic_ids: dict[str, str] = field(default_factory=dict)  # topic name -> topic id

    def input(self, *topic_ids: str) -> faust.TopicT:
        """One channel over several raw topics, as bytes: agents decode them in `decoded()`."""
        names = [self.runtime.topics.name(t) for t in topic_ids]
        return self.app.topic(*names, key_serializer="raw", value_serializer="raw")

    @property
    def decoder(self) -> Decoder:
        return self.failures.decoder

    def internal(self, suffix: str) -> faust.TopicT:
        """An internal topic; its partition count from `topics.INTERNAL_PARTITIONS`."""
        return self.app.topic(
            f"{self.settings.app_id}-{suffix}",
            partitions=INTERNAL_PARTITIONS[suffix],
            internal=True,
            key_serializer="raw",
            value_serializer=CompactJson(),
        )

    def table(self, name: str) -> TableT[bytes, Any]:
        """A table; its partition count from `topics.INTERNAL_PARTITIONS`."""
        # use_partitioner: timers may write too; murmur2 of the raw key places each key in
        # the same partition number as its source records (the connectors hash with murmur2).
        return self.app.Table(
            name,
            default=None,
            partitions=INTERNAL_PARTITIONS[name],
            key_type=bytes,
            use_partitioner=True,
        )

    def send(self, agent: str, outputs: Iterable[Output]) -> None:
        """Queue derived records for sending (no await per record). The emergency agent's
        signals of one call travel as one record: each costs a send and a receive."""
        signals = []
        for output in outputs:
            if output.topic_id == signal_contract.TOPIC_ID:
                signals.append(output.value)
                continue
            topic = self.outputs[output.topic_id]
            topic.send_soon(key=output.key.encode(), value=output.value)
            self.metrics.records_out.labels(agent, output.topic_id).inc()
        if signals:
            self.outputs["signals"].send_soon(
                key=b"emergency", value=signal_contract.batch(signals)
            )
            self.metrics.records_out.labels(agent, "signals").inc(len(signals))

    def topic_id(self, event: faust.types.EventT[Any]) -> str:
        return self.topic_ids[event.message.topic]


def create_pipeline(settings: ProcessorSettings, runtime: Runtime) -> Pipeline:
    install_faust_fixes(runtime.target)
    if settings.processing_guarantee == "exactly_once" and runtime.target.embedded:
        raise ConfigurationError(
            "MMSTREAM_PROCESSOR_PROCESSING_GUARANTEE=exactly_once needs Apache Kafka: the "
            "embedded Tansu broker has no transactions (use --broker kafka or a cluster)"
        )
    datadir = settings.data_dir / "faust" / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)  # Faust expects it to exist
    app = faust.App(
        settings.app_id,
        store="memory://",
        web_enabled=settings.web_port > 0,
        web_port=settings.web_port or 6066,
        topic_partitions=PARTITIONS,
        datadir=str(datadir),
        processing_guarantee=settings.processing_guarantee,
        **faust_settings(runtime.target),
    )
    registry = SchemaRegistryClient(runtime.registry_config())
    serde = AvroSerde(registry, runtime.topics)
    metrics = ProcessorMetrics()
    liveness = Liveness(app, metrics, settings.stall_after_s)
    failures = FailurePath(
        app,
        serde.decoder,
        metrics,
        liveness,
        runtime.topics.name("processors_dlq"),
        settings.test_fail_keys.split(","),
    )
    failures.timer(settings.lag_interval_s)(liveness.sample)
    pipeline = Pipeline(app, settings, runtime, metrics, registry, serde, failures)
    pipeline.topic_ids = {name: topic_id for topic_id, name in runtime.topics.names().items()}
    for topic_id in OUTPUT_TOPICS:
        pipeline.outputs[topic_id] = app.topic(
            runtime.topics.name(topic_id),
            key_serializer="raw",
            value_serializer=AvroTopicCodec(serde, topic_id),
        )
    pipeline.outputs["signals"] = pipeline.internal("signals")
    pipeline.outputs["score_views"] = pipeline.internal("score-views")
    return pipeline


def record_time(record: dict[str, Any]) -> int:
    envelope = record.get("envelope") or {}
    return int(envelope.get("event_time") or envelope.get("received_at") or 0)
