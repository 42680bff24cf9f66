"""The plan of ``config plan|apply``: a pure diff of the service's state and a file (create, update, delete, prune,
no change), its rendering (never a secret), the one change set it sends and the way back from the service's errors
to the file's lines; and the client's answers to the service's refusals (412, 422, 403, 404, unreachable)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from service.config.client import NoChangesRoute, Rejected, ServiceError, SettingsClient, VersionConflict
from service.config.files import SettingsFile, SettingsFileError, export_settings, load_settings
from service.config.plan import Create, CurrentState, Delete, Plan, Update, compute_plan, render_plan

TWILIO_TOKEN = "twilio-secret-0123-AbCd"
EXOTEL_KEY = "exotel-key-4567-EfGh"
EXOTEL_TOKEN = "exotel-token-89-IjKl"
ENVIRON = {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "EXOTEL_API_KEY": EXOTEL_KEY, "EXOTEL_API_TOKEN": EXOTEL_TOKEN}

CLEAR = {
    "provider": "exotel",
    "public_base_url": "https://voice.example.com",
    "twilio_account_sid": None,
    "twilio_auth_token": TWILIO_TOKEN,
    "twilio_phone_number": None,
    "twilio_max_concurrent": 10,
    "exotel_account_sid": "my-sid",
    "exotel_api_key": EXOTEL_KEY,
    "exotel_api_token": EXOTEL_TOKEN,
    "exotel_phone_number": "+919876543210",
    "exotel_api_base": "https://api.exotel.com",
    "exotel_max_concurrent": 5,
    "vobiz_auth_id": None,
    "vobiz_auth_token": None,
    "vobiz_phone_number": None,
    "vobiz_max_concurrent": 5,
}
MASKED = {
    **CLEAR,
    "twilio_auth_token": "****AbCd",
    "exotel_api_key": "****EfGh",
    "exotel_api_token": "****IjKl",
}


def endpoint(number: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"id{number}",
        "phone_number": number,
        "provider": "exotel",
        "inbound_agent_name": "support-agent",
        "outbound_agent_name": None,
        "label": f"Line {number[-4:]}",
        "is_active": True,
        "created_at": "2026-01-01T00:00:00",
        "updated_at": "2026-01-01T00:00:00",
        "inbound_webhook_url": None,
        **fields,
    }


ENDPOINTS = [endpoint("+919876543210"), endpoint("+15551230000", provider="twilio"), endpoint("+442079460958")]


def state(credentials: bool = True, endpoints: list[dict[str, Any]] = ENDPOINTS) -> CurrentState:
    return CurrentState(MASKED, endpoints, version=41, credentials=CLEAR if credentials else None)


def settings(text: str, **environ: str) -> SettingsFile:
    return load_settings(text, {**ENVIRON, **environ})


def plan_of(text: str, current: CurrentState | None = None, prune: bool = False) -> Plan:
    return compute_plan(current or state(), settings(text), prune=prune)


def plan_errors(text: str, current: CurrentState | None = None) -> list[str]:
    with pytest.raises(SettingsFileError) as caught:
        plan_of(text, current)
    return [str(problem) for problem in caught.value.problems]


def shown(plan: Plan) -> str:
    return render_plan(plan)


# -- no change --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("credentials", [True, False])
@pytest.mark.parametrize("prune", [True, False])
def test_an_exported_file_plans_no_change(credentials: bool, prune: bool) -> None:
    text = export_settings(MASKED, ENDPOINTS)
    plan = plan_of(text, state(credentials), prune=prune)
    assert not plan.changed
    assert plan.request() == {}
    assert (plan.kept, plan.version) == (0, 41)
    assert shown(plan).startswith("No changes: the service already matches the file.\n")


def test_another_spelling_of_the_same_settings_is_no_change() -> None:
    text = """version: 1
telephony:
  public_base_url: https://voice.example.com/
  exotel_phone_number: +91 98765 43210
  exotel_account_sid: "  my-sid "
endpoints:
  "+91 (98765) 43210":
    provider: exotel
"""
    assert not plan_of(text).changed


def test_a_file_without_sections_changes_nothing_and_keeps_every_endpoint() -> None:
    plan = plan_of("version: 1\n", prune=True)
    assert not plan.changed
    assert (plan.endpoints_managed, plan.kept) == (False, 3)
    assert "The file has no endpoints section: the 3 endpoints on the service are left as they are." in shown(plan)


# -- create, update, delete -------------------------------------------------------------------------------------------

EDITED = """version: 1
telephony:
  public_base_url: https://voice2.example.com
  exotel_max_concurrent: 9
