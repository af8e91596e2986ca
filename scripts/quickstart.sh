#!/usr/bin/env bash
# Set up the environment and run the main job: denoise the embedded MNI sample with the shipped bundle,
# write the denoised NIfTI and a side-by-side PNG, and print PSNR/SSIM before and after.
# Extra arguments go to `monai-nad demo` (e.g. -o another/folder --device cuda).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh"
# shellcheck disable=SC1091
. "${VENV:-$root/.venv}/bin/activate"
cd "$root"
monai-nad demo --overwrite "$@"
