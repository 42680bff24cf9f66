"""The deployment files: compose.yaml runs the whole stack, the Dockerfile builds an image that runs well in it.

Both are only read here (YAML and text): no Docker is needed. Each test names what would break in a real
``docker compose up`` if it failed.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from service.settings import KNOWN_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "telephony-settings"
PORT = 8000


# -- compose.yaml ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    assert isinstance(document.get("services"), dict)
    return document


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    assert name in compose["services"], f"compose.yaml has no service {name!r}"
    return compose["services"][name]


def words(value: str | list[str] | None) -> list[str]:
    """A command, an entrypoint or a healthcheck test as a list of words, whichever syntax it is written in."""
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(word) for word in value]


def environment(spec: dict[str, Any]) -> dict[str, str]:
    """``environment:`` as a mapping, written either as a mapping or as a list of ``NAME=value``."""
    env = spec.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def named_volumes(spec: dict[str, Any]) -> dict[str, str]:
    """The named volumes a service mounts (name -> path in the container); bind mounts and tmpfs left out."""
    mounted = {}
    for volume in spec.get("volumes") or []:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
            if rest and not source.startswith(("/", ".", "~", "$")):
                mounted[source] = target
        elif volume.get("type", "volume") == "volume" and volume.get("source"):
            mounted[volume["source"]] = volume["target"]
    return mounted


def assert_healthcheck(spec: dict[str, Any]) -> list[str]:
    """The service has a healthcheck that is not disabled; its test command as words."""
    check = spec.get("healthcheck")
    assert check, "no healthcheck: services that depend on it cannot wait for it to be ready"
    assert not check.get("disable")
    test = words(check.get("test"))
    assert test
    assert test[0] != "NONE"
    return test


def option_value(command: list[str], *names: str) -> str | None:
    """The value of a command-line option written ``-o value``, ``--option value`` or ``--option=value``."""
    for index, word in enumerate(command):
        if word in names and index + 1 < len(command):
            return command[index + 1]
        for name in names:
            if word.startswith(f"{name}="):
                return word.split("=", 1)[1]
    return None


def test_nats_runs_jetstream_with_its_store_on_a_named_volume_and_a_healthcheck(compose: dict[str, Any]) -> None:
    nats = service(compose, "nats")
    command = words(nats.get("command"))
    assert {"-js", "--jetstream"} & set(command), f"JetStream is not enabled: {command}"

    volumes = named_volumes(nats)
    assert volumes, "the JetStream store would be lost with the container"
    store_dir = option_value(command, "-sd", "--store_dir")
    assert store_dir, "without -sd the store is in the container's own file system, not on the volume"
    assert any(PurePosixPath(store_dir).is_relative_to(target) for target in volumes.values()), (store_dir, volumes)

    test = assert_healthcheck(nats)
    # A check over the monitoring port needs the monitoring port turned on.
    for port in re.findall(r"(?:localhost|127\.0\.0\.1):(\d+)", " ".join(test)):
        assert option_value(command, "-m", "--http_port") == port, f"the healthcheck polls :{port}, not monitored"


def test_postgres_keeps_its_data_on_a_named_volume_and_has_a_healthcheck(compose: dict[str, Any]) -> None:
    postgres = service(compose, "postgres")
    data_dir = environment(postgres).get("PGDATA", "/var/lib/postgresql/data")
    volumes = named_volumes(postgres)
    assert any(PurePosixPath(data_dir).is_relative_to(target) for target in volumes.values()), (
        f"the database files ({data_dir}) are not on a named volume: {volumes}"
    )
    assert_healthcheck(postgres)


def test_the_service_is_built_here_and_published_on_port_8000(compose: dict[str, Any]) -> None:
    spec = service(compose, SERVICE)
    assert spec.get("build") == ".", "the service must be built from this folder's Dockerfile"

    published = []
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            if port.get("published") is not None:
                published.append(int(port["target"]))
        else:
            parts = str(port).split("/")[0].split(":")
            if len(parts) >= 2:  # "8000" alone would publish on a random host port
                published.append(int(parts[-1]))
    assert PORT in published, spec.get("ports")


def test_the_service_starts_once_nats_and_postgres_are_healthy(compose: dict[str, Any]) -> None:
    depends_on = service(compose, SERVICE).get("depends_on")
    assert isinstance(depends_on, dict), "the list form of depends_on waits only for the containers to start"
    for dependency in ("nats", "postgres"):
        assert depends_on.get(dependency, {}).get("condition") == "service_healthy", (dependency, depends_on)


def test_the_service_uses_the_postgres_service_as_its_store(compose: dict[str, Any]) -> None:
    url = urlsplit(environment(service(compose, SERVICE)).get("TELEPHONY_DATABASE_URL", ""))
    assert url.scheme in ("postgresql", "postgres"), url.geturl()
    assert url.hostname == "postgres"
    assert url.port in (None, 5432)

    # The user, password and database are the ones the postgres service creates.
    postgres = environment(service(compose, "postgres"))
    user = postgres.get("POSTGRES_USER", "postgres")
    assert url.username == user
    assert url.password == postgres.get("POSTGRES_PASSWORD")
    assert url.path.lstrip("/") == postgres.get("POSTGRES_DB", user)


def test_the_service_publishes_to_the_nats_service(compose: dict[str, Any]) -> None:
    value = environment(service(compose, SERVICE)).get("TELEPHONY_NATS_URL", "")
    servers = [urlsplit(server.strip()) for server in value.split(",")]
    assert servers
    assert [url.scheme for url in servers] == ["nats"] * len(servers), value
    assert {url.hostname for url in servers} == {"nats"}, value
    assert {url.port for url in servers} <= {None, 4222}, value


def test_the_service_healthcheck_asks_whether_it_is_ready(compose: dict[str, Any]) -> None:
    test = " ".join(assert_healthcheck(service(compose, SERVICE)))
    assert f":{PORT}/health/ready" in test, test


def test_every_named_volume_is_declared_at_the_top_level(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, spec in compose["services"].items():
        used = set(named_volumes(spec))
        assert used <= declared, f"{name} mounts undeclared volumes {sorted(used - declared)}"


def test_every_telephony_variable_given_to_the_service_is_one_it_reads(compose: dict[str, Any]) -> None:
    given = {name for name in environment(service(compose, SERVICE)) if name.startswith("TELEPHONY_")}
    assert given, "the service is given no configuration"
    assert given <= set(KNOWN_VARIABLES), f"unknown to the service (a typo?): {sorted(given - set(KNOWN_VARIABLES))}"


# -- compose.yaml, profile cluster: a three-node NATS cluster --------------------------------------------------

CLUSTER_NODES = ("nats-1", "nats-2", "nats-3")
CLUSTER_SERVICE = "telephony-settings-cluster"


def in_profile(spec: dict[str, Any], profile: str) -> bool:
    return profile in (spec.get("profiles") or [])


def test_the_cluster_profile_runs_three_jetstream_nodes_routed_to_each_other(compose: dict[str, Any]) -> None:
    names = set()
    for name in CLUSTER_NODES:
        node = service(compose, name)
        assert in_profile(node, "cluster"), f"{name} would also start without --profile cluster"
        command = words(node.get("command"))
        assert {"-js", "--jetstream"} & set(command), f"{name}: JetStream is not enabled"
        names.add(option_value(command, "-n", "--name", "--server_name"))
        assert option_value(command, "--cluster_name"), f"{name}: no cluster name (each node would make up its own)"
        assert option_value(command, "--cluster"), f"{name}: no cluster listen address"
        routes = {urlsplit(route).hostname for route in (option_value(command, "--routes") or "").split(",")}
        assert set(CLUSTER_NODES) <= routes, f"{name} routes to {routes}, not to every node"
        store_dir = option_value(command, "-sd", "--store_dir")
        assert store_dir, f"{name}: without -sd the store is in the container's own file system"
        assert any(PurePosixPath(store_dir).is_relative_to(target) for target in named_volumes(node).values())
        assert_healthcheck(node)
    assert len(names) == len(CLUSTER_NODES), f"JetStream needs a distinct server name per node: {names}"
    volumes = [tuple(named_volumes(service(compose, name))) for name in CLUSTER_NODES]
    assert len(set(volumes)) == len(CLUSTER_NODES), f"the nodes share a volume: {volumes}"
    clusters = {option_value(words(service(compose, name).get("command")), "--cluster_name") for name in CLUSTER_NODES}
    assert len(clusters) == 1, clusters


def test_the_cluster_profile_points_a_service_at_every_node_with_three_replicas(compose: dict[str, Any]) -> None:
    spec = service(compose, CLUSTER_SERVICE)
    assert in_profile(spec, "cluster")
    env = environment(spec)
    servers = [urlsplit(server.strip()) for server in env.get("TELEPHONY_NATS_URL", "").split(",")]
    assert {url.hostname for url in servers} == set(CLUSTER_NODES), env.get("TELEPHONY_NATS_URL")
    assert {url.port for url in servers} <= {None, 4222}
    assert env.get("TELEPHONY_NATS_REPLICAS") == "3"
    given = {name for name in env if name.startswith("TELEPHONY_")}
    assert given <= set(KNOWN_VARIABLES), sorted(given - set(KNOWN_VARIABLES))
    depends_on = spec.get("depends_on")
    assert isinstance(depends_on, dict)
    for node in CLUSTER_NODES:
        assert depends_on.get(node, {}).get("condition") == "service_healthy", (node, depends_on)
    # Its own store: two services on one store with different NATS would publish one history to two places.
    assert "TELEPHONY_DATABASE_URL" not in env or env["TELEPHONY_DATABASE_URL"] != environment(
        service(compose, SERVICE)
    ).get("TELEPHONY_DATABASE_URL")
    assert set(named_volumes(spec)).isdisjoint(named_volumes(service(compose, SERVICE)))
    assert "8000" not in {str(port).split(":")[0] for port in spec.get("ports") or []}, "port 8000 is the other's"
    assert_healthcheck(spec)


def test_the_default_stack_starts_no_cluster(compose: dict[str, Any]) -> None:
    """``docker compose up`` alone starts one NATS: the cluster is only for ``--profile cluster``."""
    for name, spec in compose["services"].items():
        if name in (*CLUSTER_NODES, CLUSTER_SERVICE):
            assert in_profile(spec, "cluster"), name
        else:
            assert not spec.get("profiles"), name


# -- Dockerfile -----------------------------------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined and comments left out."""
    result: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = (pending + stripped).strip()
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((ROOT / "Dockerfile").read_text(encoding="utf-8"))


