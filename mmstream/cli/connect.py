"""`mmstream connect mmapi|predexon`: run one source connector until SIGTERM / Ctrl-C."""

from __future__ import annotations

import asyncio
import sys

import click

from mmstream.cli.common import exit_codes, override_env, setup_logging


@click.command(
    epilog=exit_codes(
        "stopped cleanly (SIGTERM / Ctrl-C), every record acknowledged by Kafka",
        code_1="records could not be delivered to Kafka before the flush deadline, or "
        "connectors.offsets could not be read at start-up",
        code_3="fatal: the provider refused the API key, or an endpoint kept answering a "
        "non-retriable HTTP status such as 404 (the message names the URL setting)",
    )
)
@click.argument("feed", type=click.Choice(["mmapi", "predexon"]))
@click.option("--ws-url", help="WebSocket URL (MMAPI_WS_URL / PREDEXON_WS_URL).")
@click.option("--rest-url", help="REST base URL (MMAPI_REST_URL / PREDEXON_REST_URL).")
@click.option("--channels", help="MM API channels, comma-separated (MMAPI_CHANNELS).")
@click.option("--game-ids", help="Predexon game ids, comma-separated; * = all.")
@click.option("--leagues", help="Predexon leagues, comma-separated.")
@click.option("--sports", help="Predexon sports, comma-separated.")
@click.option("--metrics-port", type=int, help="Port of /metrics, /healthz, /readyz (0 = none).")
def connect(
    feed: str,
    ws_url: str | None,
    rest_url: str | None,
    channels: str | None,
    game_ids: str | None,
    leagues: str | None,
    sports: str | None,
    metrics_port: int | None,
) -> None:
    """Run a source connector. The API key comes from MMAPI_API_KEY / PREDEXON_API_KEY
    (environment or .env), never from the command line.

    A restarted connector gap-fills from the position its last process recorded in
    connectors.offsets.
    """
    setup_logging()
    prefix = "MMAPI_" if feed == "mmapi" else "PREDEXON_"
    override_env(prefix, ws_url=ws_url, rest_url=rest_url, metrics_port=metrics_port)
    if feed == "mmapi":
        override_env(prefix, channels=channels)
    else:
        override_env(prefix, game_ids=game_ids, leagues=leagues, sports=sports)
    from connectors.runner import run_connector

    sys.exit(asyncio.run(run_connector(feed)))
