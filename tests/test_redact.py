"""The one credential redactor (`urlparts.redact`): what it hides and what it leaves.

Every message that may quote a URL goes through it: fetch errors, the WebSub ping's
warnings, the full-text fetcher, database locations and PostgreSQL driver messages.
"""

from __future__ import annotations

import pytest

from aggregator.exceptions import StorageError
from aggregator.store import open_store
from aggregator.urlparts import redact


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # feed and hub URLs
        ("https://u:p@host/x?y#z", "https://***@host/x?y#z"),
        ("https://user@host:8080/", "https://***@host:8080/"),
        ("https://u:p@ss@host/", "https://***@host/"),  # an unencoded @ in the password
        ("HTTP://u:p@host", "HTTP://***@host"),
        # database URLs, the password also as a query parameter
        ("postgresql://u:s3cret@db.example:5432/agg", "postgresql://***@db.example:5432/agg"),
        ("postgres://u:p@ss@db/agg?sslmode=require", "postgres://***@db/agg?sslmode=require"),
        ("postgresql://db/agg?user=u&password=s3cret", "postgresql://db/agg?user=u&password=***"),
        ("postgresql://db/agg?sslpassword=k3y&x=1", "postgresql://db/agg?sslpassword=***&x=1"),
        ("postgresql://u:s3cret@[unclosed/db", "postgresql://***@[unclosed/db"),
        # a library's message quoting URLs in its middle (the driver's and httpx's do)
        (
            "invalid URI 'postgresql://u:s3cret@db/agg': bad port",
            "invalid URI 'postgresql://***@db/agg': bad port",
        ),
        (
            'Invalid port: "http://alice:pw@feeds.example:x/a" then https://bob:pw2@b.example/',
            'Invalid port: "http://***@feeds.example:x/a" then https://***@b.example/',
        ),
    ],
)
def test_credentials_are_hidden(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert redact(shown) == shown  # idempotent: a redacted location can be redacted again


@pytest.mark.parametrize(
    "text",
    [
        "https://host/path@not-userinfo",
        "https://host/?from=me@example.org",
        "https://host/#a@b",
        "write to press@example.org or see https://example.org/",
        "postgresql://db.example/agg",
        "not a url",
        "",
    ],
)
def test_what_holds_no_credentials_is_left_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:s3cret@db.example:5432/agg?password=s3cret&frob=1", "mysql://u:s3cret@db/x"],
)
def test_store_errors_never_show_the_password(url: str) -> None:
    with pytest.raises(StorageError) as caught:
        open_store(url)
    assert "s3cret" not in str(caught.value)
    assert "***" in str(caught.value)
