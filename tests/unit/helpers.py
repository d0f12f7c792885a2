"""Shared by the unit tests: an in-memory database, an admin app with staff, and logging
in to the admin."""

from __future__ import annotations

import contextlib
import functools
import re

from pbx_daemon.crm import models as m
from pbx_daemon.db import make_engine, make_session_factory, seed_reference_data


# Test passwords need none of scrypt's cost (~0.2 s a hash and a check here, once per
# employee and per login: minutes over the suite). A login checks whatever method the
# stored hash names, so the admin's own code runs unchanged.
FAST_HASH = "pbkdf2:sha256:1000"


@functools.cache
def fast_hash(password: str) -> str:
    """A password hash the admin's login accepts, cheap to make and to check."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password, FAST_HASH)


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


@contextlib.contextmanager
def staffed_admin(url: str, people, env: dict | None = None, clock=None):
    """Inside the app context of a new admin app on a fresh database at ``url`` (schema,
    reference data, the departments "Sales" and "Support", and ``people`` as (login, role,
    department name or None), each logging in with ``<login>-Password-1``): yields (app,
    session, departments by name, employees by login). ``clock``: the admin's (``seconds()``),
    the system clock by default."""
    from admin.app import create_app
    from pbx_daemon.config import load_config

    app = create_app(load_config(None, {"PBX_CRM_DATABASE_URL": url,
                                        "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40, **(env or {})}),
                     clock=clock)
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        m.Base.metadata.create_all(s.get_bind())
        seed_reference_data(s)
        departments = {n: m.Department(name=n) for n in ("Sales", "Support")}
        s.add_all(departments.values())
        s.flush()
        staff = {login: m.Employee(full_name=login.title(), login=login, role=role,
                                   department_id=departments[dept].id if dept else None,
                                   password_hash=fast_hash(f"{login}-Password-1"))
                 for login, role, dept in people}
        s.add_all(staff.values())
        s.flush()
        yield app, s, departments, staff
