#!/usr/bin/env bash
# The main job: set up, then serve the app at once while the demo database builds beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
# Several torch processes share the cores (builds beside the app or the tests): threads that wait
# passively instead of spinning keep each of them fast.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
bash scripts/setup.sh
export ROBUSTNESS_DB="${ROBUSTNESS_DB:-cache/demo.duckdb}"
mkdir -p cache
echo "[demo] building $ROBUSTNESS_DB in the background (log: cache/build.log); the app fills in as stages finish"
.venv/bin/python -m core build --preset demo --db "$ROBUSTNESS_DB" > cache/build.log 2>&1 &
build_pid=$!
trap 'kill $build_pid 2>/dev/null || true' EXIT
.venv/bin/streamlit run streamlit_app.py "$@"
