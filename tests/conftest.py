"""Shared fixtures: a real PostgreSQL database per test, and the store URL of either backend;
the hypothesis profile for CI.

PostgreSQL tests need a server: `AGGREGATOR_TEST_POSTGRES` names a URL whose role may
create databases (`.ci/run` starts a throwaway cluster and sets it). Without it they skip,
so a developer without PostgreSQL still gets a green run. Each test gets a database of
its own, created and dropped here, so tests can run in parallel (pytest-xdist).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed sequence of examples, so a submission passes or
# fails on its code, not on the draw; developers keep random exploration (and its
# database of past failures) locally.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

POSTGRES_ENV = "AGGREGATOR_TEST_POSTGRES"
NO_POSTGRES = (
    f"{POSTGRES_ENV} is not set: no PostgreSQL server to test against "
    "(.ci/run starts one; or export a postgresql:// URL of a role allowed to create databases)"
)


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path="/" + name).geturl()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, empty UTF8 database, dropped after the test."""
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip(NO_POSTGRES)
    import psycopg
    from psycopg import sql

    name = "aggtest_" + uuid.uuid4().hex[:20]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(name)
            )
        )
    try:
        yield with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A `--db` value for each backend: a SQLite path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "agg.sqlite")
    url: str = request.getfixturevalue("postgres_url")
    return url
