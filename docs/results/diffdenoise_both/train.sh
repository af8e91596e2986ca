# DiffDenoise's stages and the self-supervised Neural PDE fine-tuned on the noisy MNI *and* Colin27 training slabs
# (the weights shipped before saw MNI only), on 2 CPU cores (one thread per run). Never a clean image: the BSN and the
# diffusion learn from noisy slices, the student from the SRDS outputs.
# Steps 1-4 made DiffDenoise bundle 0.4.0 and self-supervised 0.3.0, each from the weights shipped before them (taken
# from the commit that last held them); steps 5-7 made DiffDenoise 0.5.0, whose diffusion network also reads the noisy
# image, from 0.4.0; step 8 made 0.6.0's student from 0.5.0's.
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=bundles/reproductions/diffdenoise/models
S=bundles/reproductions/self_supervised/models
V="['mni','colin27']"
# steps 1-8 ran on the 11 conditions (Rician and seed 002's families), the configs' default before step 9 added the scanner ones
C='$list(monai_nad.data.RICIAN_CONDITIONS + monai_nad.data.DIFFDENOISE_CONDITIONS)'
mkdir -p runs/init_0.3.0
for F in bsn.pt diffusion.pt model.pt; do git show 1d0eedb:$B/$F > runs/init_0.3.0/$F; done   # DiffDenoise 0.3.0
git show 1d0eedb:$S/model.pt > runs/init_0.3.0/self_supervised.pt                             # self-supervised 0.2.0
I=runs/init_0.3.0
# 1. the blind-spot network: 10 epochs (14.9 min)
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --conditions "$C" --stages bsn --output-dir runs/dd_both --max_epochs 10 --learning_rate 3e-4 \
    --init_ckpt $I/bsn.pt --train_volumes "$V"
# 2. the diffusion network conditioned on it: 20 epochs, independent-noise pairs, t >= 30 (34.2 min)
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --conditions "$C" --stages diffusion --output-dir runs/dd_both --weights bsn=runs/dd_both/bsn/model.pt \
    --max_epochs 20 --learning_rate 2.5e-4 --pairing independent --min_timestep 30 --init_ckpt $I/diffusion.pt --train_volumes "$V" \
    --condition_on_noisy False
# 3. the self-supervised Neural PDE: 6 epochs on the 11 conditions (Rician and seed 002's families) of both volumes (31 min)
OMP_NUM_THREADS=1 python scripts/train_pretrained.py --extra-config bundles/reproductions/diffusion_only/configs/diffusion_only.json \
    --extra-config bundles/reproductions/self_supervised/configs/self_supervised.json --max-epochs 6 --val-interval 6 --output-dir runs/ss_both \
    --learning_rate 5e-4 --init_ckpt_path $I/self_supervised.pt \
    --self_supervised_conditions "$C" --train_volumes "$V"
# 4. the student, distilled from the new SRDS pipeline from the student of 0.3.0: 20 epochs (38.5 min, most of it the
#    SRDS teacher outputs of one noisy draw per training slice)
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --conditions "$C" --stages student --output-dir runs/dd_both --weights bsn=runs/dd_both/bsn/model.pt \
    diffusion=runs/dd_both/diffusion/model.pt --max_epochs 20 --learning_rate 3e-4 --distill_per_slice 1 --init_ckpt $I/model.pt \
    --train_volumes "$V" --condition_on_noisy False --loss '$torch.nn.L1Loss()'
# install 0.4.0: the three DiffDenoise stages from runs/dd_both (the diffusion network and the student in float16), and the
# self-supervised Neural PDE with its training record
python scripts/train_diffdenoise.py --output-dir runs/dd_both --install --condition_on_noisy False   # every stage trained: installs only
cp runs/ss_both/checkpoints/final_model.pt $S/model.pt
cp runs/ss_both/training_info.json bundles/reproductions/self_supervised/docs/training_info.json
# 5. the diffusion network reads the noisy image too (condition_on_noisy: a third input channel, started at zero weights
#    from 0.4.0's network, so it starts as that network): 12 epochs (19.0 min)
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --conditions "$C" --stages diffusion --output-dir runs/dd_noisy --weights bsn=$B/bsn.pt --max_epochs 12 \
    --learning_rate 2.5e-4 --pairing independent --min_timestep 30 --init_ckpt $B/diffusion.pt --condition_on_noisy True
