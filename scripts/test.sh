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

# The screen-pop tests need a real Redis: start a throwaway one where none answers.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "test: no Redis on 127.0.0.1:6379; starting one (nothing kept on disk)" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /tmp --logfile /tmp/pbx-crm-test-redis.log
    for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

# Build the lab root up front so its minute shows up here, not inside the first test.
.venv/bin/pbx-crm lab build >&2

exec .venv/bin/python -m pytest -ra "$@"
