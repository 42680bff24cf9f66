"""Who may do what: every ``/api`` route against no key, a malformed header, an unknown key, a key without the
route's scope and a key with it, on both storage backends.

The scope of each route is written here from the issue (GET: read; PUT/POST/DELETE: write; the unmasked credentials:
secrets; the history: audit), not read from the service, so a route that asks for the wrong scope fails a test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from events import EndpointCreated
from service.container import Container
from service.settings import Settings
from tests.clients import api_client
from tests.integration.support import ENDPOINTS, TELEPHONY, head, masked, sqlite_only, stored_events
from tests.seed import SUPPORT_LINE, TWILIO


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Authorization is decided before any storage is touched: SQLite alone (storage tiers run on both)."""
    return sqlite_only(tmp_path)


# -- the keys --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    name: str
    secret: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return "*" in self.scopes or scope in self.scopes

    @property
    def bearer(self) -> str:
        return f"Bearer {self.secret}"


KEYS = {
    key.name: key
    for key in (
        Key("reader", "reader-key-0123456789", frozenset({"read"})),
        Key("writer", "writer-key-0123456789", frozenset({"write"})),
        Key("secrets-only", "secrets-key-0123456789", frozenset({"secrets"})),
        Key("auditor", "auditor-key-0123456789", frozenset({"audit"})),
        Key("operator", "operator-key-0123456789", frozenset({"read", "write"})),
        Key("admin", "admin-key-0123456789abc", frozenset({"*"})),
        Key("hashed-reader", "hashed-reader-key-0123456789", frozenset({"read"})),  # configured by its sha256
    )
}
UNKNOWN_KEY = "nobody-knows-this-key-0123456789"


def _configuration() -> str:
    entries = []
    for key in KEYS.values():
        scopes = "+".join(sorted(key.scopes))
        if key.name == "hashed-reader":
            entries.append(f"{key.name}:sha256:{hashlib.sha256(key.secret.encode()).hexdigest()}:{scopes}")
        else:
            entries.append(f"{key.name}:{key.secret}:{scopes}")
    return ",".join(entries)


API_KEYS = _configuration()
ADMIN = KEYS["admin"]

# -- the routes ------------------------------------------------------------------------------------------------

