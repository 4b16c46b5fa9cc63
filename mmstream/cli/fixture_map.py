"""`mmstream fixtures load FILE`: the fixtureId ↔ game_id map into `reference.fixture_map`."""

from __future__ import annotations

import click

from mmstream.cli.common import exit_codes, setup_logging


@click.group(epilog=exit_codes())
def fixtures() -> None:
    """Manage the fixtureId <-> game_id map (compacted topic reference.fixture_map)."""


@fixtures.command(
    "load", epilog=exit_codes("every mapping written", code_2="bad setting, or a bad row in FILE")
)
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def load(path: str) -> None:
    """Load a CSV (header fixtureId,game_id[,league,sport,title]) or JSON list of mappings."""
    setup_logging()
    from mmstream.cli.fixture_map_loader import load_fixture_file, publish_mappings
    from mmstream.core.kafka.admin import require_listening
    from mmstream.core.runtime import resolve_runtime

    mappings = load_fixture_file(path)
    runtime = resolve_runtime()
    require_listening(runtime.target)
    count = publish_mappings(mappings, source=path, runtime=runtime)
    click.echo(f"loaded {count} fixture mapping(s) from {path}")
