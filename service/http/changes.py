"""``POST /api/settings/changes``: a change set, many changes in one request, all stored or none.

The body is decoded here item by item rather than by Litestar, so that every bad item is named with its path
(``endpoints[3].phone_number``), not only the first; the OpenAPI document gets the body's schema from
``ChangeSetDocument`` (``service.http.openapi``). Each item goes through the same builder as its single-endpoint
route (``service.write.commands``), and the change set is one command to the writer (``service.write.change_sets``).

``X-Settings-Version`` (on the settings GET routes and here) is the store position an answer reflects; a change set
sent with ``If-Match: "<that version>"`` is refused (412) when any setting changed after it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import msgspec
from litestar import Controller, Request, Response, post
from litestar.concurrency import sync_to_thread
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import HeaderParameter, QueryParameter
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_413_REQUEST_ENTITY_TOO_LARGE
from msgspec import UNSET, Struct, UnsetType

from service.container import Container
from service.http.conditional import REPLAYED, IdempotencyKey, conditions
from service.http.context import provide_actor
from service.http.errors import describe_msgspec_error
from service.http.schemas import (
    EndpointCreate,
    EndpointUpdate,
    PhoneNumber,
    ProviderSettingsUpdate,
    error_responses,
    needs,
    present_fields,
)
from service.http.strict import decode_strict
from service.write import change_sets, commands, rules
from service.write.commands import MAX_CHANGE_SET_ITEMS, ChangeSet, EndpointChange
from service.write.conditions import Receipt, SettingsChangedError
from service.write.errors import FieldError, InvalidSettingsError
from service.write.log import aggregate_notifications

PATH = "/api/settings/changes"
MAX_CHANGE_SET_BYTES = 8 * 1024 * 1024
"""This route's body limit (the others keep 64 KiB): 10,000 items of every field at its longest fit."""
SETTINGS_VERSION = "X-Settings-Version"
FIXED = "is fixed for an endpoint: delete the endpoint and create it again to change it"


# -- the body --------------------------------------------------------------------------------------------------


class CreateItem(EndpointCreate, tag_field="op", tag="create"):
    """Create an endpoint: the fields of ``POST /api/settings/endpoints``."""


class UpdateItem(EndpointUpdate, tag_field="op", tag="update"):
    """Change an endpoint, named by ``id`` or ``phone_number``: the fields of ``PUT /api/settings/endpoints/{id}``."""

    id: UUID | UnsetType = UNSET
    phone_number: PhoneNumber | UnsetType = UNSET


class DeleteItem(Struct, forbid_unknown_fields=True, kw_only=True, tag_field="op", tag="delete"):
    """Delete an endpoint, named by ``id`` or ``phone_number``."""

    id: UUID | UnsetType = UNSET
    phone_number: PhoneNumber | UnsetType = UNSET


EndpointItem = CreateItem | UpdateItem | DeleteItem


class ChangeSetDocument(Struct, forbid_unknown_fields=True, kw_only=True):
    """A change set: a partial provider update and endpoint items, applied in one transaction or not at all."""

    telephony: ProviderSettingsUpdate | None = None
    # Up to MAX_CHANGE_SET_ITEMS, stated in the route's description rather than as maxItems: beyond it the answer is
    # 413 (a limit of the service), which JSON Schema clients would expect as 400/422 (an invalid document).
    endpoints: list[EndpointItem] = []


class _Body(Struct, forbid_unknown_fields=True, kw_only=True):
    telephony: msgspec.Raw = msgspec.Raw(b"null")  # msgspec takes no Raw in a union: null is checked below
    endpoints: list[msgspec.Raw] = []


class ItemResult(Struct, kw_only=True):
    op: Literal["create", "update", "delete"]
    id: str
    phone_number: str
    result: Literal["created", "updated", "unchanged", "deleted"]


class ChangeSetAnswer(Struct, kw_only=True):
    applied: bool
    change_set: str
    position: int | None
    telephony: Literal["updated", "unchanged"] | None
    endpoints: list[ItemResult]


# -- decoding, every problem at once ----------------------------------------------------------------------------


