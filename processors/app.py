"""The Faust app: topics, tables and the plumbing every agent shares.

The agents' decisions are pure functions (`processors/*/logic.py`); this layer only moves
records: it decodes inputs (through the one decoder; `processors/failures.py` dead-letters what
cannot be decoded or processed), keeps state in tables (changelogged, so a restarted worker recovers
it), sends the derived records, and advances stream time. The per-batch hot path shared by the
agents is `processors/batch.py`; what they write goes through `processors/sink.py`.

Processing guarantee: at-least-once with deterministic, keyed outputs (see README). Faust's
exactly-once is experimental and does not start on the embedded broker (BROKERS.md).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import faust
from confluent_kafka.schema_registry import SchemaRegistryClient
from faust.types import TableT

from mmstream.core.errors import ConfigurationError
from mmstream.core.kafka.config import faust_settings, producer_config
from mmstream.core.kafka.faust_fixes import install_faust_fixes
from mmstream.core.kafka.faust_intake import Intake, install_intake
from mmstream.core.kafka.faust_topics import faust_topic_settings
from mmstream.core.kafka.group_lag import GroupLag
from mmstream.core.runtime import Runtime
from mmstream.core.topics import INTERNAL_PARTITIONS, PARTITIONS
from processors import signals as signal_contract
from processors.batch import BatchRunner, Copy, StateTable, clone
from processors.bulk import batches, register
from processors.codec import CompactJson
from processors.common import Output
from processors.failures import FailurePath, die_once
from processors.liveness import Liveness
from processors.metrics import ProcessorMetrics
from processors.outputs import OutputWriter
from processors.settings import ProcessorSettings
from processors.sink import ConfluentSink, FaustSink, Sink, install
from schemas.decoder import Decoder
from schemas.serde import AvroSerde

log = logging.getLogger(__name__)
OUTPUT_TOPICS = ("hedge_fills", "risk_alerts", "risk_emergency", "scores_reconciled")
INTERNAL_TOPICS = {  # topic id -> (name suffix, partitions)
    signal_contract.TOPIC_ID: ("signals", INTERNAL_PARTITIONS["signals"]),
    "score_views": ("score-views", INTERNAL_PARTITIONS["score-views"]),
}


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
    sink: Sink
    writer: OutputWriter
    intake: Intake | None = None  # the agents' topics in bulk (None under exactly-once)
    outputs: dict[str, faust.TopicT] = field(default_factory=dict)  # internal topics by id
    topic_ids: dict[str, str] = field(default_factory=dict)  # topic name -> topic id

    def input(self, *topic_ids: str) -> faust.TopicT:
        """One channel over several raw topics, as bytes: agents decode them in `decoded()`."""
        names = [self.runtime.topics.name(t) for t in topic_ids]
        return self.app.topic(*names, key_serializer="raw", value_serializer="raw")

    @property
    def decoder(self) -> Decoder:
        return self.failures.decoder

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

    def agent(
        self, channel: faust.ChannelT[Any], name: str, label: str
    ) -> Callable[[Callable[..., Any]], Any]:
        """An agent whose death ends the worker (`FailurePath.agent`), its topics given to the
        bulk intake now (`bulk.register`)."""
        register(self.intake, channel)
        return self.failures.agent(channel, name, label)

    def batches(self, stream: Any) -> AsyncIterator[list[Any]]:
        """The agent's input in batches (`processors/bulk.py`)."""
        settings = self.settings
        return batches(self.app, self.intake, stream, settings.batch_size, settings.batch_within_s)

    def state_table(self, name: str) -> StateTable:
        """A table written once per key per batch (`processors/batch.py`)."""
        return StateTable(self.table(name), self.sink)

    def runner(self, agent: str, table: StateTable | None, copy: Copy = clone) -> BatchRunner:
        """The batch mechanism (`processors/batch.py`) of `agent` over `table`, its states
        copied by `copy` (a deep copy of any JSON-able state by default)."""

        def send(encoded: Any) -> None:
            self.writer.send(agent, encoded)

        return BatchRunner(agent, self.failures, table, self.writer.encode, send, copy)

    def send(self, agent: str, outputs: list[Output]) -> None:
        """Encode and queue derived records outside a batch (no await per record)."""
        self.writer.send(agent, self.writer.encode(outputs))

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
        **faust_topic_settings(runtime.target),  # changelogs replicated like the other topics
    )
    registry = SchemaRegistryClient(runtime.registry_config())
    serde = AvroSerde(registry, runtime.topics)
    metrics = ProcessorMetrics()
    group_lag = GroupLag(runtime.target, settings.app_id)  # the app id is the consumer group
    liveness = Liveness(app, metrics, settings.stall_after_s, group_lag.read)
    sink = new_sink(app, settings, runtime)
    failures = FailurePath(
        app,
        serde.decoder,
        metrics,
        liveness,
        runtime.topics.name("processors_dlq"),
        sink,
        settings.test_fail_keys.split(","),
    )
    failures.timer(settings.lag_interval_s, during_rebalance=True)(liveness.sample)
    names = {topic_id: runtime.topics.name(topic_id) for topic_id in OUTPUT_TOPICS}
    internal = {}
    for topic_id, (suffix, partitions) in INTERNAL_TOPICS.items():
        internal[topic_id] = app.topic(  # read by agents through Faust, as JSON
            f"{settings.app_id}-{suffix}",
            partitions=partitions,
            internal=True,
            key_serializer="raw",
            value_serializer=CompactJson(),
        )
        names[topic_id] = internal[topic_id].get_topic_name()
    writer = OutputWriter(serde, names, INTERNAL_TOPICS, sink, metrics)
    pipeline = Pipeline(app, settings, runtime, metrics, registry, serde, failures, sink, writer)
    if settings.processing_guarantee != "exactly_once":  # its transactions need Faust's events
        pipeline.intake = install_intake(app)
    pipeline.topic_ids = {name: topic_id for topic_id, name in runtime.topics.names().items()}
    pipeline.outputs.update(internal)
    return pipeline


def new_sink(app: faust.App, settings: ProcessorSettings, runtime: Runtime) -> Sink:
    """One confluent-kafka producer, flushed before each of Faust's commits; Faust's own
    producer under exactly-once (its transactions must carry the outputs)."""
    if settings.processing_guarantee == "exactly_once":
        return FaustSink(app)
    sink = ConfluentSink(producer_config(runtime.target))

    async def producer_failed(exc: BaseException) -> None:
        await die_once(app, "the processors' producer", exc)

    install(app, sink, producer_failed)
    return sink


def record_time(record: dict[str, Any]) -> int:
    envelope = record.get("envelope") or {}
    return int(envelope.get("event_time") or envelope.get("received_at") or 0)
