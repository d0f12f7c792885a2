#!/usr/bin/env bash
# The whole test suite: unit tests, then the integration tests against a real Asterisk 22
# lab (built with debootstrap on first use, cached in /var/cache/pbx-crm), SQLite and,
# where one answers on 127.0.0.1:5432, PostgreSQL. Run as root on Debian 12.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -q).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

if [ -z "${PBX_CRM_TEST_POSTGRES_URL:-}" ] && \
   .venv/bin/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then
    export PBX_CRM_TEST_POSTGRES_URL="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    echo "test: PostgreSQL answers on 127.0.0.1:5432; the database tests run on it too" >&2
fi

# Build the lab root up front so its minute shows up here, not inside the first test.
.venv/bin/pbx-crm lab build >&2

exec .venv/bin/python -m pytest -ra "$@"