endpoints:
  "+919876543210":
    label: Main support line
    inbound_agent_name: support-agent
  "+15551239999":
    provider: twilio
    inbound_agent_name: new-agent
  "+442079460958":
    provider: exotel
    is_active: false
    outbound_agent_name: sales
"""


def test_creates_updates_and_keeps_what_the_file_does_not_name() -> None:
    plan = plan_of(EDITED)
    assert [type(operation).__name__ for operation in plan.operations] == ["Create", "Update", "Update"]
    assert plan.kept == 1
    assert plan.request() == {
        "telephony": {"public_base_url": "https://voice2.example.com", "exotel_max_concurrent": 9},
        "endpoints": [
            {"op": "create", "phone_number": "+15551239999", "provider": "twilio", "inbound_agent_name": "new-agent"},
            {"op": "update", "id": "id+442079460958", "is_active": False, "outbound_agent_name": "sales"},
            {"op": "update", "id": "id+919876543210", "label": "Main support line"},  # only what changes
        ],
    }
    assert shown(plan) == (
        "telephony:\n"
        '  ~ public_base_url: "https://voice.example.com" → "https://voice2.example.com"\n'
        "  ~ exotel_max_concurrent: 5 → 9\n"
        "endpoints:\n"
        "  + +15551239999\n"
        '      provider: "twilio"\n'
        '      inbound_agent_name: "new-agent"\n'
        "  ~ +442079460958\n"
        "      is_active: true → false\n"
        '      outbound_agent_name: null → "sales"\n'
        "  ~ +919876543210\n"
        '      label: "Line 3210" → "Main support line"\n'
        "\n"
        "Plan: 1 to create, 2 to update, 0 to delete; provider settings: 2 fields to change.\n"
        "1 endpoint on the service not in the file: kept (--prune would delete them).\n"
    )


def test_prune_deletes_what_the_file_does_not_name() -> None:
    plan = plan_of(EDITED, prune=True)
    assert [(type(operation).__name__, operation.phone_number) for operation in plan.operations] == [
        ("Delete", "+15551230000"),
        ("Create", "+15551239999"),
        ("Update", "+442079460958"),
        ("Update", "+919876543210"),
    ]
    assert plan.request()["endpoints"][0] == {"op": "delete", "id": "id+15551230000"}
    assert plan.kept == 0
    text = shown(plan)
    assert "  - +15551230000 (Line 0000)\n" in text
    assert "Plan: 1 to create, 2 to update, 1 to delete" in text
    assert "kept" not in text


def test_prune_with_an_empty_endpoints_section_deletes_every_endpoint() -> None:
    plan = plan_of("version: 1\nendpoints: {}\n", prune=True)
    assert [type(operation) for operation in plan.operations] == [Delete, Delete, Delete]
    assert plan_of("version: 1\nendpoints: {}\n").operations == ()


def test_a_new_endpoint_gets_only_the_fields_the_file_gives() -> None:
    plan = plan_of("version: 1\nendpoints:\n  '+15551239999':\n    provider: twilio\n")
    assert plan.operations == (Create("+15551239999", {"provider": "twilio"}, 3, {"provider": 4}),)


def test_a_new_number_without_a_provider_and_another_provider_are_errors_at_their_lines() -> None:
    text = """version: 1
endpoints:
  "+15551239999":
    label: x
  "+15551230000":
    provider: exotel
  "+919876543210":
    provider: exotel
    label: fine
