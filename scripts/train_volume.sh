#!/usr/bin/env bash
# The shipped volume model (models/model_3d.pt) in three fine-tuning stages from the shipped 2D model, on 3D patches
# of the MNI and Colin27 training slabs (configs/volume.json + train_volume.json), MLflow-tracked and resumable.
# Stages 1-2 fine-tune the slice network with its neighbouring slices as context; stage 3 adds two diffusion steps
# between neighbouring slices (slice_axis_steps 2) and fine-tunes everything, then installs models/model_3d.pt and
# docs/training_info_volume.json (about 75 min on one CPU thread in all).
set -euo pipefail
cd "$(dirname "$0")/.."
python scripts/train_real_scan.py --network volume --slice-axis-steps 0 --max-epochs 10 --epoch-length 250 --val-interval 2 \
    --learning-rate 3e-4 --output-dir runs/volume --no-install
python scripts/train_real_scan.py --network volume --slice-axis-steps 0 --init-checkpoint runs/volume/checkpoints/best_model.pt \
    --learning-rate 1.5e-4 --max-epochs 16 --epoch-length 250 --val-interval 2 --output-dir runs/volume_stage2 --no-install
python scripts/train_real_scan.py --network volume --slice-axis-steps 2 --init-checkpoint runs/volume_stage2/checkpoints/best_model.pt \
    --learning-rate 1.5e-4 --max-epochs 12 --epoch-length 250 --val-interval 2 --output-dir runs/volume_axis
