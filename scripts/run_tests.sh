#!/usr/bin/env bash
# Set up the environment and run the tests.
#   bash scripts/run_tests.sh          default tier: unit and property tests (a few minutes on 2 cores)
#   bash scripts/run_tests.sh --full   full tier: also the end-to-end runs (bundle training, suites, benchmarks); what CI runs
# Other arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh"
# shellcheck disable=SC1091
. "${VENV:-$root/.venv}/bin/activate"
cd "$root"
tier=(-m "not slow")
if [ "${1:-}" = "--full" ]; then
    tier=(-m "slow or not slow")
    shift
fi
python -m pytest -q -n 2 "${tier[@]}" "$@"
