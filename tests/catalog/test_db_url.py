"""Database URLs in messages never show their password."""

from __future__ import annotations

import pytest

from stockyard.catalog import Catalog
from stockyard.catalog.db import redact_db_url
from stockyard.types.errors import ConfigError


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:hunter2@db:5432/stockyard", "postgresql://app:***@db:5432/stockyard"),
        ("postgresql://app:p@ss@db/stockyard", "postgresql://app:***@db/stockyard"),
        ("postgresql://app@db/stockyard", "postgresql://app@db/stockyard"),
        ("sqlite:////var/lib/stockyard/catalog.db", "sqlite:////var/lib/stockyard/catalog.db"),
    ],
)
def test_passwords_are_masked(url: str, shown: str) -> None:
    assert redact_db_url(url) == shown


def test_an_invalid_url_error_does_not_leak_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        Catalog.open("postgresql+nosuchdriver://app:hunter2@db/stockyard")
    assert "hunter2" not in str(caught.value) and "app:***@db" in str(caught.value)
