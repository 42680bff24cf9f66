"""The architecture is the dependency direction: ``events`` <- ``projections`` <- ``service``.

A call router imports ``events`` and ``projections`` without the service, so neither may import it, and events
may not import the read models built on them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_top_level_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def modules_of(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("events", {"service", "projections"}), ("projections", {"service"})],
)
def test_lower_layers_never_import_higher_ones(package: str, forbidden: set[str]) -> None:
    modules = modules_of(package)
    assert modules, f"no modules found in {package}/"
    offenders = {str(path.relative_to(ROOT)): sorted(imported_top_level_packages(path) & forbidden) for path in modules}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_relative_imports_cannot_escape_their_package() -> None:
    for package in ("events", "projections"):
        for path in modules_of(package):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            depths = [node.level for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
            assert all(level <= 1 for level in depths), f"{path.relative_to(ROOT)} reaches outside its package"


def test_the_import_check_would_see_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "sneaky.py"
    module.write_text("import os\nfrom service.write import Actor\n\ndef f():\n    import service.write.rules\n")
    assert imported_top_level_packages(module) == {"os", "service"}
