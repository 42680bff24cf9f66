"""The telephony-settings service: domain rules, the event-sourced write side, read models, HTTP and CLI."""
