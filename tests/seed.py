"""The examples of the seed API reference (the "Settings" page), held once for every test that needs them.

These are copied from the API reference on purpose, as plain literals: the tests check the service against the
document, so they must not derive their expectations from the service code (``events.PROVIDER_FIELDS``,
``projections.ProviderConfig``, the OpenAPI examples in ``service.http``...). A mistake there must fail a test,
not move the expectation with it. Change a value here only when the API reference changes.

Treat these as read-only: copy one (``dict(TWILIO)``, ``{**TWILIO, ...}``) before changing it.
"""

from __future__ import annotations

# A valid Twilio account sid: the reference shows the placeholder "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", which the
# rules reject ("AC" and 32 hexadecimal digits).
TWILIO_SID = "AC0123456789abcdef0123456789abcdef"

# PUT /api/settings/telephony, the three provider examples (the Twilio sid made valid, as above).
TWILIO = {
    "provider": "twilio",
    "public_base_url": "https://your-domain.com",
    "twilio_account_sid": TWILIO_SID,
    "twilio_auth_token": "your_auth_token",
    "twilio_phone_number": "+15551234567",
    "twilio_max_concurrent": 10,
}
EXOTEL = {
    "provider": "exotel",
    "public_base_url": "https://your-domain.com",
    "exotel_account_sid": "your_sid",
    "exotel_api_key": "your_api_key",
    "exotel_api_token": "your_api_token",
    "exotel_phone_number": "+919876543210",
    "exotel_api_base": "https://api.exotel.com",
    "exotel_max_concurrent": 5,
}
VOBIZ = {
    "provider": "vobiz",
    "public_base_url": "https://your-domain.com",
    "vobiz_auth_id": "your_auth_id",
    "vobiz_auth_token": "your_auth_token",
    "vobiz_phone_number": "+919876543210",
    "vobiz_max_concurrent": 5,
}

# GET /api/settings/telephony before anything was configured: the sixteen fields of the reference's response, in
# its order, with their defaults (the provider and the concurrency limits; everything else unset).
SEED_DEFAULTS = {
    "provider": "twilio",
    "public_base_url": None,
    "twilio_account_sid": None,
    "twilio_auth_token": None,
    "twilio_phone_number": None,
    "twilio_max_concurrent": 10,
    "exotel_account_sid": None,
    "exotel_api_key": None,
    "exotel_api_token": None,
    "exotel_phone_number": None,
    "exotel_api_base": None,
    "exotel_max_concurrent": 5,
    "vobiz_auth_id": None,
    "vobiz_auth_token": None,
    "vobiz_phone_number": None,
    "vobiz_max_concurrent": 5,
}

# POST /api/settings/endpoints, the example body.
SUPPORT_LINE = {
    "phone_number": "+919876543210",
    "provider": "exotel",
    "inbound_agent_name": "support-agent",
    "outbound_agent_name": "sales-agent",
    "label": "Main support line",
}

# The fields of the reference's response to that POST (and of every endpoint the API shows), and updated_at, which
# the service adds to them.
ENDPOINT_RESPONSE_FIELDS = {
    "id",
    "phone_number",
    "provider",
    "inbound_agent_name",
    "outbound_agent_name",
    "label",
    "is_active",
    "created_at",
    "updated_at",
    "inbound_webhook_url",
}
