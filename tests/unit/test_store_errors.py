"""What a start that cannot reach PostgreSQL shows: libpq's reason on one line, never the password, not even cut
out of the text (a short password would still show where it was cut)."""

from __future__ import annotations

from service.write.store import postgres_location, shown_reason


def test_libpq_reason_is_shown_on_one_line() -> None:
    text = 'connection to server at "db", port 5432 failed: FATAL:  password authentication failed\nfor user "app"'
    assert shown_reason(text, "s3cret-pw") == (
        'connection to server at "db", port 5432 failed: FATAL: password authentication failed for user "app"'
    )


def test_a_message_that_contains_the_password_is_not_shown_at_all() -> None:
    for password in ("5", "app", "s3cret-pw"):
        text = f'connection to server at "db", port 5432 failed for user "app" (s3cret-pw) {password}'
        shown = shown_reason(text, password)
        assert "its message is not shown: it contains the password" in shown
        assert password not in shown.replace("password", "")


def test_the_location_has_the_libpq_options_and_never_the_password() -> None:
    env = {
        "POSTGRES_USER": "app",
        "POSTGRES_PASSWORD": "s3cret-pw",
        "POSTGRES_HOST": "db.example",
        "POSTGRES_PORT": "5433",
        "POSTGRES_DBNAME": "settings",
        "POSTGRES_LIBPQ_SSLMODE": "verify-full",
        "POSTGRES_LIBPQ_SSLROOTCERT": "/etc/ssl/ca.pem",
    }
    assert postgres_location(env) == (
        "postgresql://app@db.example:5433/settings?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem"
    )
