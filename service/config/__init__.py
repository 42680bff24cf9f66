"""Settings as code: ``telephony-settings config export | plan | apply``, a client of a running service.

Owns the settings file (``files``: its format, read with line numbers, written by export; ``schema``: its JSON
Schema), the plan (``plan``: a pure diff of the service's state and a file, and its rendering), the HTTP client
(``client``) and the commands (``commands``).

Imports ``events``, ``projections`` and the pure rules of ``service.write.rules`` (the service's own E.164 and URL
normalisation, so a plan compares values as the service stores them); nothing that runs the service: it speaks to
one over HTTP.
"""
