"""Shared by the unit tests: an in-memory database and logging in to the admin."""

from __future__ import annotations

import contextlib
import re

from pbx_daemon.crm import models as m
from pbx_daemon.db import make_engine, make_session_factory, seed_reference_data


@contextlib.contextmanager
def memory_session():
    """A session on a fresh in-memory SQLite with the schema and reference data."""
    engine = make_engine("sqlite://")
    m.Base.metadata.create_all(engine)
    try:
        with make_session_factory(engine)() as session:
            seed_reference_data(session)
            yield session
    finally:
        engine.dispose()


def admin_login(app, who: str, password: str | None = None):
    """A test client logged in as ``who`` (password ``<who>-Password-1`` unless given)."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"login": who, "password": password or f"{who}-Password-1",
                                "csrf_token": token})
    return client
