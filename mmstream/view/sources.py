"""Where the live view's figures come from: the derived topics and the processes' metrics."""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from prometheus_client.parser import text_string_to_metric_families

from mmstream.core.kafka.config import consumer_config
from mmstream.core.runtime import Runtime
from mmstream.view.model import AgentStatus, Dashboard, FeedStatus
from schemas.decoder import DecodeError, Decoder

log = logging.getLogger(__name__)
DERIVED = ("hedge_fills", "risk_alerts", "risk_emergency", "scores_reconciled")


class DerivedReader:
    """A background consumer folding the derived topics into the dashboard."""

    def __init__(self, runtime: Runtime, board: Dashboard, lock: threading.Lock) -> None:
        self.runtime = runtime
        self.board = board
        self.lock = lock
        self.stop = threading.Event()
        self.records = 0
        self.last_record_at = 0.0
        self.thread = threading.Thread(target=self._run, name="derived-reader", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)

    def _run(self) -> None:
        names = {self.runtime.topics.name(t): t for t in DERIVED}
        reset = "earliest" if self.runtime.target.embedded else "latest"
        consumer = Consumer(
            consumer_config(
                self.runtime.target,
                f"mmstream-view-{uuid.uuid4()}",
                **{"auto.offset.reset": reset, "enable.auto.commit": False},
            )
        )
        decoder = Decoder(
            SchemaRegistryClient(self.runtime.registry_config()),
            {name: topic_id for topic_id, name in self.runtime.topics.names().items()},
        )
        consumer.subscribe(list(names))
        try:
            while not self.stop.is_set():
                message = consumer.poll(0.2)
                if message is None or message.error():
                    continue
                raw, topic = message.value(), str(message.topic())
                try:
                    value = decoder.decode(raw, topic) if raw is not None else None
                except DecodeError as exc:  # not ours to dead-letter: show the rest
                    log.warning("live view: skipped %s@%s: %s", topic, message.offset(), exc)
                    continue
                key = message.key()
                with self.lock:
                    self.board.apply_record(
                        names[str(message.topic())], key.decode() if key else None, value
                    )
                self.records += 1
                self.last_record_at = time.monotonic()
        except Exception:
            log.exception("the live view's topic reader stopped")
        finally:
            consumer.close()


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]] | None:
    """Samples by metric name from a Prometheus endpoint, or None if it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    return parse_samples(text)


def parse_samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by metric name from Prometheus text exposition."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append((sample.labels, sample.value))
    return samples


def total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    return sum(value for _, value in samples.get(name, []))


def update_feed(status: FeedStatus, url: str, elapsed_s: float) -> None:
    samples = scrape(url)
    status.reachable = samples is not None
    if samples is None:
        status.state = "down"
        return
    received = total(samples, "mmstream_connector_messages_received_total")
    if elapsed_s > 0:
        status.messages_per_s = max(0.0, received - status.messages_total) / elapsed_s
    status.messages_total = received
    status.dlq_total = total(samples, "mmstream_connector_dlq_total")
    status.reconnects = total(samples, "mmstream_connector_reconnects_total")
    ages = [
        v
        for labels, v in samples.get("mmstream_connector_last_message_age_seconds", [])
        if labels.get("channel") not in ("pong", "heartbeat", "ack", "connected")
    ]
    status.last_message_age_s = min(ages) if ages else None
    states = [
        labels["state"]
        for labels, v in samples.get("mmstream_connector_session_state", [])
        if v == 1
    ]
    status.state = states[0] if states else "unknown"


def update_agents(board: Dashboard, url: str) -> None:
    samples = scrape(url)
    if samples is not None:
        apply_agent_samples(board, samples, time.time())


def apply_agent_samples(
    board: Dashboard, samples: dict[str, list[tuple[dict[str, str], float]]], now: float
) -> None:
    """Fold a worker's metrics into the Agents table."""
    records_in: dict[str, float] = defaultdict(float)
    records_out: dict[str, float] = defaultdict(float)
    for labels, value in samples.get("mmstream_processor_records_in_total", []):
        records_in[labels["agent"]] += value
    for labels, value in samples.get("mmstream_processor_records_out_total", []):
        records_out[labels["agent"]] += value
    lags = by_agent(samples, "mmstream_processor_lag")
    last = by_agent(samples, "mmstream_processor_last_processed_timestamp_seconds")
    stalled = by_agent(samples, "mmstream_processor_agent_stalled")
    dead_letters: dict[str, float] = defaultdict(float)
    for labels, value in samples.get("mmstream_processor_dead_letters_total", []):
        dead_letters[labels["agent"]] += value
    for agent in sorted(set(records_in) | set(records_out) | set(lags)):
        status = board.agents.setdefault(agent, AgentStatus(agent))
        status.records_in = records_in.get(agent, 0.0)
        status.records_out = records_out.get(agent, 0.0)
        status.lag = lags.get(agent)
        status.last_processed_age_s = now - last[agent] if last.get(agent) else None
        status.stalled = bool(stalled.get(agent))
        status.dead_letters = dead_letters.get(agent, 0.0)


def by_agent(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> dict[str, float]:
    return {labels["agent"]: value for labels, value in samples.get(name, []) if "agent" in labels}
