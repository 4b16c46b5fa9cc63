"""Lag and liveness of a worker's agents, as metrics.

- `mmstream_processor_consumer_lag{topic,partition}`: end offset minus the group's committed
  offset, both read from the broker (`mmstream.core.kafka.group_lag`), for every assigned input
  partition of an agent — Kafka's own definition of consumer lag, as
  `kafka-consumer-groups --describe` shows it. (The consumer's own highwater trails: it is the
  end of its last fetch of the partition, none while a backlog waits in the worker or while the
  tables recover.)
- `mmstream_processor_lag{agent}`: the sum over the agent's input partitions.
- `mmstream_processor_lag_sampled_timestamp_seconds`: when those figures were read (epoch
  seconds, taken before the read); while the broker does not answer they keep their last
  values, and this tells how old they are.
- `mmstream_processor_last_processed_timestamp_seconds{agent}`: when the agent last finished a
  batch (epoch seconds).
- `mmstream_processor_agent_stalled{agent}`: 1 while the agent has lag and has processed
  nothing for `stall_after_s` (since the worker started, if it never processed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import faust
from confluent_kafka import KafkaException

from mmstream.core.kafka.group_lag import Partition
from processors.metrics import ProcessorMetrics

log = logging.getLogger(__name__)


LagReader = Callable[[Iterable[Partition]], dict[Partition, int]]  # `GroupLag.read`


class Liveness:
    def __init__(
        self,
        app: faust.App,
        metrics: ProcessorMetrics,
        stall_after_s: float,
        read_lags: LagReader,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.stall_after_s = stall_after_s
        self.read_lags = read_lags
        self.inputs: dict[str, set[str]] = defaultdict(set)  # agent -> input topic names
        self.last: dict[str, float] = {}
        self.started = time.time()
        self.stalled: set[str] = set()
        self._partitions: set[Partition] = set()
        self.read_failing = False

    def follow(self, agent: str, channel: Any) -> None:
        """Count `channel`'s topics as inputs of `agent`."""
        self.inputs[agent].update(getattr(channel, "topics", ()))
        self.metrics.stalled.labels(agent).set(0)

    def processed(self, agent: str) -> None:
        now = time.time()
        self.last[agent] = now
        self.metrics.last_processed.labels(agent).set(now)

    def assigned_inputs(self) -> list[Partition]:
        """The worker's assigned partitions of its agents' input topics."""
        followed = set().union(*self.inputs.values()) if self.inputs else set()
        assignment = self.app.consumer.assignment()
        return [Partition(tp.topic, tp.partition) for tp in assignment if tp.topic in followed]

    async def sample(self) -> None:
        """Publish the lag metrics and the stalled flags (a timer of the worker)."""
        sampled_at = time.time()
        try:
            lags = await asyncio.to_thread(self.read_lags, self.assigned_inputs())
        except (KafkaException, TimeoutError, RuntimeError) as exc:  # Runtime: Tansu's ends
            if not self.read_failing:
                log.warning("consumer lag not read from the broker (figures kept): %s", exc)
            self.read_failing = True
            return
        if self.read_failing:
            log.info("consumer lag read from the broker again")
        self.read_failing = False
        for topic, partition in self._partitions - set(lags):
            self.metrics.consumer_lag.remove(topic, str(partition))
        self._partitions = set(lags)
        for (topic, partition), lag in lags.items():
            self.metrics.consumer_lag.labels(topic, str(partition)).set(lag)
        self.metrics.lag_sampled.set(sampled_at)
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