def parse(raw: bytes, change_set: UUID, since: int | None, dry_run: bool) -> tuple[ChangeSet, list[FieldError], list]:
    """The change set of the valid parts of ``raw``, the problems of the others (with their paths), and for each
    item of the change set its index in the request."""
    if not raw.strip():
        raise HTTPException(status_code=HTTP_400_BAD_REQUEST, detail="the request body must be a JSON object")
    try:
        body = msgspec.json.decode(raw, type=_Body)
    except msgspec.ValidationError as exc:
        raise InvalidSettingsError([describe_msgspec_error(str(exc))]) from None
    except msgspec.DecodeError:
        raise HTTPException(status_code=HTTP_400_BAD_REQUEST, detail="the request body is not valid JSON") from None
    if len(body.endpoints) > MAX_CHANGE_SET_ITEMS:
        raise HTTPException(
            status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            detail=f"a change set holds at most {MAX_CHANGE_SET_ITEMS:,} endpoint items; this one has "
            f"{len(body.endpoints):,}: split it",
        )
    errors: list[FieldError] = []
    telephony = None
    if bytes(body.telephony) != b"null":
        try:
            fields = present_fields(decode_strict(bytes(body.telephony), ProviderSettingsUpdate))
            telephony = commands.update_provider(fields)
        except InvalidSettingsError as exc:
            errors.extend(_under("telephony", exc.errors))
    items: list[EndpointChange] = []
    indexes: list[int] = []
    decode = msgspec.json.Decoder(EndpointItem).decode
    for index, raw_item in enumerate(body.endpoints):
        path = f"endpoints[{index}]"
        try:
            items.append(_item(decode(raw_item)))
        except msgspec.ValidationError as exc:
            errors.append(_item_error(path, str(exc)))
            continue
        except InvalidSettingsError as exc:
            errors.extend(_under(path, exc.errors))
            continue
        indexes.append(index)
    return ChangeSet(change_set, telephony, tuple(items), since=since, dry_run=dry_run), errors, indexes


def _under(path: str, errors: list[FieldError]) -> list[FieldError]:
    return [FieldError(f"{path}.{error.field}" if error.field != "body" else path, error.message) for error in errors]


def _item_error(path: str, text: str) -> FieldError:
    error = describe_msgspec_error(text, hints={"provider": FIXED})
    if error.field == "op":
        return FieldError(f"{path}.op", "must be create, update or delete")
    return FieldError(f"{path}.{error.field}" if error.field != "body" else path, error.message)


def _item(item: EndpointItem) -> EndpointChange:
    if isinstance(item, CreateItem):
        new = commands.new_endpoint(**present_fields(item))
        return EndpointChange("create", new=new)
    endpoint_id, phone_number = item.id, item.phone_number
    if endpoint_id is UNSET and phone_number is UNSET:
        raise InvalidSettingsError([FieldError("id", "is required (or phone_number): which endpoint to change")])
    if endpoint_id is not UNSET and phone_number is not UNSET:
        raise InvalidSettingsError([FieldError("phone_number", "name the endpoint by id or by phone_number, not both")])
    errors: list[FieldError] = []
    e164 = None
    if phone_number is not UNSET:
        try:
            e164 = rules.to_e164(phone_number)
        except ValueError as exc:
            errors.append(FieldError("phone_number", str(exc)))
    changes: dict[str, Any] = {}
    if isinstance(item, UpdateItem):
        changes = {name: value for name, value in present_fields(item).items() if name not in ("id", "phone_number")}
        try:
            changes = dict(commands.patch_endpoint(uuid4(), changes).changes)
        except InvalidSettingsError as exc:
            errors.extend(exc.errors)
    if errors:
        raise InvalidSettingsError(errors)
    return EndpointChange(
        "update" if isinstance(item, UpdateItem) else "delete",
        endpoint_id=endpoint_id if endpoint_id is not UNSET else None,
        phone_number=e164,
        changes=changes,
    )


_ITEM_PATH = re.compile(r"^endpoints\[(\d+)\]")


def _in_request(errors: list[FieldError], indexes: list[int]) -> list[FieldError]:
    """Errors of a change set made of some of the request's items, with the paths of the request."""
    return [
        FieldError(_ITEM_PATH.sub(lambda m: f"endpoints[{indexes[int(m.group(1))]}]", error.field), error.message)
        for error in errors
    ]


def _item_order(error: FieldError) -> tuple[int, int]:
    found = _ITEM_PATH.match(error.field)
    return (1, int(found.group(1))) if found else (0, 0)


def parse_settings_version(header: str | None) -> int | None | Literal[False]:
    """``If-Match`` of a change set: the settings version in its strong tag (``"42"``), ``None`` when absent or
    ``*``, ``False`` when it names no version (a weak or malformed tag never matches: 412)."""
    if header is None:
        return None
    tags = [tag.strip() for tag in header.split(",") if tag.strip()]
    if "*" in tags:
        return None
    versions = [int(tag[1:-1]) for tag in tags if re.fullmatch(r'"[0-9]{1,18}"', tag)]
    return min(versions) if versions else False


