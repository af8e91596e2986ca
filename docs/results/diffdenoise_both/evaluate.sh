# Scores the weights of this folder in the self_supervised suite (the MNI and Colin27 test slices, the suite's
# fixed noise), without touching the checkout: a scratch copy of the repository with these weights in its bundles.
# Writes /tmp/dd_both_eval/self_supervised.md (the suite's page for these methods; committed here as
# self_supervised_subset.md). About 15 minutes on one CPU thread.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
HERE="$ROOT/docs/results/diffdenoise_both"
COPY=/tmp/dd_both_repo
rm -rf "$COPY" && mkdir -p "$COPY"
(cd "$ROOT" && tar --exclude=./runs --exclude=./.venv --exclude=./.git -cf - .) | (cd "$COPY" && tar xf -)
M="$COPY/bundles/reproductions"
cp "$HERE/bsn.pt" "$M/diffdenoise/models/bsn.pt"
cp "$HERE/diffusion.pt" "$M/diffdenoise/models/diffusion.pt"
cp "$HERE/self_supervised.pt" "$M/self_supervised/models/model.pt"
cp "$HERE/student.pt" "$M/diffdenoise/models/model.pt"
cd "$COPY"
OMP_NUM_THREADS=1 PYTHONPATH="$COPY" python scripts/run_suite.py --suite self_supervised \
    --only blind_spot diffdenoise student neural_pde_self_supervised --output-dir "$COPY/runs/suites"
PYTHONPATH="$COPY" python -m monai_nad.cli compare --suite self_supervised --store "$COPY/runs/suites/mlflow.db" -o /tmp/dd_both_eval