NEW_LINE = {"phone_number": "+15551234567", "provider": "twilio", "inbound_agent_name": "new-agent"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    scope: str
    success: int
    body: dict[str, Any] | None = None

    def url(self, endpoint_id: str) -> str:
        return self.path.replace("{id}", endpoint_id)

    @property
    def writes(self) -> bool:
        return self.method in ("PUT", "POST", "DELETE")

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ROUTES = [
    Route("GET", TELEPHONY, "read", 200),
    Route("PUT", TELEPHONY, "write", 200, TWILIO),
    Route("GET", f"{TELEPHONY}/credentials", "secrets", 200),
    Route("GET", ENDPOINTS, "read", 200),
    Route("POST", ENDPOINTS, "write", 201, NEW_LINE),
    Route("GET", f"{ENDPOINTS}/{{id}}", "read", 200),
    Route("PUT", f"{ENDPOINTS}/{{id}}", "write", 200, {"label": "changed by the test"}),
    Route("DELETE", f"{ENDPOINTS}/{{id}}", "write", 204),
    Route("GET", "/api/audit/events", "audit", 200),
    Route("POST", "/api/settings/changes", "write", 200, {"endpoints": [{"op": "create", **NEW_LINE}]}),
]
ROUTE_IDS = [str(route) for route in ROUTES]
# The history routes belong to the audit controller, whose scope the matrix checks through /api/audit/events above;
# tests/integration/test_audit_history_api.py checks their 401/403 itself. Here they are checked in OpenAPI only.
HISTORY_ROUTES = [
    Route("GET", f"{ENDPOINTS}/{{id}}/history", "audit", 200),
    Route("GET", f"{TELEPHONY}/history", "audit", 200),
]

ALLOWED = [
    pytest.param(route, key, id=f"{route}-{key.name}")
    for route in ROUTES
    for key in KEYS.values()
    if key.allows(route.scope)
]
DENIED = [
    pytest.param(route, key, id=f"{route}-{key.name}")
    for route in ROUTES
    for key in KEYS.values()
    if not key.allows(route.scope)
]

MALFORMED_HEADERS = [
    "Basic x",
    f"Basic {ADMIN.secret}",  # a valid key under another scheme
    "Bearer",
    "Bearer ",
    "Bearer    ",
    ADMIN.secret,  # no scheme at all
    f"Token {ADMIN.secret}",
    f"Bearer{ADMIN.secret}",  # no space after the scheme
    "",
]

# -- fixtures and helpers ----------------------------------------------------------------------------------------


@dataclass
class World:
    client: TestClient  # sends no Authorization header unless a request gives one
    container: Container  # the same store, read directly
    endpoint_id: str  # an endpoint that exists

    def send(self, route: Route, authorization: str | None, **kwargs: Any) -> Any:
        headers = {} if authorization is None else {"Authorization": authorization}
        if "json" not in kwargs and "content" not in kwargs and route.body is not None:
            kwargs["json"] = route.body
        return self.client.request(route.method, route.url(self.endpoint_id), headers=headers, **kwargs)

    def state(self) -> tuple[int, Any, Any, Any]:
        """Everything a write could change: the store head and what an admin reads."""
        admin = {"Authorization": ADMIN.bearer}
        return (
            head(self.container),
            self.client.get(f"{TELEPHONY}/credentials", headers=admin).json(),
            self.client.get(ENDPOINTS, headers=admin).json(),
            self.client.get(f"{ENDPOINTS}/{self.endpoint_id}", headers=admin).status_code,
        )


@pytest.fixture
def keyed_settings(settings: Settings) -> Settings:
    return replace(settings, api_keys=API_KEYS)


@pytest.fixture
def world(keyed_settings: Settings, container: Container) -> Iterator[World]:
    with api_client(keyed_settings, key=None) as client:
        created = client.post(ENDPOINTS, json=SUPPORT_LINE, headers={"Authorization": ADMIN.bearer})
        assert created.status_code == 201, created.text
        yield World(client, container, created.json()["id"])


def assert_challenge(response: Any) -> None:
    """401 with a Bearer challenge and a JSON detail."""
    assert response.status_code == 401, response.text
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.split(" ", 1)[0].lower() == "bearer", challenge
    body = response.json()
    assert isinstance(body["detail"], str)
    assert body["detail"]


# -- no key, malformed header, unknown key: 401 ------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_a_request_without_a_key_gets_401_with_a_bearer_challenge_and_changes_nothing(
    world: World, route: Route
) -> None:
    before = world.state()

    response = world.send(route, None)

    assert_challenge(response)
    assert world.state() == before


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_a_malformed_authorization_header_gets_401_and_changes_nothing(world: World, route: Route) -> None:
    before = world.state()

    for header in MALFORMED_HEADERS:
        response = world.send(route, header)
        assert response.status_code == 401, f"Authorization: {header!r} -> {response.status_code} {response.text}"
        assert_challenge(response)

    assert world.state() == before


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_an_unknown_key_gets_401_and_changes_nothing(world: World, route: Route) -> None:
    before = world.state()

    for presented in (UNKNOWN_KEY, ADMIN.secret[:-1], ADMIN.secret + "x", ADMIN.secret.upper()):
        response = world.send(route, f"Bearer {presented}")
        assert_challenge(response)
        assert ADMIN.secret not in response.text

    assert world.state() == before


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_the_digest_of_a_hashed_key_is_not_itself_a_key(world: World, route: Route) -> None:
    hashed = KEYS["hashed-reader"]
    hexdigest = hashlib.sha256(hashed.secret.encode()).hexdigest()

    for presented in (hexdigest, f"sha256:{hexdigest}"):
        assert_challenge(world.send(route, f"Bearer {presented}"))


# -- a key without the scope: 403; with it: the route's own answer -------------------------------------------------


@pytest.mark.parametrize(("route", "key"), DENIED)
def test_a_key_without_the_routes_scope_gets_403_naming_the_scope_and_changes_nothing(
    world: World, route: Route, key: Key
) -> None:
    before = world.state()

    response = world.send(route, key.bearer)

    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert route.scope in detail
    assert key.secret not in response.text
    assert world.state() == before


@pytest.mark.parametrize(("route", "key"), ALLOWED)
def test_a_key_with_the_routes_scope_is_served(world: World, route: Route, key: Key) -> None:
    response = world.send(route, key.bearer)

    assert response.status_code == route.success, response.text


def test_the_bearer_scheme_name_is_case_insensitive(world: World) -> None:
    for scheme in ("bearer", "BEARER", "BeArEr"):
        response = world.client.get(TELEPHONY, headers={"Authorization": f"{scheme} {KEYS['reader'].secret}"})
        assert response.status_code == 200, f"{scheme}: {response.text}"


