#!/usr/bin/env bash
# Set up the environment and run the default (fast) test suite.  Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh"
# shellcheck disable=SC1091
. "${VENV:-$root/.venv}/bin/activate"
cd "$root"
python -m pytest -q -n 2 "$@"
