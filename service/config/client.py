"""The client of a running service for ``config``: it reads the current settings and sends one change set.

Every failure becomes a ``ServiceError`` whose message is for the person at the terminal (the command prints it and
exits 1, without a traceback): the service unreachable, the key missing, refused or short of a scope, a conflict, the
service's own errors. A message never holds a secret: the service's answers never echo one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import msgspec

from service.config.plan import CurrentState

TELEPHONY = "/api/settings/telephony"
CREDENTIALS = "/api/settings/telephony/credentials"
ENDPOINTS = "/api/settings/endpoints"
CHANGES = "/api/settings/changes"
VERSION_HEADER = "X-Settings-Version"
TIMEOUT = httpx.Timeout(120.0, connect=10.0)
"""A change set of 10,000 endpoints is one request: the service may take a while to store it."""
ATTEMPTS = 2
"""A change set is sent again once when the connection fails: with the same Idempotency-Key and If-Match, a second
send never applies it twice."""


class ServiceError(Exception):
    """The service could not be asked, or refused: the message says why, for a person."""


class VersionConflict(ServiceError):
    """412: some setting changed after the version the plan was made against."""

    def __init__(self, current: int | None) -> None:
        self.current = current
        super().__init__("settings changed since the plan; run plan again")


class Rejected(ServiceError):
    """422: the change set breaks the service's rules; ``errors`` as it names them (``field``, ``message``)."""

    def __init__(self, detail: str, errors: list[Mapping[str, Any]]) -> None:
        self.detail = detail
        self.errors = errors
        super().__init__(detail)


class Forbidden(ServiceError):
    """403: the API key lacks the scope."""


class NoChangesRoute(ServiceError):
    """The service has no ``POST /api/settings/changes`` (an older version)."""


class SettingsClient:
    def __init__(self, url: str, api_key: str, *, transport: httpx.BaseTransport | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ServiceError(f"--url must be an http:// or https:// URL, not {url!r}")
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=TIMEOUT, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SettingsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------------------------------

    def telephony(self) -> tuple[dict[str, Any], int | None]:
        """The provider settings, secrets masked, and the version they reflect."""
        response = self._send("GET", TELEPHONY, "read the provider settings", scope="read")
        return _decode(response), _version(response)

    def credentials(self) -> dict[str, Any] | None:
        """The provider settings with secrets in clear; ``None`` when the key lacks the secrets scope."""
        response = self._send("GET", CREDENTIALS, "read the provider credentials", scope="secrets", forbidden_ok=True)
        return None if response.status_code == 403 else _decode(response)

    def endpoints(self) -> tuple[list[dict[str, Any]], int | None]:
        """Every endpoint (in creation order) and the version the list reflects."""
        response = self._send("GET", ENDPOINTS, "list the endpoints", scope="read")
        return _decode(response), _version(response)

    def current(self, *, credentials: bool = True) -> CurrentState:
        """The settings a plan is made against; its version is the older of the two reads' (a change between them
        is then caught by If-Match, never missed)."""
        telephony, telephony_version = self.telephony()
        clear = self.credentials() if credentials else None
        endpoints, endpoints_version = self.endpoints()
        versions = [version for version in (telephony_version, endpoints_version) if version is not None]
        version = min(versions) if len(versions) == 2 else None
        return CurrentState(telephony=telephony, endpoints=endpoints, version=version, credentials=clear)

    # -- writing ----------------------------------------------------------------------------------------------------

    def submit(
        self, body: Mapping[str, Any], *, version: int | None, dry_run: bool, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Send one change set, applied only if nothing changed since ``version`` (``None``: no such condition).

        Raises ``VersionConflict`` (412), ``Rejected`` (422), ``NoChangesRoute`` (404) or ``ServiceError``.
        """
        headers = {"Content-Type": "application/json"}
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        content = msgspec.json.encode(body)
        what = "check the changes (dry run)" if dry_run else "apply the changes"
        params = {"dry_run": "true"} if dry_run else None
        request = {"content": content, "headers": headers, "params": params}
        for _ in range(ATTEMPTS - 1 if idempotency_key is not None else 0):
            try:
                response = self._send("POST", CHANGES, what, scope="write", retry=True, **request)
                break
            except _Retry:
                continue
        else:
            response = self._send("POST", CHANGES, what, scope="write", **request)
        if response.status_code == 404:
            raise NoChangesRoute(f"the service at {self.url} has no {CHANGES}: it is older than this command")
        if response.status_code == 412:
            raise VersionConflict(_version(response))
        if response.status_code == 422:
            answer = _decode(response)
            raise Rejected(str(answer.get("detail", "the service refused the changes")), list(answer.get("errors", [])))
        self._raise_for(response, what)
        return _decode(response)

    # -- internals --------------------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        scope: str,
        forbidden_ok: bool = False,
        retry: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            if retry:
                raise _Retry from None
            raise ServiceError(f"the service at {self.url} did not answer in time ({what})") from None
        except httpx.TransportError as exc:
            if retry:
                raise _Retry from None
            raise ServiceError(
                f"cannot reach the service at {self.url} ({what}): {exc or type(exc).__name__}"
            ) from None
        if response.status_code == 401:
            raise ServiceError(f"the service refused the API key (401) to {what}: check TELEPHONY_API_KEY")
        if response.status_code == 403 and not forbidden_ok:
            raise Forbidden(f"the API key may not {what} (403): it needs the {scope} scope")
        if method == "GET" and not (forbidden_ok and response.status_code == 403):
            self._raise_for(response, what)
        return response

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        if response.is_success:
            return
        detail = ""
        try:
            answer = msgspec.json.decode(response.content)
            if isinstance(answer, dict) and answer.get("detail"):
                detail = f": {answer['detail']}"
        except msgspec.DecodeError:
            pass
        raise ServiceError(f"the service could not {what} (HTTP {response.status_code}{detail})")


class _Retry(Exception):
    """The connection failed: the request may be sent again."""


def _decode(response: httpx.Response) -> Any:
    try:
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        raise ServiceError(
            f"the service answered {response.request.url.path} with something that is not JSON"
        ) from None


def _version(response: httpx.Response) -> int | None:
    raw = response.headers.get(VERSION_HEADER)
    return int(raw) if raw is not None and raw.isascii() and raw.isdigit() else None
