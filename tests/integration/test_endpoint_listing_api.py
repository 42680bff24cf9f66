"""Stories of ``GET /api/settings/endpoints``: creation order, filters, paging and ``X-Total-Count``."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.integration.support import ENDPOINTS, assert_validation_error, create, endpoint_url


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [endpoint["id"] for endpoint in response.json()]


@pytest.fixture
def directory(client: TestClient) -> list[dict[str, Any]]:
    """Seven endpoints over the three providers, created in this order."""
    specs = [
        {"phone_number": "+15551230001", "provider": "twilio", "inbound_agent_name": "support-agent"},
        {"phone_number": "+15551230002", "provider": "twilio", "outbound_agent_name": "sales-agent"},
        {
            "phone_number": "+919876500003",
            "provider": "exotel",
            "inbound_agent_name": "sales-agent",
            "is_active": False,
        },
        {"phone_number": "+919876500004", "provider": "exotel", "outbound_agent_name": "support-agent"},
        {"phone_number": "+919876500005", "provider": "vobiz", "label": "Bangalore"},
        {"phone_number": "+442071838756", "provider": "twilio", "is_active": False},
        {
            "phone_number": "+442071838757",
            "provider": "vobiz",
            "inbound_agent_name": "support-agent",
            "outbound_agent_name": "support-agent",
        },
    ]
    return [create(client, **spec) for spec in specs]


def test_an_empty_service_lists_nothing_with_a_total_of_zero(client: TestClient) -> None:
    response = client.get(ENDPOINTS)

    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["X-Total-Count"] == "0"


def test_the_list_shows_every_endpoint_in_creation_order(client: TestClient, directory: list[dict]) -> None:
    response = client.get(ENDPOINTS)

    assert response.json() == directory
    assert response.headers["X-Total-Count"] == "7"


def test_an_updated_endpoint_keeps_its_place_in_the_list(client: TestClient, directory: list[dict]) -> None:
    client.put(endpoint_url(directory[0]["id"]), json={"label": "moved?"})
    client.delete(endpoint_url(directory[3]["id"]))
    newest = create(client, phone_number="+15551230099", provider="twilio")

    expected = [e["id"] for i, e in enumerate(directory) if i != 3] + [newest["id"]]
    assert _ids(client.get(ENDPOINTS)) == expected


def test_filters_narrow_the_list_and_the_total(client: TestClient, directory: list[dict]) -> None:
    ids = [e["id"] for e in directory]

    def listed(**params: Any) -> tuple[list[str], str]:
        response = client.get(ENDPOINTS, params=params)
        return _ids(response), response.headers["X-Total-Count"]

    assert listed(provider="twilio") == ([ids[0], ids[1], ids[5]], "3")
    assert listed(provider="exotel") == ([ids[2], ids[3]], "2")
    assert listed(provider="vobiz") == ([ids[4], ids[6]], "2")
    assert listed(is_active="false") == ([ids[2], ids[5]], "2")
    assert listed(is_active="true") == ([ids[0], ids[1], ids[3], ids[4], ids[6]], "5")
    assert listed(agent="support-agent") == ([ids[0], ids[3], ids[6]], "3")  # inbound or outbound
    assert listed(agent="sales-agent") == ([ids[1], ids[2]], "2")
    assert listed(agent="nobody") == ([], "0")
    assert listed(provider="exotel", is_active="true") == ([ids[3]], "1")
    assert listed(provider="twilio", agent="sales-agent") == ([ids[1]], "1")


def test_the_phone_number_filter_accepts_any_spelling(client: TestClient, directory: list[dict]) -> None:
    target = directory[2]["id"]

    for spelling in ("+919876500003", "+91 98765 00003", "+91-98765-00003", "+91.98765.00003", "+91 (98765) 00003"):
        response = client.get(ENDPOINTS, params={"phone_number": spelling})
        assert _ids(response) == [target], spelling
        assert response.headers["X-Total-Count"] == "1"

    assert _ids(client.get(ENDPOINTS, params={"phone_number": "+919876500003", "provider": "twilio"})) == []
    assert _ids(client.get(ENDPOINTS, params={"phone_number": "+919876500003", "is_active": "false"})) == [target]
    response = client.get(ENDPOINTS, params={"phone_number": "+15559999999"})
    assert _ids(response) == []
    assert response.headers["X-Total-Count"] == "0"


def test_pages_split_the_list_while_the_total_counts_every_match(client: TestClient, directory: list[dict]) -> None:
    ids = [e["id"] for e in directory]

    def page(**params: Any) -> tuple[list[str], str]:
        response = client.get(ENDPOINTS, params=params)
        return _ids(response), response.headers["X-Total-Count"]

    assert page(page=1, page_size=3) == (ids[0:3], "7")
    assert page(page=2, page_size=3) == (ids[3:6], "7")
    assert page(page=3, page_size=3) == (ids[6:7], "7")
    assert page(page=4, page_size=3) == ([], "7")
    assert page(page=1, page_size=500) == (ids, "7")
    assert page(page=1, page_size=1) == (ids[0:1], "7")
    assert page(page=7, page_size=1) == (ids[6:7], "7")
    assert page(page_size=2) == (ids[0:2], "7")  # page defaults to 1
    assert page(page=1) == (ids, "7")
    assert page(provider="twilio", page=2, page_size=2) == ([ids[5]], "3")
    assert page(agent="support-agent", page=1, page_size=2) == ([ids[0], ids[3]], "3")


def test_bad_paging_and_filter_parameters_are_refused_naming_the_parameter(
    client: TestClient, directory: list[dict]
) -> None:
    for params, field in (
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "first"}, "page"),
        ({"page": 1.5}, "page"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 501}, "page_size"),
        ({"page_size": "all"}, "page_size"),
        ({"page": 1, "page_size": -3}, "page_size"),
        ({"is_active": "maybe"}, "is_active"),
        ({"provider": "plivo"}, "provider"),
        ({"phone_number": "5551230001"}, "phone_number"),
        ({"phone_number": "+1 CALL NOW"}, "phone_number"),
    ):
        assert_validation_error(client.get(ENDPOINTS, params=params), field)
