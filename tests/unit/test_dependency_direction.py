"""The architecture is the dependency direction.

Between the top-level packages: ``events`` <- ``projections`` <- ``service`` (a call router imports ``events`` and
``projections`` without the service). Inside ``service``, the parts follow the data: ``write`` imports no other part;
``read`` only ``write``; ``publish`` and ``audit`` only ``read`` and ``write``; ``http`` those four (the live stream
takes its message bodies from ``publish``); ``console`` (web pages over the API) ``http`` and below; nothing below the
wiring imports ``http`` or ``console``; and only the wiring (``service/*.py``) imports the wiring.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("write", "read", "publish", "audit", "http", "console")
ALLOWED: dict[str, set[str]] = {
    "write": set(),
    "read": {"write"},
    "publish": {"read", "write"},
    "audit": {"read", "write"},
    "http": {"write", "read", "publish", "audit", "wiring"},
    "console": {"http", "audit", "read", "write"},
}
"""What each part of ``service`` may import of the others (itself always); ``wiring``: ``service/*.py``."""


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute imports, at any depth of the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            if node.module == "service":  # from service import metrics
                names.update(f"service.{alias.name}" for alias in node.names)
    return names


def imported_top_level_packages(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported_modules(path)}


def part_of(module: str) -> str | None:
    """The part of ``service`` a module belongs to (``wiring`` for ``service.<module>``); ``None`` outside it."""
    pieces = module.split(".")
    if pieces[0] != "service" or len(pieces) == 1:
        return None
    return pieces[1] if pieces[1] in PARTS else "wiring"


def wrong_way_imports(path: Path, part: str) -> list[str]:
    allowed = ALLOWED[part] | {part}
    return sorted(
        module for module in imported_modules(path) if (target := part_of(module)) is not None and target not in allowed
    )


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


@pytest.mark.parametrize("part", PARTS)
def test_each_part_of_the_service_imports_only_the_parts_below_it(part: str) -> None:
    modules = modules_of(f"service/{part}")
    assert modules, f"no modules found in service/{part}/"
    offenders = {str(path.relative_to(ROOT)): wrong_way_imports(path, part) for path in modules}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_every_part_says_what_it_owns_and_what_it_may_import() -> None:
    for part in PARTS:
        doc = ast.get_docstring(ast.parse((ROOT / "service" / part / "__init__.py").read_text(encoding="utf-8")))
        assert doc, f"service/{part}/__init__.py has no docstring"
        assert "Owns" in doc, part
        assert "Imports" in doc, part


def test_the_wiring_holds_only_the_wiring() -> None:
    top = {path.name for path in (ROOT / "service").glob("*.py")}
    assert top == {"__init__.py", "app.py", "container.py", "settings.py", "cli.py", "logs.py", "metrics.py"}


def test_relative_imports_cannot_escape_their_package() -> None:
    for package in ("events", "projections", "service"):
        for path in modules_of(package):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            depths = [node.level for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
            assert all(level <= 1 for level in depths), f"{path.relative_to(ROOT)} reaches outside its package"


def test_the_import_check_would_see_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "sneaky.py"
    module.write_text("import os\nfrom service.write import errors\n\ndef f():\n    import service.write.rules\n")
    assert imported_top_level_packages(module) == {"os", "service"}


@pytest.mark.parametrize(
    ("part", "source", "caught"),
    [
        ("write", "from service.read.queries import list_endpoints\n", ["service.read.queries"]),
        ("write", "def f():\n    from service import settings\n", ["service.settings"]),
        ("read", "from service.http.schemas import EndpointOut\n", ["service.http.schemas"]),
        ("publish", "import service.audit.history\n", ["service.audit.history"]),
        ("audit", "from service.container import Container\n", ["service.container"]),
        ("read", "from service.write.log import batches\n", []),
        ("http", "from service.audit.history import list_events\n", []),
    ],
)
def test_the_part_check_sees_a_wrong_way_import_and_lets_a_right_one_pass(
    tmp_path: Path, part: str, source: str, caught: list[str]
) -> None:
    module = tmp_path / "module.py"
    module.write_text(source)
    assert wrong_way_imports(module, part) == caught
