#!/usr/bin/env bash
# The README's second command: installs what the tests need, then runs every test (unit, integration, e2e).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto mosquitto-clients)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v promtool >/dev/null || missing+=(prometheus)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    # Without recommends: docker-compose's would bring a Docker engine, prometheus's a node exporter, a few
    # minutes of a fresh machine's CI for nothing the tests use.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports
# Two workers, each with its own private servers (the session fixtures); a module's tests stay on one worker, so
# its module-scoped stack is started once. `-n 0` (given after) runs in one process.
exec .venv/bin/pytest -n 2 --dist loadfile "$@"
