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
python scripts/train_pretrained.py --extra-config bundles/reproductions/diffusion_only/configs/diffusion_only.json --extra-config bundles/reproductions/self_supervised/configs/self_supervised.json --output-dir runs/self_supervised --max-epochs 18 --val-interval 6 --tracking mlflow --experiment_name self_supervised
cp runs/self_supervised/checkpoints/final_model.pt bundles/reproductions/self_supervised/models/model.pt
# DiffDenoise: the shipped blind-spot network and the retrained diffusion network (its commands, hours on one thread:
# docs/results/diffdenoise_retrained/train.sh), the student distilled again from them
B=bundles/reproductions/diffdenoise/models
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --weights bsn=$B/bsn.pt diffusion=docs/results/diffdenoise_retrained/diffusion.pt --output-dir runs/dd_student2 --max_epochs 800 --install
for suite in comparison unet_baseline noise_sweep ablation self_supervised; do
    python scripts/run_suite.py --suite "$suite"
    monai-nad compare --suite "$suite"
done
