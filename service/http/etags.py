"""ETags: how the versions of a resource are written in ``ETag``, and read back from ``If-Match`` and
``If-None-Match``. The write side checks versions (``write.conditions``); only HTTP knows them as tags."""

from __future__ import annotations

import re

from service.write.conditions import Precondition, Versions


def endpoint_etag(version: int, provider_version: int) -> str:
    """Strong ETag of an endpoint's representation: its own version, and the provider settings' version (the
    representation includes ``inbound_webhook_url``, which follows ``public_base_url``)."""
    return f'"e{version}.p{provider_version}"'


def provider_etag(version: int) -> str:
    return f'"p{version}"'


def etag_of(versions: Versions) -> str:
    """The ETag of a resource whose state has these ``Versions`` (an endpoint's two, or the provider's one)."""
    return endpoint_etag(*versions) if len(versions) == 2 else provider_etag(versions[0])


_ENTITY_TAG = re.compile(r'"(?:e(\d{1,18})\.)?p(\d{1,18})"')


def parse_entity_tags(header: str | None) -> frozenset[str] | None:
    """The entity tags of an ``If-Match`` / ``If-None-Match`` header (``*`` kept as is); ``None`` when absent."""
    if header is None:
        return None
    return frozenset(tag.strip() for tag in header.split(",") if tag.strip())


def parse_if_match(header: str | None) -> Precondition | None:
    """``If-Match`` as the write side checks it: the versions its strong tags name. A weak tag (``W/"..."``) or one
    this service never gave names nothing, so it never matches (412), as RFC 9110's strong comparison says."""
    tags = parse_entity_tags(header)
    if tags is None:
        return None
    versions = set()
    for tag in tags:
        found = _ENTITY_TAG.fullmatch(tag)
        if found is not None:
            endpoint, provider = found.groups()
            versions.add((int(endpoint), int(provider)) if endpoint is not None else (int(provider),))
    return Precondition(any_version="*" in tags, versions=frozenset(versions))
