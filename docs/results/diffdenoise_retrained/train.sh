B=bundles/reproductions/diffdenoise/models
# the first run, from the shipped diffusion weights; stopped after epoch 6 for the probes, then resumed by the same command
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --stages diffusion --output-dir runs/dd_indep --pairing independent --min_timestep 30 --bsn_ckpt $B/bsn.pt --init_ckpt $B/diffusion.pt --max_epochs 150
cp runs/dd_indep/diffusion/resume_checkpoint_epoch=6.pt runs/probe_shipped_init_e6.pt
# the probe from scratch, stopped after epoch 6
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --stages diffusion --output-dir runs/dd_indep_scratch --pairing independent --min_timestep 30 --bsn_ckpt $B/bsn.pt --max_epochs 150
cp runs/dd_indep_scratch/diffusion/resume_checkpoint_epoch=6.pt runs/probe_scratch_e6.pt
for P in shipped_init scratch; do OMP_NUM_THREADS=1 python scripts/diagnose_diffdenoise.py --diffusion runs/probe_${P}_e6.pt --conditions rician_0.05 correlated_0.5 --start-steps 150 none --timesteps 100 300 600 --json runs/probe_${P}_e6.json --output runs/probe_${P}_e6.md; done
# the first run's record folder (its float16 weights are the second run's start; git show 1db67b5:docs/results/diffdenoise_retrained/diffusion.pt)
python scripts/diagnose_diffdenoise.py --export-run runs/dd_indep --retrained docs/results/diffdenoise_retrained --training-commands docs/results/diffdenoise_retrained/train.sh --probe shipped_init=runs/probe_shipped_init_e6.json --probe scratch=runs/probe_scratch_e6.json
# the second run, continued from those weights (same recipe, the cosine schedule restarted over 100 epochs)
OMP_NUM_THREADS=1 python scripts/train_diffdenoise.py --stages diffusion --output-dir runs/dd_indep2 --pairing independent --min_timestep 30 --bsn_ckpt $B/bsn.pt --init_ckpt docs/results/diffdenoise_retrained/diffusion.pt --max_epochs 100
