#!/usr/bin/env bash
# The README's first command: installs fleet into .venv and runs the whole system on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
# Mosquitto gives the demo MQTT v5 and per-vehicle access control; without it fleet up falls back to an
# in-process broker without either. Installed when this machine lets us (root or sudo, Debian's apt).
if ! command -v mosquitto >/dev/null && command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    if $sudo true 2>/dev/null; then
        $sudo apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends mosquitto \
            || echo "could not install mosquitto; fleet up uses its in-process broker" >&2
    fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e .
exec .venv/bin/fleet up "$@"