# -- the route ---------------------------------------------------------------------------------------------------

IfMatchVersion = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=False,
        min_length=1,
        max_length=1024,
        description='The settings version the change set was planned on, quoted (`"42"`: X-Settings-Version of '
        "GET /api/settings/endpoints or /telephony); 412 when any setting changed since. `*`: no check.",
    ),
]
DESCRIPTION = (
    "Scope: write. A partial provider update (`telephony`, the rules of PUT /api/settings/telephony) and up to "
    f"{MAX_CHANGE_SET_ITEMS:,} endpoint items (`op`: create, update or delete; an update or delete names its "
    "endpoint by `id` or `phone_number`), stored in one transaction: all of them, or, when any item is invalid, none "
    "(422, `errors` names every problem by its path, e.g. `endpoints[3].phone_number`). Each item stores the event "
    "its single route would, in item order, marked with the change set's id (audit: `change_set`). "
    f"Body limit {MAX_CHANGE_SET_BYTES // (1024 * 1024)} MiB. `dry_run=true`: the same answer, nothing stored (an "
    "Idempotency-Key is then not recorded)."
)


class ChangesController(Controller):
    path = PATH
    tags = ["Change sets"]

    @post(
        summary="Apply many settings changes at once, all or nothing",
        description=DESCRIPTION,
        security=needs("write"),
        status_code=200,
        request_max_body_size=MAX_CHANGE_SET_BYTES,
        responses=error_responses(400, 401, 403, 412, 413, 422, 503),
        response_headers=[
            ResponseHeader(
                name=SETTINGS_VERSION,
                description="The settings version after the change set (when it stored something)",
                documentation_only=True,
            )
        ],
    )
    async def apply_changes(
        self,
        request: Request,
        container: NamedDependency[Container],
        dry_run: Annotated[bool, QueryParameter(description="Decide and answer, store nothing")] = False,
        if_match: IfMatchVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[ChangeSetAnswer]:
        actor, raw_body = provide_actor(request), await request.body()
        since = parse_settings_version(if_match)
        change_set, errors, indexes = parse(raw_body, uuid4(), None if since is False else since, dry_run or False)
        if errors:
            # Decide the valid items too (storing nothing), so that the answer names every problem at once.
            try:
                await container.app.execute(replace(change_set, since=None, dry_run=True), actor)
            except InvalidSettingsError as exc:
                errors.extend(_in_request(exc.errors, indexes))
            errors.sort(key=_item_order)
            raise InvalidSettingsError(errors, detail=f"nothing was changed: the change set has {_count(errors)}")
        if since is False:  # a body worth deciding, with a precondition that cannot hold
            current = await sync_to_thread(container.app.recorder.max_notification_id)
            raise SettingsChangedError(
                "If-Match names no settings version: send X-Settings-Version quoted", current or 0
            )
        when = conditions(actor, None, None if dry_run else idempotency_key, "POST", PATH, raw_body)
        try:
            receipt = await container.app.execute(change_set, actor, when)
        except InvalidSettingsError as exc:
            raise InvalidSettingsError(_in_request(exc.errors, indexes), detail=exc.detail) from None
        position = receipt.position
        if receipt.replayed:
            position = await sync_to_thread(_recorded_position, container, actor.name, idempotency_key)
        return _answer(receipt, change_set, position)


def _count(errors: list[FieldError]) -> str:
    return f"{len(errors)} problem{'s' if len(errors) > 1 else ''}"


def _recorded_position(container: Container, actor: str, key: str | None) -> int | None:
    """The position of a replayed change set: its key's record, stored last in its transaction."""
    assert key is not None
    stored = aggregate_notifications(container.app.recorder, container.app.ids.idempotency(actor, key))
    return stored[0].id if stored else None


def _answer(receipt: Receipt, change_set: ChangeSet, position: int | None) -> Response[ChangeSetAnswer]:
    assert receipt.answer is not None
    body = {
        "applied": not change_set.dry_run,
        "change_set": str(receipt.resource_id),
        "position": None if change_set.dry_run else position,
        **change_sets.present(receipt.answer),
    }
    headers = {}
    if receipt.replayed:
        headers[REPLAYED] = "true"
    if position is not None and not change_set.dry_run:
        headers[SETTINGS_VERSION] = str(position)
    return Response(body, headers=headers)  # type: ignore[arg-type]
