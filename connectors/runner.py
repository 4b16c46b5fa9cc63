"""Running one connector process: settings, Kafka, metrics, signals, exit codes.

Exit codes: 0 stopped cleanly, 1 records could not be delivered, 2 configuration error,
3 the provider refused the API key (fatal: restarting would not help).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from confluent_kafka.schema_registry import SchemaRegistryClient

from connectors.backoff import Backoff
from connectors.errors import DeliveryError, FatalSessionError
from connectors.metrics import ConnectorMetrics
from connectors.mmapi import MmapiProtocol
from connectors.predexon import PredexonProtocol
from connectors.publisher import Publisher
from connectors.session import FeedProtocol, SessionLoop
from connectors.settings import FeedSettings, MmapiSettings, PredexonSettings
from connectors.sink import KafkaSink
from mmstream.errors import ConfigurationError
from mmstream.logging import register_secret
from mmstream.runtime import resolve_runtime
from mmstream.settings import load_settings
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
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise ConfigurationError(f"{key_variable} is not set")
    register_secret(settings.api_key.get_secret_value())
    return settings


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
    sink.start()
    publisher = Publisher(feed, sink, metrics)
    protocol = make_protocol(feed, settings, publisher, metrics)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    backoff = Backoff(settings.backoff_base_s, settings.backoff_cap_s)
    session = SessionLoop(protocol, metrics, backoff, stop, settings.handshake_timeout_s)
    code = EXIT_OK
    try:
        await session.run()
    except FatalSessionError as exc:
        log.error("%s connector stopped: %s", feed, exc)
        code = EXIT_FATAL
    finally:
        await protocol.close()
        try:
            await sink.flush(settings.flush_timeout_s)
            log.info("%s connector stopped; every record acknowledged", feed)
        except DeliveryError as exc:
            log.error("%s connector: %s", feed, exc)
            code = code or EXIT_DELIVERY
    return code
