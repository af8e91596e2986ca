#!/usr/bin/env bash
# The shipped volume model (models/model_3d.pt) in two fine-tuning stages from the shipped 2D model, on 3D patches
# of the MNI and Colin27 training slabs (configs/volume.json + train_volume.json), MLflow-tracked and resumable.
# Stage 2 installs models/model_3d.pt and docs/training_info_volume.json.
set -euo pipefail
cd "$(dirname "$0")/.."
python scripts/train_real_scan.py --network volume --max-epochs 10 --epoch-length 250 --val-interval 2 --learning-rate 3e-4 \
    --output-dir runs/volume --no-install
python scripts/train_real_scan.py --network volume --init-checkpoint runs/volume/checkpoints/best_model.pt --learning-rate 1.5e-4 \
    --max-epochs 16 --epoch-length 250 --val-interval 2 --output-dir runs/volume_stage2
