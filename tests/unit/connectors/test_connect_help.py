"""`mmstream connect --help` tells an operator what each exit code means."""

from __future__ import annotations

from click.testing import CliRunner

from mmstream.cli.connect import connect


def test_connect_help_lists_the_exit_codes() -> None:
    result = CliRunner().invoke(connect, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for code, meaning in (
        ("0", "stopped cleanly"),
        ("1", "records could not be delivered"),
        ("2", "a bad setting"),
        ("3", "fatal: the API key was refused, or the endpoint kept answering"),
    ):
        assert f"{code} {meaning}" in text
