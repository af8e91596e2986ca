#!/usr/bin/env bash
# The shipped volume model (models/model_3d.pt) in two fine-tuning stages from the 2D model of stage 8 of
# scripts/train_v1.sh (bundle 1.4.0's models/model.pt), on 3D patches of the MNI and Colin27 training slabs
# (configs/volume.json + train_volume.json), MLflow-tracked and resumable. Each stage installs models/model_3d.pt
# (float16) and docs/training_info_volume.json.
#   1. The 2D network becomes the slice network (same width, 64 features and a 32-wide detail head); its weights that
#      read the two neighbouring slices either side start at zero, and the two diffusion steps between slices are
#      learned from their initialisation. The recipe is the 2D model's last scanner-noise stage: 60 % simulated
#      acquisitions, 40 % of them one-coil partial Fourier, Colin27 weighed twice, noise levels told off by a random
#      12 %, the per-patch log-MSE loss. 12 epochs of 250 batches (about 48 min on one CPU thread); validation every 4
#      epochs picks epoch 12, the last (bundle 1.5.0).
#   2. The same recipe with each patch's noise simulated on the patch and 24 pixels of its surroundings, then cropped
#      (--simulation-margin 24; as stage 9 of scripts/train_v1.sh), 10 epochs (lr 1e-4, about 42 min); validation
#      every 2 epochs picks epoch 8 (bundle 1.6.0).
# The previous volume model (bundle 1.4.0 and before: six stages from the v1.1 2D model) is in git history.
# Usage: bash scripts/train_volume.sh [RUNS_DIR]   (the stages of scripts/train_v1.sh; default runs/v1.1)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/v1.1}
python scripts/train_real_scan.py --network volume --init-checkpoint "$RUNS/stage8/checkpoints/best_model.pt" \
    --features 64 --detail-features 32 --noise-std-jitter 0.12 --loss log_mse --learning-rate 2e-4 --scanner-prob 0.6 \
    --partial-fourier-share 0.4 --white-gain 0.6 --noise-std-range 0.005 0.25 --volume-weights 1 2 --max-epochs 12 \
    --epoch-length 250 --val-interval 4 --output-dir runs/volume
python scripts/train_real_scan.py --network volume --init-checkpoint bundles/neural_pde_denoising/models/model_3d.pt \
    --noise-std-jitter 0.12 --loss log_mse --learning-rate 1e-4 --scanner-prob 0.6 --partial-fourier-share 0.4 \
    --white-gain 0.6 --noise-std-range 0.005 0.25 --volume-weights 1 2 --simulation-margin 24 --max-epochs 10 \
    --epoch-length 250 --val-interval 2 --output-dir runs/volume_margin
