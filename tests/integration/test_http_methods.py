"""HEAD and OPTIONS on every path, checked against the OpenAPI document (what clients read): OPTIONS answers without a
key and lists every method of the path; HEAD answers like GET (status, ETag, length) without a body; a 405 lists the
same methods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from service.settings import Settings
from tests.integration.support import ENDPOINTS, sqlite_only

DOCUMENTED = {"get", "put", "post", "delete", "patch"}


def documented_paths(client: TestClient) -> dict[str, set[str]]:
    spec: dict[str, Any] = client.get("/schema/openapi.json").json()
    return {path: {m.upper() for m in item if m in DOCUMENTED} for path, item in spec["paths"].items()}


def concrete(path: str, endpoint_id: str) -> str:
    return path.replace("{endpoint_id}", endpoint_id)


def expected_allow(methods: set[str]) -> set[str]:
    return methods | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """HTTP behaviour, not storage: the SQLite backend is enough."""
    return sqlite_only(tmp_path)


@pytest.fixture
def endpoint_id(client: TestClient) -> str:
    return client.post(ENDPOINTS, json={"phone_number": "+15551234567", "provider": "twilio"}).json()["id"]


def test_options_lists_every_documented_method_of_every_path_without_a_key(
    client: TestClient, endpoint_id: str
) -> None:
    paths = documented_paths(client)
    assert len(paths) >= 8
    anonymous = {"Authorization": ""}
    for path, methods in paths.items():
        response = client.options(concrete(path, endpoint_id), headers=anonymous)
        assert response.status_code == 204, (path, response.text)
        allow = {name.strip() for name in response.headers["allow"].split(",")}
        assert allow == expected_allow(methods), path


def test_head_answers_every_get_route_like_get_without_a_body(client: TestClient, endpoint_id: str) -> None:
    for path, methods in documented_paths(client).items():
        if "GET" not in methods:
            continue
        url = concrete(path, endpoint_id)
        got, head = client.get(url), client.head(url)
        assert head.status_code == got.status_code, path
        assert head.content == b"", path
        assert head.headers.get("content-length") == got.headers.get("content-length"), path
        assert head.headers.get("etag") == got.headers.get("etag"), path
        assert "x-request-id" in head.headers


def test_head_needs_the_same_key_and_scope_as_get(client: TestClient) -> None:
    assert client.head(ENDPOINTS, headers={"Authorization": ""}).status_code == 401
    assert client.head(ENDPOINTS).status_code == 200


def test_head_honours_if_none_match(client: TestClient, endpoint_id: str) -> None:
    etag = client.get(f"{ENDPOINTS}/{endpoint_id}").headers["etag"]
    assert client.head(f"{ENDPOINTS}/{endpoint_id}", headers={"If-None-Match": etag}).status_code == 304


def test_a_method_the_path_lacks_gets_405_with_the_full_allow(client: TestClient, endpoint_id: str) -> None:
    response = client.post(f"{ENDPOINTS}/{endpoint_id}", json={})
    assert response.status_code == 405
    assert {name.strip() for name in response.headers["allow"].split(",")} == {
        "DELETE",
        "GET",
        "HEAD",
        "OPTIONS",
        "PUT",
    }
    assert "x-request-id" in response.headers


def test_an_unknown_path_is_a_404_with_a_request_id_and_a_bounded_metric_label(client: TestClient) -> None:
    response = client.get("/no/such/path/12345")
    assert response.status_code == 404
    assert "x-request-id" in response.headers
    metrics = client.get("/metrics").text
    assert "/no/such/path/12345" not in metrics
    assert 'path="<unmatched>"' in metrics
