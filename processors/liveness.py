"""Lag and liveness of a worker's agents, as metrics.

- `mmstream_processor_consumer_lag{topic,partition}`: end offset (the consumer's highwater from
  its last fetch) minus committed offset, for every assigned input partition of an agent —
  Kafka's own definition of consumer lag, as `kafka-consumer-groups --describe` shows it.
- `mmstream_processor_lag{agent}`: the sum over the agent's input partitions.
- `mmstream_processor_last_processed_timestamp_seconds{agent}`: when the agent last finished a
  batch (epoch seconds).
- `mmstream_processor_agent_stalled{agent}`: 1 while the agent has lag and has processed
  nothing for `stall_after_s` (since the worker started, if it never processed).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

import faust

from processors.metrics import ProcessorMetrics

log = logging.getLogger(__name__)


class Liveness:
    def __init__(self, app: faust.App, metrics: ProcessorMetrics, stall_after_s: float) -> None:
        self.app = app
        self.metrics = metrics
        self.stall_after_s = stall_after_s
        self.inputs: dict[str, set[str]] = defaultdict(set)  # agent -> input topic names
        self.last: dict[str, float] = {}
        self.started = time.time()
        self.stalled: set[str] = set()
        self._partitions: set[tuple[str, int]] = set()

    def follow(self, agent: str, channel: Any) -> None:
        """Count `channel`'s topics as inputs of `agent`."""
        self.inputs[agent].update(getattr(channel, "topics", ()))
        self.metrics.stalled.labels(agent).set(0)

    def processed(self, agent: str) -> None:
        now = time.time()
        self.last[agent] = now
        self.metrics.last_processed.labels(agent).set(now)

    def partition_lags(self) -> dict[tuple[str, int], int]:
        """Lag of every assigned input partition whose end offset is known."""
        consumer = self.app.consumer
        followed = set().union(*self.inputs.values()) if self.inputs else set()
        committed_offsets = consumer._committed_offset  # type: ignore[attr-defined]  # no accessor
        lags: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            if tp.topic not in followed:
                continue
            end = consumer.highwater(tp)
            if end is None:
                continue
            committed = committed_offsets.get(tp) or 0
            lags[(tp.topic, tp.partition)] = max(0, int(end) - int(committed))
        return lags

    async def sample(self) -> None:
        """Publish the lag metrics and the stalled flags (a timer of the worker)."""
        lags = self.partition_lags()
        for topic, partition in self._partitions - set(lags):
            self.metrics.consumer_lag.remove(topic, str(partition))
        self._partitions = set(lags)
        for (topic, partition), lag in lags.items():
            self.metrics.consumer_lag.labels(topic, str(partition)).set(lag)
        now = time.time()
        for agent, topics in self.inputs.items():
            lag = sum(v for (topic, _), v in lags.items() if topic in topics)
            self.metrics.lag.labels(agent).set(lag)
            idle_s = now - self.last.get(agent, self.started)
            stalled = lag > 0 and idle_s > self.stall_after_s
            self.metrics.stalled.labels(agent).set(int(stalled))
            if stalled and agent not in self.stalled:
                log.warning(
                    "agent %s is stalled: %d records waiting, nothing processed for %.0fs",
                    agent,
                    lag,
                    idle_s,
                )
            elif not stalled and agent in self.stalled:
                log.info("agent %s is processing again", agent)
            (self.stalled.add if stalled else self.stalled.discard)(agent)
