"""Browser tier: the console (``/console``) in a real Chromium, driven by Playwright, against the real ``serve``."""
