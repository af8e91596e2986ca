# DiffDenoise's stages and the self-supervised Neural PDE fine-tuned on the noisy MNI *and* Colin27 training slabs
# (the weights shipped before saw MNI only), each from its shipped weights, on 2 CPU cores (one thread per run).
# Never a clean image: the BSN and the diffusion learn from noisy slices, the student from the SRDS outputs.
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=bundles/reproductions/diffdenoise/models
V="['mni','colin27']"
# 1. the blind-spot network: 10 epochs (14.9 min)
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --stages bsn --output-dir runs/dd_both --max_epochs 10 --learning_rate 3e-4 \
    --init_ckpt $B/bsn.pt --train_volumes "$V"
# 2. the diffusion network conditioned on it: 20 epochs, independent-noise pairs, t >= 30 (34.2 min)
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --stages diffusion --output-dir runs/dd_both --weights bsn=runs/dd_both/bsn/model.pt \
    --max_epochs 20 --learning_rate 2.5e-4 --pairing independent --min_timestep 30 --init_ckpt $B/diffusion.pt --train_volumes "$V"
# 3. the self-supervised Neural PDE: 6 epochs on the 11 conditions (Rician and seed 002's families) of both volumes (about 30 min)
OMP_NUM_THREADS=1 python scripts/train_pretrained.py --extra-config bundles/reproductions/diffusion_only/configs/diffusion_only.json \
    --extra-config bundles/reproductions/self_supervised/configs/self_supervised.json --max-epochs 6 --val-interval 6 --output-dir runs/ss_both \
    --learning_rate 5e-4 --init_ckpt_path bundles/reproductions/self_supervised/models/model.pt \
    --self_supervised_conditions "\$list(monai_nad.data.RICIAN_CONDITIONS + monai_nad.data.DIFFDENOISE_CONDITIONS)" --train_volumes "$V"
# 4. the student, distilled from the new SRDS pipeline from the shipped student: 20 epochs (38.5 min, most of it the
#    SRDS teacher outputs of one noisy draw per training slice)
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --stages student --output-dir runs/dd_both --weights bsn=runs/dd_both/bsn/model.pt \
    diffusion=runs/dd_both/diffusion/model.pt --max_epochs 20 --learning_rate 3e-4 --distill_per_slice 1 --init_ckpt $B/model.pt --train_volumes "$V"
# install: the three DiffDenoise stages from runs/dd_both (each trained stage is skipped; the diffusion network and the
# student in float16, the times from each stage's record), and the self-supervised Neural PDE with its training record
python scripts/train_diffdenoise.py --output-dir runs/dd_both --install
cp runs/ss_both/checkpoints/final_model.pt bundles/reproductions/self_supervised/models/model.pt
cp runs/ss_both/training_info.json bundles/reproductions/self_supervised/docs/training_info.json
