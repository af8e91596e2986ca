#!/usr/bin/env bash
# Create (or reuse) a virtual environment and install monai_nad into it.
# Usage: source-free; called by run_tests.sh and quickstart.sh.  VENV overrides the location (default .venv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$root/.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
# torch: keep a GPU user's existing CUDA build; otherwise pin a known version (a CPU build where one is cached locally).
if ! python -c "import torch" >/dev/null 2>&1; then
    python -m pip install --quiet "${TORCH_SPEC:-torch==2.13.0}"
fi
# every extra: the quickstart's demo (nilearn, matplotlib), the baselines and the benchmarks (bm3d/bm4d: non-commercial
# licence, see NOTICE) and the tests; `pip install monai_nad` alone is the core (README "Install")
python -m pip install --quiet -e "$root[dev,all]"
