#!/usr/bin/env bash
# Set up (including the browser-test tools), then run the whole test suite: the fast tests first
# (a failure shows within minutes), then the slow ones (-m slow). Arguments go to one pytest run
# instead (e.g. `scripts/test.sh -m "not slow"`, or a test file).
set -euo pipefail
cd "$(dirname "$0")/.."
# Several torch processes share the cores (builds beside the app or the tests): threads that wait
# passively instead of spinning keep each of them fast.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
bash scripts/setup.sh --test
if [ "$#" -gt 0 ]; then
    exec .venv/bin/python -m pytest "$@"
fi

run() {   # pytest's status, with 5 (no test selected) counted as success
    local status=0
    .venv/bin/python -m pytest "$@" || status=$?
    if [ "$status" -eq 5 ]; then status=0; fi
    return "$status"
}
run -m "not slow"
run -m slow
