"""Every integer query parameter is bounded by what the stores can hold (64-bit signed): one beyond is a 422 naming
the parameter, never an overflow in the database driver (a 500); the largest one is answered."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from tests.integration.support import ENDPOINTS, TELEPHONY, assert_validation_error

LARGEST = 2**53 - 1


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        (ENDPOINTS, "at_position"),
        (ENDPOINTS, "page"),
        (TELEPHONY, "at_position"),
        ("/api/audit/events", "after"),
        ("/api/settings/telephony/history", "after"),
    ],
)
def test_a_parameter_beyond_the_store_range_is_a_422_and_the_largest_is_answered(
    client: TestClient, path: str, parameter: str
) -> None:
    client.post(ENDPOINTS, json={"phone_number": "+15551234567", "provider": "twilio"}).raise_for_status()

    too_large = client.get(path, params={parameter: str(LARGEST + 1)})
    largest = client.get(path, params={parameter: str(LARGEST)})
    huge = client.get(path, params={parameter: "9" * 40})

    assert_validation_error(too_large, parameter)
    assert_validation_error(huge, parameter)
    assert largest.status_code == 200, largest.text


def test_an_endpoint_history_page_beyond_the_store_range_is_a_422(client: TestClient) -> None:
    created = client.post(ENDPOINTS, json={"phone_number": "+15551234567", "provider": "twilio"}).json()
    history = f"{ENDPOINTS}/{created['id']}/history"
    assert_validation_error(client.get(history, params={"after": str(LARGEST + 1)}), "after")
    assert client.get(history, params={"after": str(LARGEST)}).json()["events"] == []