def final_stage(dockerfile: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [index for index, (keyword, _) in enumerate(dockerfile) if keyword == "FROM"]
    assert starts, "no FROM"
    return dockerfile[starts[-1] :]


def last(stage: list[tuple[str, str]], keyword: str) -> str | None:
    found = [arguments for kw, arguments in stage if kw == keyword]
    return found[-1] if found else None


def test_the_image_runs_as_a_user_other_than_root(dockerfile: list[tuple[str, str]]) -> None:
    user = last(final_stage(dockerfile), "USER")
    assert user, "no USER: the server would run as root"
    assert user.split(":")[0] not in ("root", "0"), user


def test_the_server_is_started_in_exec_form_as_pid_1(dockerfile: list[tuple[str, str]]) -> None:
    """A shell-form command runs under ``/bin/sh -c``: the shell is PID 1, and SIGTERM never reaches the server."""
    stage = final_stage(dockerfile)
    entrypoint, cmd = last(stage, "ENTRYPOINT"), last(stage, "CMD")
    start = entrypoint if entrypoint is not None else cmd
    assert start, "no ENTRYPOINT or CMD"
    try:
        command = json.loads(start)
    except json.JSONDecodeError:
        pytest.fail(f"shell form, the server would not be PID 1: {start}")
    assert isinstance(command, list), start
    assert command, start
    assert all(isinstance(word, str) for word in command), start
    assert PurePosixPath(command[0]).name not in ("sh", "bash", "dash"), f"a shell is PID 1: {start}"


def test_the_server_listens_on_every_interface_on_port_8000(dockerfile: list[tuple[str, str]]) -> None:
    """The CLI listens on 127.0.0.1 by default, which no published port can reach from outside the container."""
    stage = final_stage(dockerfile)
    command = [*json.loads(last(stage, "ENTRYPOINT") or "[]"), *json.loads(last(stage, "CMD") or "[]")]
    assert "serve" in command, command
    assert option_value(command, "--host") in ("0.0.0.0", "::"), command  # 127.0.0.1 is unreachable from outside
    assert option_value(command, "--port") in (None, str(PORT)), command  # the CLI's default port is 8000


def test_the_image_exposes_port_8000(dockerfile: list[tuple[str, str]]) -> None:
    exposed = {
        port.split("/")[0] for kw, arguments in final_stage(dockerfile) if kw == "EXPOSE" for port in arguments.split()
    }
    assert str(PORT) in exposed, exposed


def copied_from_the_context(dockerfile: list[tuple[str, str]]) -> set[str]:
    """Every path that a COPY or ADD takes from the build context (``COPY --from=stage`` left out)."""
    copied: set[str] = set()
    for keyword, arguments in dockerfile:
        if keyword not in ("COPY", "ADD"):
            continue
        parts = json.loads(arguments) if arguments.startswith("[") else arguments.split()
        options = [part for part in parts if part.startswith("--")]
        if any(option.startswith("--from") for option in options):
            continue
        sources = [part for part in parts if not part.startswith("--")][:-1]
        copied |= {str(PurePosixPath(source)) for source in sources}
    return copied


def test_the_image_is_built_from_the_three_packages(dockerfile: list[tuple[str, str]]) -> None:
    copied = copied_from_the_context(dockerfile)
    if "." not in copied:  # ``COPY . .`` would take everything
        assert {"events", "projections", "service"} <= copied, copied


def test_the_build_copies_the_files_the_package_metadata_needs(dockerfile: list[tuple[str, str]]) -> None:
    """``pip install .`` reads pyproject.toml and fails without the readme it names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    readme = project.get("readme")
    needed = {"pyproject.toml"} | ({readme} if isinstance(readme, str) else set())
    copied = copied_from_the_context(dockerfile)
    if "." not in copied:
        assert needed <= copied, (needed, copied)


def test_the_image_has_a_libpq_for_the_postgres_store(dockerfile: list[tuple[str, str]]) -> None:
    """compose.yaml points the service at PostgreSQL: psycopg needs its binary wheel or a system libpq, which
    python:3.11-slim does not have."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    bundled = any(
        re.match(r"psycopg\[[^\]]*\b(binary|c)\b", dependency) or re.match(r"psycopg[-_](binary|c)\b", dependency)
        for dependency in dependencies
    )
    installed = any(kw == "RUN" and "libpq" in arguments for kw, arguments in final_stage(dockerfile))
    assert bundled or installed, "no psycopg[binary] in the runtime dependencies and no libpq in the image"
