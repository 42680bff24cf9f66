"""The console: web pages for people, served by the service itself at ``/console``.

Owns the pages (sign in and out, provider settings, numbers, history), their templates and their static assets. The
pages are shells: what they show and change, the browser reads and writes through the REST API (``/api``) with the
console's session cookie, so the API's rules, scopes and conditional requests hold for the console exactly as for
any other client, and there is one implementation of each rule.

Imports ``http`` (the sessions), ``audit`` and ``write`` (names of event types and fields), and ``events``; nothing
below the wiring imports it.
"""
