#!/usr/bin/env bash
# The README's first command: installs fleet into .venv and runs the whole system on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e .
exec .venv/bin/fleet up "$@"
