"""The read side: the settings as they are shown.

Owns the read model (``read_model``: the ``projections`` folds kept current from the log), the queries over it
(``queries``), the point-in-time states (``past``) and the one presenter of endpoints and provider settings, for the
REST API and the NATS messages alike (``presenter``).

Imports ``write`` (the log reader and the errors), never ``http``, ``publish`` or ``audit``.
"""
