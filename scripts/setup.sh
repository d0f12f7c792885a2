#!/usr/bin/env bash
# Install what pbx-crm needs on Debian 12, as root, from the package registries only:
# Debian packages (Python, debootstrap for the Asterisk lab, Redis) and the project's
# Python dependencies into ./.venv. Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    log "run as root: it installs Debian packages and the Asterisk lab needs chroot/mount"
    exit 2
fi

# chromium + chromium-driver: the browser tests drive a real headless Chromium.
# sip-tester: sipp, the independent SIP peer that plays the lab's trunk in the burst test
# and bench/load.py (installed unless a sipp is already on PATH).
debs=(python3 python3-venv python3-pip debootstrap redis-server redis-tools ca-certificates
      chromium chromium-driver)
command -v sipp >/dev/null 2>&1 || debs+=(sip-tester)
missing=()
for pkg in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian package's Redis service is not needed: pbx-crm starts its own where none runs.
PY=${PBX_CRM_PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $($PY --version 2>&1)"
    "$PY" -m venv .venv
fi
stamp=.venv/.pbx-crm-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    log "installing Python packages into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
    touch "$stamp"
fi
log "ready: $(.venv/bin/pbx-crm --help >/dev/null && echo 'pbx-crm installed in .venv/bin')"
