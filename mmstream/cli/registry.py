"""`mmstream registry`: the embedded schema registry alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from mmstream.cli.common import exit_codes, setup_logging


@click.command(epilog=exit_codes("stopped (SIGTERM / Ctrl-C)"))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8081, show_default=True, type=int)
@click.option("--data-dir", default="var/registry", show_default=True, type=click.Path())
def registry(host: str, port: int, data_dir: str) -> None:
    """Serve the embedded Confluent-compatible schema registry until Ctrl-C."""
    setup_logging()
    from mmstream.registry.__main__ import serve

    click.echo(f"schema registry on http://{host}:{port} (state in {data_dir})")
    asyncio.run(serve(host, port, Path(data_dir)))