def test_api_client_sends_the_key_it_is_given(keyed_settings: Settings) -> None:
    with api_client(keyed_settings, key=KEYS["reader"].secret) as reader:
        assert reader.get(TELEPHONY).status_code == 200
        assert reader.put(TELEPHONY, json=TWILIO).status_code == 403
    with api_client(keyed_settings, key=None) as anonymous:
        assert anonymous.get(TELEPHONY).status_code == 401


def test_a_denied_write_then_an_allowed_one_stores_exactly_one_change(world: World) -> None:
    start = head(world.container)

    assert world.client.put(TELEPHONY, json=TWILIO, headers={"Authorization": KEYS["reader"].bearer}).status_code == 403
    assert head(world.container) == start
    assert world.client.put(TELEPHONY, json=TWILIO, headers={"Authorization": KEYS["writer"].bearer}).status_code == 200
    assert head(world.container) > start


# -- authentication comes before everything else about the request -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        pytest.param("POST", ENDPOINTS, {"json": {"phone_number": 12, "provider": "nokia"}}, id="post-invalid-fields"),
        pytest.param("POST", ENDPOINTS, {"content": b"{not json", "headers": {}}, id="post-not-json"),
        pytest.param("POST", ENDPOINTS, {"json": {}}, id="post-missing-fields"),
        pytest.param("PUT", TELEPHONY, {"json": {"twilio_max_concurrent": 0, "x": 1}}, id="put-telephony-invalid"),
        pytest.param("PUT", TELEPHONY, {"content": b"[1, 2", "headers": {}}, id="put-telephony-not-json"),
        pytest.param("PUT", f"{ENDPOINTS}/not-a-uuid", {"json": {"phone_number": "x"}}, id="put-endpoint-bad-id"),
        pytest.param("DELETE", f"{ENDPOINTS}/not-a-uuid", {}, id="delete-bad-id"),
        pytest.param("GET", f"{ENDPOINTS}/not-a-uuid", {}, id="get-bad-id"),
        pytest.param("GET", f"{ENDPOINTS}/00000000-0000-0000-0000-000000000000", {}, id="get-unknown-id"),
        pytest.param("GET", f"{ENDPOINTS}?page=0&page_size=9999&is_active=maybe", {}, id="list-bad-query"),
    ],
)
def test_a_bad_request_without_a_key_gets_401_not_a_validation_error_and_without_the_scope_403(
    world: World, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    before = head(world.container)
    kwargs = dict(kwargs)  # the parameter is shared by both backends' runs
    headers = kwargs.pop("headers", None)
    needed = "read" if method == "GET" else "write"
    lacking = KEYS["writer"] if needed == "read" else KEYS["reader"]

    anonymous = world.client.request(method, path, headers=headers or {}, **kwargs)
    unscoped = world.client.request(method, path, headers={"Authorization": lacking.bearer}, **kwargs)

    assert_challenge(anonymous)
    assert unscoped.status_code == 403, unscoped.text
    assert needed in unscoped.json()["detail"]
    assert head(world.container) == before


# -- open routes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/schema/openapi.json", "/metrics"])
def test_health_schema_and_metrics_answer_without_a_key(world: World, path: str) -> None:
    anonymous = world.client.get(path)
    with_unknown_key = world.client.get(path, headers={"Authorization": f"Bearer {UNKNOWN_KEY}"})
    with_garbage = world.client.get(path, headers={"Authorization": "Basic x"})

    assert anonymous.status_code == 200, anonymous.text
    assert with_unknown_key.status_code == 200, with_unknown_key.text
    assert with_garbage.status_code == 200, with_garbage.text
    assert "WWW-Authenticate" not in anonymous.headers


# -- secrets ----------------------------------------------------------------------------------------------------


def test_the_credentials_route_shows_secrets_unmasked_and_uncached_while_the_settings_route_masks_them(
    world: World,
) -> None:
    configured = world.client.put(TELEPHONY, json=TWILIO, headers={"Authorization": KEYS["writer"].bearer})
    assert configured.status_code == 200, configured.text

    credentials = world.client.get(f"{TELEPHONY}/credentials", headers={"Authorization": KEYS["secrets-only"].bearer})
    shown = world.client.get(TELEPHONY, headers={"Authorization": KEYS["reader"].bearer})
    shown_to_admin = world.client.get(TELEPHONY, headers={"Authorization": ADMIN.bearer})

    assert credentials.status_code == 200, credentials.text
    assert credentials.headers.get("Cache-Control") == "no-store"
    body = credentials.json()
    for field, value in TWILIO.items():
        assert body[field] == value, field
    for response in (shown, shown_to_admin):  # masked even for a key that may see secrets
        assert response.status_code == 200, response.text
        assert response.json()["twilio_auth_token"] == masked(TWILIO["twilio_auth_token"])
        assert TWILIO["twilio_auth_token"] not in response.text
    assert configured.json()["twilio_auth_token"] == masked(TWILIO["twilio_auth_token"])


def test_a_refused_credentials_request_shows_no_secret(world: World) -> None:
    world.client.put(TELEPHONY, json=TWILIO, headers={"Authorization": ADMIN.bearer})

    for authorization in (None, f"Bearer {UNKNOWN_KEY}", KEYS["operator"].bearer, KEYS["reader"].bearer):
        headers = {} if authorization is None else {"Authorization": authorization}
        response = world.client.get(f"{TELEPHONY}/credentials", headers=headers)
        assert response.status_code in (401, 403), response.text
        assert TWILIO["twilio_auth_token"] not in response.text
        assert TWILIO["twilio_account_sid"] not in response.text


# -- the actor ---------------------------------------------------------------------------------------------------


def test_the_name_of_the_key_is_recorded_as_the_actor_of_each_stored_event(world: World) -> None:
    start = head(world.container)

    assert world.client.put(TELEPHONY, json=TWILIO, headers={"Authorization": KEYS["writer"].bearer}).status_code == 200
    created = world.client.post(ENDPOINTS, json=NEW_LINE, headers={"Authorization": KEYS["operator"].bearer})
    assert created.status_code == 201, created.text
    updated = world.client.put(
        f"{ENDPOINTS}/{world.endpoint_id}", json={"label": "x"}, headers={"Authorization": ADMIN.bearer}
    )
    assert updated.status_code == 200, updated.text

    actors_by_originator: dict[str, set[str]] = {}
    for event in events_after(world.container, start):
        actors_by_originator.setdefault(str(event.originator_id), set()).add(event.actor)

    assert actors_by_originator[created.json()["id"]] == {"operator"}
    assert actors_by_originator[world.endpoint_id] == {"admin"}
    assert {"writer"} in actors_by_originator.values()  # the provider settings, changed by the writer
    assert {actor for actors in actors_by_originator.values() for actor in actors} == {"writer", "operator", "admin"}


def test_the_seeding_request_recorded_the_admin_as_actor(world: World) -> None:
    created = [e for e in stored_events(world.container) if isinstance(e, EndpointCreated)]

    assert [(str(e.originator_id), e.actor) for e in created] == [(world.endpoint_id, "admin")]


def events_after(container: Container, position: int) -> list[Any]:
    """The events stored after notification ``position``."""
    notifications = container.app.recorder.select_notifications(start=position + 1, limit=100_000)
    return [container.app.mapper.to_domain_event(n) for n in notifications]


# -- OpenAPI -----------------------------------------------------------------------------------------------------


def test_openapi_documents_the_bearer_scheme_and_the_scope_of_every_api_operation(world: World) -> None:
    document = world.client.get("/schema/openapi.json").json()

    schemes = document["components"]["securitySchemes"]
    bearer = [
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer"
    ]
    assert len(bearer) == 1, schemes
    [scheme_name] = bearer

    for route in ROUTES + HISTORY_ROUTES:
        path = route.path.replace("{id}", "{endpoint_id}")
        operation = document["paths"][path][route.method.lower()]
        assert operation.get("security") == [{scheme_name: [route.scope]}], f"{route}: {operation.get('security')}"
        assert "401" in operation["responses"], route
        assert "403" in operation["responses"], route

    api_operations = [
        (path, method)
        for path, item in document["paths"].items()
        if path.startswith("/api/")
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    ]
    documented = {
        (route.path.replace("{id}", "{endpoint_id}"), route.method.lower()) for route in ROUTES + HISTORY_ROUTES
    }
    assert set(api_operations) == documented  # every /api operation is one of the routes tested here


def test_openapi_asks_no_key_for_health(world: World) -> None:
    document = world.client.get("/schema/openapi.json").json()

    for path, item in document["paths"].items():
        if path.startswith("/health"):
            for method, operation in item.items():
                if isinstance(operation, dict) and method in ("get", "head"):
                    assert not operation.get("security"), f"{method} {path}"
    assert not document.get("security"), "no global security requirement: health and docs stay open"
