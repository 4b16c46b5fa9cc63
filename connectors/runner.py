"""Running one connector process: settings, Kafka, metrics, signals, exit codes.

Exit codes: 0 stopped cleanly, 1 records could not be delivered (or the recorded source offsets
could not be read), 2 configuration error, 3 fatal: the provider refused the API key, or an
endpoint kept answering a non-retriable HTTP status (a wrong URL; restarting would not help).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from confluent_kafka.schema_registry import SchemaRegistryClient
from pydantic import SecretStr

from connectors.errors import DeliveryError, FatalSessionError
from connectors.metrics import ConnectorMetrics
from connectors.mmapi import MmapiProtocol
from connectors.offsets import OffsetsUnreadable, SourceOffsets, read_positions
from connectors.predexon import PredexonProtocol
from connectors.publisher import Publisher
from connectors.session import FeedProtocol, SessionLoop
from connectors.settings import FeedSettings, MmapiSettings, PredexonSettings
from connectors.sink import KafkaSink
from mmstream.core.errors import ConfigurationError
from mmstream.core.heap import freeze_startup_heap
from mmstream.core.logging import register_secret
from mmstream.core.runtime import resolve_runtime
from mmstream.core.settings import load_settings
from schemas.serde import AvroSerde

log = logging.getLogger(__name__)
EXIT_OK, EXIT_DELIVERY, EXIT_CONFIG, EXIT_FATAL = 0, 1, 2, 3
FEEDS: dict[str, tuple[type[FeedSettings], str]] = {
    "mmapi": (MmapiSettings, "MMAPI_API_KEY"),
    "predexon": (PredexonSettings, "PREDEXON_API_KEY"),
}


def feed_settings(feed: str) -> FeedSettings:
    settings_class, key_variable = FEEDS[feed]
    settings = load_settings(settings_class)
    if isinstance(settings, PredexonSettings) and settings.key_in_url():
        settings = key_from_url(settings)
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise ConfigurationError(f"{key_variable} is not set")
    register_secret(settings.api_key.get_secret_value())
    return settings


def key_from_url(settings: PredexonSettings) -> PredexonSettings:
    """The documented `wss://…/v1/<KEY>` form of PREDEXON_WS_URL carries the key itself."""
    in_url = settings.key_in_url()
    assert in_url is not None
    register_secret(in_url)
    given = settings.api_key.get_secret_value() if settings.api_key else ""
    if given and given != in_url:
        raise ConfigurationError(
            "PREDEXON_WS_URL carries an API key that differs from PREDEXON_API_KEY"
        )
    return settings.model_copy(update={"api_key": SecretStr(in_url)})


def make_protocol(
    feed: str, settings: FeedSettings, publisher: Publisher, metrics: ConnectorMetrics
) -> FeedProtocol:
    if feed == "mmapi":
        assert isinstance(settings, MmapiSettings)
        return MmapiProtocol(settings, publisher, metrics)
    assert isinstance(settings, PredexonSettings)
    return PredexonProtocol(settings, publisher, metrics)


async def run_connector(feed: str) -> int:
    """Run the `feed` connector until SIGTERM / SIGINT; return the process exit code."""
    settings = feed_settings(feed)
    runtime = resolve_runtime()
    serde = AvroSerde(SchemaRegistryClient(runtime.registry_config()), runtime.topics)
    await asyncio.to_thread(serde.register_all)
    metrics = ConnectorMetrics(feed)
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_host)
    sink = KafkaSink(
        runtime.target,
        serde,
        runtime.topics,
        metrics,
        settings.max_in_flight,
        settings.max_message_bytes,
    )
    offsets = SourceOffsets(feed, sink, settings.offset_flush_interval_s)
    publisher = Publisher(feed, sink, metrics, offsets)
    protocol = make_protocol(feed, settings, publisher, metrics)
    if protocol.records_positions:
        try:
            positions = await asyncio.to_thread(read_positions, runtime.target, serde, feed)
        except OffsetsUnreadable as exc:
            log.error("%s connector cannot start: %s", feed, exc)
            return EXIT_DELIVERY
        protocol.restore(positions)
    sink.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    session = SessionLoop(
        protocol,
        metrics,
        settings.backoff(),
        stop,
        settings.handshake_timeout_s,
        settings.refused_attempts,
    )
    freeze_startup_heap()  # clients, schemas, converters: out of the full collections
    recorder = asyncio.create_task(offsets.run(stop))
    code = EXIT_OK
    try:
        await session.run()
    except FatalSessionError as exc:
        log.error("%s connector stopped: %s", feed, exc)
        code = EXIT_FATAL
    finally:
        stop.set()
        await recorder
        await protocol.close()
        await offsets.write_final(settings.flush_timeout_s)
        try:
            await sink.flush(settings.flush_timeout_s)
            log.info("%s connector stopped; every record acknowledged", feed)
        except DeliveryError as exc:
            log.error("%s connector: %s", feed, exc)
            code = code or EXIT_DELIVERY
    return code
