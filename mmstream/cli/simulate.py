"""`mmstream simulate`: both feed simulators, with their URLs, keys and mapping file printed."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mmstream.cli.common import exit_codes, setup_logging

if TYPE_CHECKING:
    from mmstream.simulators import FaultConfig


@click.command(epilog=exit_codes("stopped, or the scenario was sent (--exit-when-done)"))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=50.0,
    show_default=True,
    help="Messages per second.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    help="Scenario length (s); 0 = no end (generated as it plays; no ground truth file).",
)
@click.option("--mmapi-port", default=0, type=int, help="0 = a free port.")
@click.option("--predexon-port", default=0, type=int, help="0 = a free port.")
@click.option("--out-dir", default="var/simulators", show_default=True, type=click.Path())
@click.option("--info-file", type=click.Path(), help="Also write the printed JSON here.")
@click.option(
    "--live-clock/--fixed-clock",
    default=True,
    show_default=True,
    help="Stamp messages with wall-clock times, or a fixed anchor (repeatable).",
)
@click.option("--exit-when-done", is_flag=True, help="Stop when the scenario has been sent.")
@click.option(
    "--play-when-subscribed",
    is_flag=True,
    help="Start the scenario once both feeds have a subscriber (not at once).",
)
@click.option("--heartbeat-interval", default=60.0, show_default=True, type=float)
@click.option(
    "--faults",
    "faults_json",
    default=None,
    help='Fault switches as JSON, e.g. \'{"duplicate_p": 0.01, "restarts": 1}\'.',
)
def simulate(
    seed: int,
    rate: float,
    duration: float,
    mmapi_port: int,
    predexon_port: int,
    out_dir: str,
    info_file: str | None,
    live_clock: bool,
    exit_when_done: bool,
    play_when_subscribed: bool,
    heartbeat_interval: float,
    faults_json: str | None,
) -> None:
    """Run the MM API and Predexon simulators on 127.0.0.1 until Ctrl-C."""
    setup_logging()
    from mmstream.core.heap import freeze_startup_heap
    from mmstream.simulators import FaultConfig, ScenarioConfig, run_simulators

    faults = parse_faults(faults_json) if faults_json else FaultConfig()
    config = ScenarioConfig(
        seed=seed,
        rate=rate,
        duration_s=duration or None,
        start_ms=None if live_clock else ScenarioConfig().start_ms,
        faults=faults,
        heartbeat_interval_s=heartbeat_interval,
    )

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with run_simulators(
            config, Path(out_dir), mmapi_port, predexon_port, autoplay=not play_when_subscribed
        ) as sims:
            freeze_startup_heap()  # servers and scenario state: out of the full collections
            player = (
                asyncio.create_task(sims.play_when_subscribed()) if play_when_subscribed else None
            )
            info = sims.info()
            text = json.dumps(info, indent=2)
            click.echo(text)
            if info_file:
                partial = Path(info_file).with_suffix(".tmp")
                partial.write_text(text)
                partial.replace(info_file)
            finished = asyncio.create_task(sims.wait_finished())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({finished, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if finished.done():
                click.echo(
                    json.dumps({"finished": True, "sent": sims.sent, "faults": dict(sims.counters)})
                )
                if info_file:
                    Path(info_file).with_suffix(".done").write_text(str(sims.sent))
                if not exit_when_done:
                    await stopped
            finished.cancel()
            stopped.cancel()
            if player is not None:
                player.cancel()

    asyncio.run(serve())


def parse_faults(text: str) -> FaultConfig:
    """`--faults` JSON into a FaultConfig; anything else is a bad argument (exit 2)."""
    from mmstream.simulators import FaultConfig

    try:
        return FaultConfig(**json.loads(text))
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None
