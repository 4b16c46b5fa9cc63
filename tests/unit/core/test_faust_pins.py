"""The Faust fixes copy code of exact faust-streaming / aiokafka versions: the pin is the same in
faust_fixes.PINNED, constraints.txt (what `make` installs with) and pyproject.toml, and a worker
started with any other version stops at start-up with exit 2 naming the package."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata  # what faust_fixes asks for versions
from pathlib import Path

import pytest

from mmstream.core.errors import ConfigurationError
from mmstream.core.kafka import faust_fixes

ROOT = Path(__file__).resolve().parents[3]


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)==([0-9][^\s#;]*)\s*(#.*)?", line)
        if match:
            found[match[1]] = match[2]
    return found


def test_the_pin_is_the_same_in_the_code_the_constraints_and_pyproject() -> None:
    constraints = pins((ROOT / "constraints.txt").read_text().splitlines())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert constraints == faust_fixes.PINNED
    assert {k: v for k, v in pins(project["dependencies"]).items() if k in constraints} == (
        faust_fixes.PINNED
    )
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()


def test_the_installed_versions_are_the_pinned_ones() -> None:
    faust_fixes.check_pinned_versions()


def test_another_version_is_refused_naming_package_and_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = metadata.version
    monkeypatch.setattr(
        metadata,
        "version",
        lambda name: "0.16.0" if name == "faust-streaming" else real(name),
    )
    with pytest.raises(ConfigurationError) as raised:
        faust_fixes.check_pinned_versions()
    message = str(raised.value)
    assert "faust-streaming 0.16.0 is installed" in message and "need 0.15.3" in message
    assert "aiokafka" not in message.split(";")[0]


def test_a_worker_with_another_version_exits_2_at_start_up(tmp_path: Path) -> None:
    script = (
        "import sys, importlib.metadata as m\n"
        "real = m.version\n"
        "m.version = lambda n: '0.13.0' if n == 'aiokafka' else real(n)\n"
        "sys.argv = ['mmstream', 'process']\n"
        "from mmstream.cli.main import main\n"
        "main()\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "MMSTREAM_BOOTSTRAP_SERVERS": "127.0.0.1:1",  # never reached: the check comes first
        "MMSTREAM_SCHEMA_REGISTRY_URL": "http://127.0.0.1:1",
        "MMSTREAM_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "aiokafka 0.13.0 is installed, the Faust fixes need 0.14.0" in done.stderr
