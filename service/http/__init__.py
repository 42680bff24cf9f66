"""The HTTP interface: controllers that turn requests into typed commands and the read side into responses.

Owns the controllers (``telephony``, ``endpoints``, ``audit``, ``health``), the request and response schemas
(``schemas``), authentication (``auth``), the per-request context, access log and metrics (``context``), ETags and
conditional requests (``etags``, ``conditional``), point-in-time parameters (``moments``), strict bodies and query
parameters (``strict``), the error table (``errors``), the OpenAPI document and its UI (``openapi``) and the server
protocol (``server``).

Imports ``write``, ``read`` and ``audit``, and the wiring (``service.container``); nothing imports it but the wiring.
"""
