#!/usr/bin/env bash
# Regenerate everything in docs/results/ (a few hours on a 2-core CPU; finished trainings are reused).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python scripts/tune_baselines.py
python scripts/tune_baselines.py --noise rician --noise-stds 0.02 0.08 0.12 0.2 0.25 --methods bm3d nlm
# the learned baselines of the real-anatomy page, 900 s each on one thread (skipped when trained)
for network in pde dncnn unet pm_exponential ka foe_s; do
    folder=runs/real_anatomy/$([ "$network" = pde ] && echo neural_pde || echo "$network")
    [ -f "$folder/checkpoints/best_model.pt" ] || OMP_NUM_THREADS=1 python scripts/train_real_scan.py --network "$network" --time-budget 900 --output-dir "$folder"
done
python scripts/real_anatomy_results.py
python scripts/benchmark_real_anatomy.py
rm -f docs/results/volumes.json   # one fresh run of every part
OMP_NUM_THREADS=1 python scripts/benchmark_volumes.py
python scripts/train_diffusivity_family.py --max-epochs 3
python scripts/diffusivity_family_results.py
# the self-supervised Neural PDE (0.3.0) and DiffDenoise (0.5.0), each fine-tuned from the weights before it (taken from git
# history; hours on 2 CPU threads), then installed
bash docs/results/diffdenoise_both/train.sh
for suite in comparison unet_baseline noise_sweep ablation self_supervised; do
    python scripts/run_suite.py --suite "$suite"
    monai-nad compare --suite "$suite"
done
