"""The REST API on PostgreSQL: the same seeded rows, keyset pages over equal start times,
filters, and the schemathesis property-based run (no 500: e.g. a NUL byte or an id past
PostgreSQL's integer in a parameter must be a 400 or 404 there too)."""

from __future__ import annotations

import pytest

from tests.postgres import throwaway_database
from tests.unit import test_rest_api_schema
from tests.unit.rest_api_fixture import HIGH_LIMITS, seeded_api

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_api(tmp_path_factory):
    for url in throwaway_database():
        api = seeded_api(url, tmp_path_factory.mktemp("pg-api"), HIGH_LIMITS)  # schemathesis: many requests
        yield api
        with api.app.app_context():
            api.app.extensions["sqlalchemy"].engine.dispose()


def test_pages_filters_and_nul_bytes_on_postgresql(pg_api):
    ids, cursor = [], None
    while True:
        r = pg_api.get("/api/v1/calls?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200
        ids += [c["id"] for c in r.json["items"]]
        if (cursor := r.json["next_cursor"]) is None:
            break
    assert ids == pg_api.ids["calls"]
    assert [c["id"] for c in pg_api.get("/api/v1/calls?phone=89161234567").json["items"]] == \
        [pg_api.ids["calls"][i] for i in (0, 2, 3, 4)]
    assert [i["id"] for i in pg_api.get("/api/v1/inquiries?class=spam").json["items"]] == [pg_api.ids["inquiries"][1]]
    for url in ("/api/v1/calls?phone=%00", "/api/v1/inquiries?class=%00", "/api/v1/calls?cursor=%00"):
        assert pg_api.get(url).status_code == 400
    assert pg_api.get("/api/v1/calls/99999999999").status_code == 404


def test_a_property_based_run_finds_no_500_on_postgresql(pg_api):
    test_rest_api_schema.test_a_property_based_run_finds_no_500_and_no_response_off_the_document(pg_api)
