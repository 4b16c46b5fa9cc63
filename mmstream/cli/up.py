"""`mmstream up`: run the whole pipeline (the README's main command)."""

from __future__ import annotations

import asyncio
import sys

import click

from mmstream.cli.common import exit_codes, override_env, setup_logging


@click.command(
    epilog=exit_codes(
        "stopped cleanly (Ctrl-C, SIGTERM, --duration or --exit-when-done)",
        code_1="a child process failed or exited non-zero (its log is in <data dir>/logs/)",
    )
)
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=50.0,
    show_default=True,
    help="Simulated messages per second.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Simulated scenario seed.")
@click.option(
    "--view/--no-view",
    "live_view",
    default=None,
    help="Live terminal view (default: when stdout is a terminal).",
)
@click.option(
    "--summary-interval",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between summary lines without the live view.",
)
@click.option(
    "--broker",
    type=click.Choice(["tansu", "kafka"]),
    default=None,
    help="Embedded broker (default: MMSTREAM_EMBEDDED_BROKER, else tansu). kafka = a local "
    "Apache Kafka node: needs Java 17+ and `make kafka`.",
)
@click.option(
    "--exit-when-done",
    is_flag=True,
    help="Stop once the simulated scenario is sent, its outputs have settled, and the broker "
    "shows the worker group committed every record its agents read.",
)
@click.option(
    "--drain-limit",
    type=click.FloatRange(min=0),
    default=None,
    help="With --exit-when-done: seconds after the scenario's end (and the settle time) to "
    'wait for the worker to catch up before stopping anyway ("duration reached"); '
    "default 120.",
)
def up(
    duration: float | None,
    rate: float,
    seed: int,
    live_view: bool | None,
    summary_interval: float,
    exit_when_done: bool,
    drain_limit: float | None,
    broker: str | None,
) -> None:
    """Start the embedded broker and registry (unless MMSTREAM_BOOTSTRAP_SERVERS is set), the
    simulators (unless MMAPI_API_KEY / PREDEXON_API_KEY are set), both connectors and a worker."""
    if exit_when_done and duration is None:
        # without --duration the scenario has no end: nothing would ever be done
        raise click.UsageError("--exit-when-done needs --duration (the scenario's length)")
    override_env("MMSTREAM_", embedded_broker=broker)
    settings = setup_logging()
    from mmstream.core.settings import writable_dir
    from mmstream.pipeline.orchestrator import Orchestrator, UpOptions

    writable_dir(settings.data_dir, "MMSTREAM_DATA_DIR")

    options = UpOptions(
        data_dir=settings.data_dir,
        broker=settings.embedded_broker,
        seed=seed,
        rate=rate,
        duration_s=duration,
        live_view=sys.stdout.isatty() if live_view is None else live_view,
        summary_interval_s=summary_interval,
        exit_when_done=exit_when_done,
        **({} if drain_limit is None else {"drain_limit_s": drain_limit}),
    )
    sys.exit(asyncio.run(Orchestrator(options).run()))
