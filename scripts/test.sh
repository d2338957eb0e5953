#!/usr/bin/env bash
# Set up (including the browser-test tools), then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# Several torch processes share the cores (builds beside the app or the tests): threads that wait
# passively instead of spinning keep each of them fast.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
