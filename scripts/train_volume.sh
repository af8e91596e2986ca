#!/usr/bin/env bash
# The shipped volume model (models/model_3d.pt) in six fine-tuning stages from the v1.1 2D model (stage 4 of
# scripts/train_v1.sh, before its scanner-noise stage), on 3D patches
# of the MNI and Colin27 training slabs (configs/volume.json + train_volume.json), MLflow-tracked and resumable.
# Stages 1-2 fine-tune the slice network with its neighbouring slices as context; stage 3 adds two diffusion steps
# between neighbouring slices (slice_axis_steps 2) and fine-tunes everything; stage 4 tells the network a noise level
# off by a random factor (log-normal, 12 %) under the per-patch log-MSE loss, so that it tolerates a misread level,
# validates once at its end (so the installed weights are its last: validation tells the exact level, which would pick
# the least tolerant epoch); stage 5 adds scanner noise as the 2D model's stage 5 does (gain 0.6, the volume model's)
# stage 6 gives the slice network the noise's correlation widths in the slice plane as the 2D model's stage 6 does
# (correlation_input in configs/volume.json; stages 1-5 run without it) and installs models/model_3d.pt and
# docs/training_info_volume.json (about 2 h 15 min on 1-2 CPU threads in all).
set -euo pipefail
cd "$(dirname "$0")/.."
python scripts/train_real_scan.py --network volume --no-correlation-input --slice-axis-steps 0 --init-checkpoint runs/v1.1/stage4/checkpoints/best_model.pt --max-epochs 10 --epoch-length 250 --val-interval 2 \
    --learning-rate 3e-4 --output-dir runs/volume --no-install
python scripts/train_real_scan.py --network volume --no-correlation-input --slice-axis-steps 0 --init-checkpoint runs/volume/checkpoints/best_model.pt \
    --learning-rate 1.5e-4 --max-epochs 16 --epoch-length 250 --val-interval 2 --output-dir runs/volume_stage2 --no-install
python scripts/train_real_scan.py --network volume --no-correlation-input --slice-axis-steps 2 --init-checkpoint runs/volume_stage2/checkpoints/best_model.pt \
    --learning-rate 1.5e-4 --max-epochs 12 --epoch-length 250 --val-interval 2 --output-dir runs/volume_axis --no-install
python scripts/train_real_scan.py --network volume --no-correlation-input --init-checkpoint runs/volume_axis/checkpoints/best_model.pt --noise-std-jitter 0.12 \
    --loss log_mse --learning-rate 1e-4 --max-epochs 16 --epoch-length 250 --val-interval 16 --output-dir runs/volume_stage4 --no-install
python scripts/train_real_scan.py --network volume --no-correlation-input --init-checkpoint runs/volume_stage4/checkpoints/best_model.pt --noise-std-jitter 0.12 \
    --loss log_mse --learning-rate 2e-4 --scanner-prob 0.5 --white-gain 0.6 --noise-std-range 0.005 0.25 --max-epochs 12 \
    --epoch-length 250 --val-interval 12 --output-dir runs/volume_scanner --no-install
python scripts/train_real_scan.py --network volume --init-checkpoint runs/volume_scanner/checkpoints/best_model.pt --noise-std-jitter 0.12 \
    --loss log_mse --learning-rate 2e-4 --scanner-prob 0.5 --white-gain 0.6 --noise-std-range 0.005 0.25 --max-epochs 6 \
    --epoch-length 250 --val-interval 6 --output-dir runs/volume_correlation
