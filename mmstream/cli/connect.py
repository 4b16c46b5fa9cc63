"""`mmstream connect mmapi|predexon`: run one source connector until SIGTERM / Ctrl-C."""

from __future__ import annotations

import asyncio
import sys

import click

from mmstream.cli.common import override_env, setup_logging


@click.command()
@click.argument("feed", type=click.Choice(["mmapi", "predexon"]))
@click.option("--ws-url", help="WebSocket URL (MMAPI_WS_URL / PREDEXON_WS_URL).")
@click.option("--rest-url", help="REST base URL (MMAPI_REST_URL / PREDEXON_REST_URL).")
@click.option("--channels", help="MM API channels, comma-separated (MMAPI_CHANNELS).")
@click.option("--game-ids", help="Predexon game ids, comma-separated; * = all.")
@click.option("--leagues", help="Predexon leagues, comma-separated.")
@click.option("--sports", help="Predexon sports, comma-separated.")
@click.option("--metrics-port", type=int, help="Prometheus port (0 = none).")
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

    \b
    Exit codes:
      0  stopped cleanly (SIGTERM / Ctrl-C), every record acknowledged
      1  records could not be delivered, or connectors.offsets could not be read
      2  a bad setting (the message names it)
      3  fatal: the API key was refused, or the endpoint kept answering a
         non-retriable HTTP status such as 404 (the message names the URL setting)
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
