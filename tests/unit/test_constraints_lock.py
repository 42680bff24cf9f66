"""constraints.txt is the lock: every install the project documents (the README's two commands, CI, the image) goes
through it, and it pins every dependency pyproject.toml names to a version that pyproject.toml allows.

Regenerate it with the command in its first lines (README, "Dependencies"); a failure here names what drifted.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "constraints.txt"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def pins() -> dict[str, str]:
    """Package name -> pinned version, from the lock's ``name==version [; marker]`` lines."""
    pinned: dict[str, str] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        parsed = Requirement(requirement)
        specifiers = list(parsed.specifier)
        assert len(specifiers) == 1, f"not an exact pin: {line!r}"
        assert specifiers[0].operator == "==", f"not an exact pin: {line!r}"
        assert not parsed.extras, f"pip refuses extras in a constraints file: {line!r}"
        pinned[canonicalize_name(parsed.name)] = specifiers[0].version
    return pinned


def declared() -> list[Requirement]:
    requirements = [Requirement(text) for text in PROJECT["dependencies"]]
    for extra in PROJECT.get("optional-dependencies", {}).values():
        requirements += [Requirement(text) for text in extra]
    return requirements


def test_every_declared_dependency_is_pinned_within_its_bounds() -> None:
    pinned = pins()
    problems = []
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        if name not in pinned:
            problems.append(f"{requirement} is not in constraints.txt")
        elif not requirement.specifier.contains(pinned[name], prereleases=True):
            problems.append(f"{requirement}: constraints.txt pins {pinned[name]}")
    assert not problems, "regenerate constraints.txt (README, Dependencies): " + "; ".join(problems)


def test_the_lock_pins_what_the_extras_pull_in() -> None:
    pinned = pins()
    # The packages behind the extras this project asks for: without them the lock would not be complete.
    for package in ("psycopg-binary", "psycopg-pool", "pycryptodome", "uvloop", "httptools"):
        assert canonicalize_name(package) in pinned, f"{package} is missing from constraints.txt"


def test_the_lock_says_how_to_regenerate_it() -> None:
    head = LOCK.read_text(encoding="utf-8").splitlines()[:3]
    assert any("uv pip compile pyproject.toml" in line and "--universal" in line for line in head), head


def test_every_documented_install_goes_through_the_lock() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    two_commands = re.findall(r"^python3 -m venv \.venv && .*$", readme, flags=re.MULTILINE)
    assert len(two_commands) >= 2, two_commands
    for command in two_commands:
        assert "-c constraints.txt" in command, command
    test_command = next(command for command in two_commands if "pytest" in command)
    assert test_command in ci, ".ci/run must run the README's test command verbatim"
    pip_runs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert pip_runs
    assert all("-c constraints.txt" in line for line in pip_runs), pip_runs
    assert re.search(r"^COPY .*constraints\.txt", dockerfile, flags=re.MULTILINE), "the image build needs the lock"