"""
    assert plan_errors(text) == [
        "line 3: endpoint +15551239999 is a new number: it needs a provider",
        "line 6: endpoint +15551230000 is a twilio number on the service, not exotel: the provider of a number is "
        "fixed (delete the number, then create it again)",
    ]


def test_a_key_in_the_shape_of_e164_is_normalised_when_the_service_does_not_hold_it() -> None:
    # "+4407911123456" looks like E.164, but the number is +447911123456, which the service holds: an update.
    held = [endpoint("+447911123456")]
    plan = plan_of("version: 1\nendpoints:\n  '+4407911123456':\n    label: new\n", state(endpoints=held))
    assert plan.operations == (Update("id+447911123456", "+447911123456", plan.operations[0].changes, 3),)  # type: ignore[union-attr]
    text = "version: 1\nendpoints:\n  '+447911123456':\n    provider: twilio\n  '+4407911123456':\n"
    assert plan_errors(text, state(endpoints=[])) == [
        'line 5: endpoint "+4407911123456" is the number +447911123456, also at line 3',
    ]
    assert plan_errors("version: 1\nendpoints:\n  '+1555000':\n    provider: twilio\n") == [
        "line 3: endpoint +1555000: the phone number is not a possible phone number for its country code (E.164)"
    ]


# -- secrets ----------------------------------------------------------------------------------------------------------

ROTATED = "rotated-9876-AbCd"  # a new Twilio token that ends like the old one


@pytest.mark.parametrize("credentials", [True, False])
def test_a_changed_secret_is_shown_changed_never_with_a_value(credentials: bool) -> None:
    text = "version: 1\ntelephony:\n  exotel_api_key: ${NEW_KEY}\n  vobiz_auth_token: ${NEW_VOBIZ}\n"
    plan = compute_plan(state(credentials), settings(text, NEW_KEY="brand-new-key-WxYz", NEW_VOBIZ="v" * 20))
    rendered = shown(plan)
    assert "  ~ exotel_api_key: (secret changed)\n" in rendered
    assert "  ~ vobiz_auth_token: (secret changed)\n" in rendered
    for secret in ("brand-new-key-WxYz", "WxYz", "v" * 20, "vvvv", "EfGh", "****"):
        assert secret not in rendered
    assert plan.request()["telephony"] == {"exotel_api_key": "brand-new-key-WxYz", "vobiz_auth_token": "v" * 20}


def test_with_the_secrets_scope_secrets_are_compared_exactly() -> None:
    text = "version: 1\ntelephony:\n  twilio_auth_token: ${ROTATED}\n  exotel_api_key: ${EXOTEL_API_KEY}\n"
    plan = compute_plan(state(credentials=True), settings(text, ROTATED=ROTATED))
    assert [change.name for change in plan.telephony] == ["twilio_auth_token"]
    assert not plan.secrets_by_mask
    assert "compared by their last 4 characters" not in shown(plan)


def test_without_it_secrets_are_compared_by_their_mask_and_the_plan_says_so() -> None:
    text = "version: 1\ntelephony:\n  twilio_auth_token: ${ROTATED}\n  exotel_api_key: ${EXOTEL_API_KEY}\n"
    plan = compute_plan(state(credentials=False), settings(text, ROTATED=ROTATED))
    assert plan.telephony == ()  # the rotation ends like the old token: it cannot be seen
    assert plan.secrets_by_mask
    assert "Secrets were compared by their last 4 characters only" in shown(plan)


def test_clearing_a_secret_and_echoing_its_mask() -> None:
    text = (
        "version: 1\ntelephony:\n  twilio_auth_token: null\n  exotel_api_key: '****EfGh'\n"
        "  exotel_api_token: '****0000'\n"
    )
    plan = plan_of(text)
    assert [(change.name, change.new) for change in plan.telephony] == [
        ("twilio_auth_token", None),
        ("exotel_api_token", "****0000"),  # not the current mask: sent, and the service refuses it
    ]
    assert "  ~ twilio_auth_token: (secret cleared)\n" in shown(plan)
    assert "0000" not in shown(plan)


# -- the service's errors back to the file ----------------------------------------------------------------------------


def test_the_services_errors_are_located_at_the_files_lines() -> None:
    plan = plan_of(EDITED, prune=True)
    assert plan.locate("telephony.public_base_url") == (3, "telephony.public_base_url")
    assert plan.locate("telephony.twilio_account_sid") == (None, "telephony.twilio_account_sid")
    assert plan.locate("endpoints[1].inbound_agent_name") == (11, "endpoint +15551239999: inbound_agent_name")
    assert plan.locate("endpoints[1].label") == (9, "endpoint +15551239999: label")  # not in the file: its key's line
    assert plan.locate("endpoints[2].outbound_agent_name") == (15, "endpoint +442079460958: outbound_agent_name")
    assert plan.locate("endpoints[3]") == (6, "endpoint +919876543210")
    assert plan.locate("endpoints[0].id") == (None, "endpoint +15551230000: id (to delete: not in the file)")
    assert plan.locate("endpoints[9].label") == (None, "endpoints[9].label")
    assert plan.locate("body") == (None, "body")


# -- the client -------------------------------------------------------------------------------------------------------


def client_answering(handler: Any) -> SettingsClient:
    return SettingsClient("http://service.test", "a-key", transport=httpx.MockTransport(handler))


def test_the_current_state_is_at_the_older_of_the_two_versions_and_credentials_need_their_scope() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("Authorization")))
        if request.url.path.endswith("/credentials"):
            return httpx.Response(403, json={"detail": "the key lacks the secrets scope"})
        if request.url.path.endswith("/telephony"):
            return httpx.Response(200, json=MASKED, headers={"X-Settings-Version": "12"})
        return httpx.Response(200, json=ENDPOINTS, headers={"X-Settings-Version": "11"})

    with client_answering(handler) as client:
        current = client.current()
    assert current == CurrentState(MASKED, ENDPOINTS, version=11, credentials=None)
    assert {authorization for _, authorization in seen} == {"Bearer a-key"}


def test_a_change_set_is_sent_with_if_match_and_its_refusals_become_errors() -> None:
    requests: list[httpx.Request] = []
    answers = iter(
        [
            httpx.Response(412, json={"detail": "changed"}, headers={"X-Settings-Version": "50"}),
            httpx.Response(422, json={"detail": "nope", "errors": [{"field": "endpoints[0].label", "message": "bad"}]}),
            httpx.Response(404, json={"detail": "Not Found"}),
            httpx.Response(500, json={"detail": "boom"}),
            httpx.Response(200, json={"applied": True, "change_set": "cs", "position": 51, "endpoints": []}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return next(answers)

    body = {"endpoints": [{"op": "delete", "id": "x"}]}
    with client_answering(handler) as client:
        with pytest.raises(VersionConflict) as conflict:
            client.submit(body, version=41, dry_run=True)
        assert (str(conflict.value), conflict.value.current) == ("settings changed since the plan; run plan again", 50)
        with pytest.raises(Rejected) as rejected:
            client.submit(body, version=41, dry_run=False)
        assert rejected.value.errors == [{"field": "endpoints[0].label", "message": "bad"}]
        with pytest.raises(NoChangesRoute):
            client.submit(body, version=41, dry_run=True)
        with pytest.raises(ServiceError, match=r"could not apply the changes \(HTTP 500: boom\)"):
            client.submit(body, version=41, dry_run=False)
        assert client.submit(body, version=41, dry_run=False, idempotency_key="k-1")["position"] == 51
    assert [request.headers["If-Match"] for request in requests] == ['"41"'] * 5
    assert [request.url.params.get("dry_run") for request in requests] == ["true", None, "true", None, None]
    assert requests[-1].headers["Idempotency-Key"] == "k-1"
    assert json.loads(requests[-1].content) == body


def test_a_change_set_is_sent_again_once_when_the_connection_fails_only_with_an_idempotency_key() -> None:
    calls: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("Idempotency-Key"))
        if len(calls) % 2 == 1:
            raise httpx.RemoteProtocolError("connection closed", request=request)
        return httpx.Response(200, json={"applied": True, "change_set": "cs", "position": 7, "endpoints": []})

    with client_answering(handler) as client:
        assert client.submit({}, version=1, dry_run=False, idempotency_key="k")["position"] == 7
        assert calls == ["k", "k"]
        with pytest.raises(ServiceError, match=r"cannot reach the service at http://service\.test"):
            client.submit({}, version=1, dry_run=False)
    assert calls == ["k", "k", None]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, r"the service refused the API key \(401\) to read the provider settings: check TELEPHONY_API_KEY"),
        (403, r"the API key may not read the provider settings \(403\): it needs the read scope"),
        (503, r"the service could not read the provider settings \(HTTP 503: store down\)"),
    ],
)
def test_refused_reads_are_errors_for_a_person(status: int, message: str) -> None:
    with (
        client_answering(lambda request: httpx.Response(status, json={"detail": "store down"})) as client,
        pytest.raises(ServiceError, match=message),
    ):
        client.current()


def test_an_unreachable_service_is_an_error_that_names_it() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with client_answering(handler) as client, pytest.raises(ServiceError) as caught:
        client.endpoints()
    assert str(caught.value) == (
        "cannot reach the service at http://service.test (list the endpoints): [Errno 111] Connection refused"
    )
