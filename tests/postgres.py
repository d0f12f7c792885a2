"""A throwaway PostgreSQL database for the tests that need the real server: created on
PBX_CRM_TEST_POSTGRES_URL's server, dropped (with its connections) afterwards; the test is
skipped when no such server is named (scripts/test.sh names the local one when it answers)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text


def throwaway_database() -> Iterator[str]:
    url = os.environ.get("PBX_CRM_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PBX_CRM_TEST_POSTGRES_URL is not set and no PostgreSQL answered")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"pbxcrm_test_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def migrated_sessions(backend: str, tmp_path: Path):
    """A session factory on a database migrated to the head: ``backend`` "sqlite" (a file
    in ``tmp_path``) or "postgresql" (a throwaway one, skipped without a server). For
    fixtures with ``params=["sqlite", "postgresql"]``."""
    from pbx_daemon import db

    gen = iter([f"sqlite:///{tmp_path}/pbx.sqlite3"]) if backend == "sqlite" else throwaway_database()
    url = next(gen)
    try:
        db.upgrade(url)
        engine = db.make_engine(url)
        try:
            yield db.make_session_factory(engine)
        finally:
            engine.dispose()
    finally:
        next(gen, None)
