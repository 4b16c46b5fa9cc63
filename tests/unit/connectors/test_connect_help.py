"""`mmstream connect --help` says what codes 1 and 3 mean for a connector (the general listing
of every command's exit codes is checked in tests/integration/cli)."""

from __future__ import annotations

from click.testing import CliRunner

from mmstream.cli.connect import connect


def test_connect_help_names_the_offsets_and_refused_endpoint_exit_codes() -> None:
    result = CliRunner().invoke(connect, ["--help"])
    assert result.exit_code == 0
    codes = " ".join(result.output.split("Exit codes:", 1)[1].split())
    assert "1 records could not be delivered" in codes and "connectors.offsets" in codes
    assert "3 fatal: the provider refused the API key, or an endpoint kept answering" in codes
    assert "404" in codes
