#!/usr/bin/env bash
# The main job on embedded defaults: install, write var/pbx-crm.toml with fresh secrets
# (once), migrate the SQLite database, start a Redis if none answers on 127.0.0.1:6379,
# bring up the lab Asterisk, start the admin, then run the daemon in the foreground.
#   scripts/run.sh          run (Ctrl-C stops the daemon; the lab keeps running)
#   scripts/run.sh stop     stop the lab and the Redis this script started
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/setup.sh
export PBX_CRM_CONFIG=${PBX_CRM_CONFIG:-$root/var/pbx-crm.toml}
pbx=.venv/bin/pbx-crm
mkdir -p var

if [ "${1:-}" = stop ]; then
    $pbx lab down
    if [ -f var/redis.pid ]; then kill "$(cat var/redis.pid)" 2>/dev/null || true; rm -f var/redis.pid; fi
    exit 0
fi

[ -f "$PBX_CRM_CONFIG" ] || $pbx init-config "$PBX_CRM_CONFIG" --data-dir "$root/var"
$pbx check-config --quiet
$pbx db upgrade

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "run: no Redis on 127.0.0.1:6379; starting one (data in var/redis)" >&2
    mkdir -p var/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --dir "$root/var/redis" \
        --pidfile "$root/var/redis.pid" --logfile "$root/var/redis/redis.log"
fi

if [ ! -f var/admin-password ]; then
    ( umask 077; .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(12))" > var/admin-password )
    $pbx user add admin --name "Administrator" --role admin --password-stdin < var/admin-password \
        || $pbx user passwd admin --password-stdin < var/admin-password
fi

$pbx lab up >/dev/null
# The daemon reads the lab PBX's recordings and CEL log where the lab keeps them.
eval "$($pbx lab env)"
# Demo data (once): a sales department on the lab phones; the demo logins share the admin's
# password. `scripts/run.sh` on an existing database leaves it alone.
$pbx demo seed --password-stdin < var/admin-password

# The admin in the background, stopped with the daemon.
$pbx admin > var/admin.log 2>&1 &
admin_pid=$!
# The standby FastAGI: routes calls while the daemon is stopped or restarting.
$pbx agi-server > var/agi-server.log 2>&1 &
agi_pid=$!
# The scripted burst of demo calls once the daemon is connected (routed to owners,
# escalated, missed, a click-to-call back): its progress in var/demo.log.
if [ "${DEMO_CALLS:-1}" = 1 ]; then
    $pbx demo calls > var/demo.log 2>&1 &
    demo_pid=$!
fi
trap 'kill $admin_pid $agi_pid ${demo_pid:-} 2>/dev/null || true' EXIT
cat >&2 <<EOT
run: admin on http://127.0.0.1:8000: log in as admin (all), oleg (owner), vera (head),
     anna / boris (managers) or olga (cold-call operator); the password is in var/admin-password
run: open http://127.0.0.1:8000/screen-pop as anna to see callers' cards pop up
run: demo calls are being placed (var/demo.log); then see Analytics, Inquiries, My deals
run: lab up (PBX SIP 127.0.0.1:5060, ARI 127.0.0.1:8088); place your own calls in another terminal:
  export PBX_CRM_CONFIG=$PBX_CRM_CONFIG
  $pbx lab phone 101 answer --after 2 --hold 5
  $pbx lab call --from +79161234567 --to +74951110001 --name 'Ivan Petrov'
  $pbx call anna +79035550002
  $pbx lab events --follow
EOT
$pbx daemon
