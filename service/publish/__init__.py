"""Publication: every stored change, in order, on NATS JetStream.

Owns the relay (``relay``: follows the log and publishes), what is published for one event (``publication``), which
process publishes (``lease``), the NATS connection (``nats_link``), the embedded nats-server (``nats_embedded``) and
the store's change notifications between replicas (``notify``).

Imports ``read`` and ``write``, never ``http`` or ``audit``.
"""
