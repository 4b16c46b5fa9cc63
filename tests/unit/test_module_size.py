"""No module of the packages is over 400 lines (a module with one job stays small)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mmstream", "connectors", "processors", "schemas")
MAX_LINES = 400


def oversized(root: Path, packages: tuple[str, ...], limit: int) -> list[str]:
    """`path: N lines` for every module under `packages` of `root` longer than `limit`."""
    found = []
    for package in packages:
        for module in sorted((root / package).rglob("*.py")):
            lines = len(module.read_text(encoding="utf-8").splitlines())
            if lines > limit:
                found.append(f"{module.relative_to(root)}: {lines} lines")
    return found


def test_no_module_of_the_packages_is_over_400_lines() -> None:
    assert sorted(p.name for p in ROOT.iterdir() if p.name in PACKAGES) == sorted(PACKAGES)
    assert oversized(ROOT, PACKAGES, MAX_LINES) == []


def test_the_check_names_an_oversized_module(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "small.py").write_text("x = 1\n" * MAX_LINES)
    (tmp_path / "pkg" / "sub" / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    assert oversized(tmp_path, ("pkg",), MAX_LINES) == ["pkg/sub/big.py: 401 lines"]
