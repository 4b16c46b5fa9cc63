"""`mmstream tail TOPIC`: decoded Avro records as JSON lines (timestamps as epoch ms, as the one
decoder gives them; a record that does not decode is printed with its error and raw bytes). A
dead letter prints its original bytes (as text when they are UTF-8) and its headers."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import click

from mmstream.cli.common import exit_codes, setup_logging


def readable(raw: bytes) -> str | bytes:
    """Original bytes as text when they are UTF-8 (a provider's JSON frame), else as they are
    (printed in base64)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)


@click.command(
    epilog=exit_codes(
        "-n records printed, --timeout idle, or Ctrl-C",
        code_2="bad setting or argument, or no such topic in the cluster",
    )
)
@click.argument("topic")
@click.option("--from-beginning/--from-end", default=True, show_default=True)
@click.option("--max-messages", "-n", type=int, default=None, help="Stop after N records.")
@click.option("--timeout", type=float, default=None, help="Stop after this many idle seconds.")
def tail(topic: str, from_beginning: bool, max_messages: int | None, timeout: float | None) -> None:
    """Print TOPIC's records (a topic name, or a pipeline topic id such as hedge_fills)."""
    setup_logging()
    from confluent_kafka import Consumer
    from confluent_kafka.schema_registry import SchemaRegistryClient

    from mmstream.core.kafka.admin import require_listening, topic_exists
    from mmstream.core.kafka.config import consumer_config
    from mmstream.core.runtime import resolve_runtime
    from mmstream.core.topics import TOPICS_BY_ID
    from schemas.decoder import DecodeError, Decoder

    runtime = resolve_runtime()
    require_listening(runtime.target)
    name = runtime.topics.name(topic) if topic in TOPICS_BY_ID else topic
    if not topic_exists(runtime.target, name):
        raise click.BadParameter(
            f"no topic {name!r} in the cluster (pipeline topic ids: {', '.join(TOPICS_BY_ID)})",
            param_hint="TOPIC",
        )
    decoder = Decoder(
        SchemaRegistryClient(runtime.registry_config()),
        {topic_name: topic_id for topic_id, topic_name in runtime.topics.names().items()},
    )
    # dead-letter topics carry other records' original bytes (Kafka Connect's way)
    original_bytes = any(
        spec.value_schema is None and runtime.topics.name(spec.id) == name
        for spec in TOPICS_BY_ID.values()
    )
    offset_reset = "earliest" if from_beginning else "latest"
    consumer = Consumer(
        consumer_config(
            runtime.target,
            f"mmstream-tail-{uuid.uuid4()}",
            **{"auto.offset.reset": offset_reset, "enable.auto.commit": False},
        )
    )
    consumer.subscribe([name])
    printed, idle_since = 0, time.monotonic()
    try:
        while max_messages is None or printed < max_messages:
            message = consumer.poll(0.2)
            if message is None or message.error():
                if timeout is not None and time.monotonic() - idle_since > timeout:
                    break
                continue
            idle_since = time.monotonic()
            raw = message.value()
            key = message.key()
            line: dict[str, Any] = {
                "topic": message.topic(),
                "partition": message.partition(),
                "offset": message.offset(),
                "key": key.decode(errors="replace") if key is not None else None,
            }
            try:
                line["value"] = decoder.decode(raw, name) if raw is not None else None
            except DecodeError as exc:
                line.update(value=None, raw=readable(raw or b""))
                if not original_bytes:  # a dead letter's value need not be Avro
                    line["error"] = f"{exc.reason}: {exc}"
            headers: Any = message.headers() or []
            if headers:
                line["headers"] = {k: (v or b"").decode(errors="replace") for k, v in headers}
            click.echo(json.dumps(line, default=json_default))
            printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