# 6. 12 more epochs from there, the learning rate's cosine restarted
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --conditions "$C" --stages diffusion --output-dir runs/dd_noisy2 --weights bsn=$B/bsn.pt --max_epochs 12 \
    --learning_rate 2.5e-4 --pairing independent --min_timestep 30 --init_ckpt runs/dd_noisy/diffusion/model.pt --condition_on_noisy True
# 7. the student distilled from that SRDS pipeline, from 0.4.0's student: 20 epochs; then install 0.5.0 (its record: this file)
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --conditions "$C" --stages student --output-dir runs/dd_noisy2 --weights bsn=$B/bsn.pt \
    diffusion=runs/dd_noisy2/diffusion/model.pt --max_epochs 20 --learning_rate 3e-4 --distill_per_slice 1 --init_ckpt $B/model.pt \
    --condition_on_noisy True --loss '$torch.nn.L1Loss()' --install
# 8. the same student, 10 more epochs against the same teacher outputs with the squared error (MSELoss, now
#    train_student.json's default) instead of the absolute error, at a lower learning rate; then install 0.6.0. Chosen by the
#    student's agreement with the SRDS teacher on noisy validation slices (no clean image): 39.36 dB (0.5.0) -> 40.92 dB;
#    40 further epochs at 2e-4 read 40.83 dB and were not kept (python docs/results/diffdenoise_both/student_agreement.py)
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --conditions "$C" --stages student --output-dir runs/dd_mse --weights bsn=$B/bsn.pt \
    diffusion=runs/dd_noisy2/diffusion/model.pt --max_epochs 10 --learning_rate 1e-4 --distill_per_slice 1 --init_ckpt $B/model.pt \
    --condition_on_noisy True --validation False --install
# From here on the configs' default conditions: the 11 and the scanner-noise simulation of BENCHMARK 1d (k-space filtered
# and 8 coils, s = 0.05 / 0.10: monai_nad.data.SCANNER_TRAINING_CONDITIONS), 15 in all.
# 9. the self-supervised Neural PDE 0.4.0: 6 epochs from 0.3.0 with 5 x 5 blocks hidden every 6 pixels (mask_radius 2,
#    mask_stride 6, now self_supervised.json's defaults), 24 min. Chosen by the Noise2Noise validation loss on noisy
#    validation pairs (no clean image) over 0.3.0 and over the same run with a one-pixel mask every 4 pixels (`--mask_radius 0
#    --mask_stride 4`, behind 0.3.0 on every scanner condition):
#    python docs/results/diffdenoise_both/noisy_validation.py --stage self_supervised OLD.pt runs/ss_scan_r2/checkpoints/final_model.pt
OMP_NUM_THREADS=1 python scripts/train_pretrained.py --extra-config bundles/reproductions/diffusion_only/configs/diffusion_only.json \
    --extra-config bundles/reproductions/self_supervised/configs/self_supervised.json --max-epochs 6 --val-interval 6 --output-dir runs/ss_scan_r2 \
    --learning_rate 3e-4 --init_ckpt_path $S/model.pt --train_volumes "$V"
cp runs/ss_scan_r2/checkpoints/final_model.pt $S/model.pt
cp runs/ss_scan_r2/training_info.json bundles/reproductions/self_supervised/docs/training_info.json
# 10. DiffDenoise 0.7.0: the diffusion network 12 epochs from 0.6.0's on the 15 conditions (independent-noise pairs, so
#     noise correlated across pixels is no shortcut; 19 min), then the student 20 epochs from 0.6.0's, distilled from that
#     SRDS pipeline (26 min of teacher outputs, 3 min of training); 0.6.0's blind-spot network is kept: fine-tuned on the 15
#     conditions with its one-pixel blind spot it learned the filtered noise (Noise2Noise validation loss 0.5-1.0 dB
#     higher on every scanner condition). Chosen by the Noise2Noise validation loss (no clean image, noisy_validation.py;
#     the outputs are in noisy_validation.md); then install 0.7.0.
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --stages diffusion --output-dir runs/dd_scan --weights bsn=$B/bsn.pt --max_epochs 12 \
    --learning_rate 2.5e-4 --pairing independent --min_timestep 30 --init_ckpt $B/diffusion.pt --condition_on_noisy True
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --stages student --output-dir runs/dd_scan --weights bsn=$B/bsn.pt \
    diffusion=runs/dd_scan/diffusion/model.pt --max_epochs 20 --learning_rate 2e-4 --distill_per_slice 1 --init_ckpt $B/model.pt \
    --condition_on_noisy True --validation False
python scripts/train_diffdenoise.py --output-dir runs/dd_scan --weights bsn=$B/bsn.pt --condition_on_noisy True --install   # installs only
