"""The API docs at /schema work on a machine without internet: the page loads its scripts, styles and icon from the
service itself (the swagger-ui-py package's copy of Swagger UI), never from a CDN."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from litestar.testing import TestClient

from service.settings import Settings
from tests.clients import api_client

LOADED = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""")


@pytest.fixture
def anonymous(tmp_path: Path) -> TestClient:
    with api_client(Settings(data_dir=tmp_path, nats_url="off"), key=None) as client:
        yield client


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_the_docs_page_loads_everything_from_the_service_without_a_key(anonymous: TestClient, page: str) -> None:
    response = anonymous.get(page)
    assert response.status_code == 200
    loaded = LOADED.findall(response.text)

    assert {Path(urlsplit(url).path).suffix for url in loaded} >= {".js", ".css"}
    for url in loaded:
        assert not urlsplit(url).netloc, f"{page} loads {url} from another host"
        asset = anonymous.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    assert "SwaggerUIBundle" in response.text
    assert anonymous.get("/schema/openapi.json").status_code == 200


def test_the_bundled_swagger_ui_reads_openapi_3_1(anonymous: TestClient) -> None:
    # Litestar writes OpenAPI 3.1, which Swagger UI renders from version 5 on (version 4 shows an error instead).
    assert anonymous.get("/schema/openapi.json").json()["openapi"].startswith("3.1")
    assert "isOAS31" in anonymous.get("/schema/assets/swagger-ui-bundle.js").text
