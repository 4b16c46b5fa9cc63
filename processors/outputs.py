"""The agents' derived records, encoded and queued on the sink.

Pipeline topics in the Confluent wire format through fastavro (`schemas.encoder`, the schema id
looked up once per topic), the internal topics (`score-views`, `signals`) as compact JSON. The
emergency agent's signals of one batch travel as one record: each record costs a send and a
receive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from processors import signals as signal_contract
from processors.codec import compact_json
from processors.common import Output
from processors.metrics import ProcessorMetrics
from processors.sink import Sink
from schemas.serde import AvroSerde, SerdeError


@dataclass
class Encoded:
    """Records ready to produce (topic id, topic name, key, value) and signals not yet batched
    (counted per topic id when sent: one count per batch, not per key)."""

    records: list[tuple[str, str, bytes, bytes]] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)

    def __iadd__(self, other: Encoded) -> Encoded:
        self.records += other.records
        self.signals += other.signals
        return self


class OutputWriter:
    def __init__(
        self,
        serde: AvroSerde,
        names: dict[str, str],
        internal: Iterable[str],
        sink: Sink,
        metrics: ProcessorMetrics,
    ) -> None:
        """`names`: topic id -> topic name of every output; `internal`: the JSON ones."""
        self.serde = serde
        self.names = names
        self.internal = set(internal)
        self.sink = sink
        self.metrics = metrics

    def encode(self, outputs: list[Output]) -> Encoded:
        """Raises `SerdeError` for a value its topic's schema does not take."""
        encoded = Encoded()
        for output in outputs:
            topic_id = output.topic_id
            if topic_id == signal_contract.TOPIC_ID:
                encoded.signals.append(output.value)
                continue
            if topic_id in self.internal:
                value = compact_json(output.value)
            else:
                try:
                    value = self.serde.encoder(topic_id).encode(output.value)
                except Exception as exc:
                    raise SerdeError(f"cannot encode a {topic_id} record: {exc}") from exc
            encoded.records.append((topic_id, self.names[topic_id], output.key.encode(), value))
        return encoded

    def send(self, agent: str, encoded: Encoded) -> None:
        """Queue the records (no await), then serve delivery reports."""
        produce = self.sink.produce
        for _, topic, key, value in encoded.records:
            produce(topic, key, value)
        counts = Counter(record[0] for record in encoded.records)
        if encoded.signals:
            batch = compact_json(signal_contract.batch(encoded.signals))
            produce(self.names[signal_contract.TOPIC_ID], b"emergency", batch)
            counts[signal_contract.TOPIC_ID] += len(encoded.signals)
        for topic_id, count in counts.items():
            self.metrics.records_out.labels(agent, topic_id).inc(count)
        self.sink.poll()
