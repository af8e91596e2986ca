"""SRDS with the diffusion network conditioned on the blind-spot estimate alone (bundle 0.4.0, step 2 of ``train.sh``)
against the one that reads the noisy image too, after 12 and 24 epochs (steps 5 and 6), on the first 5 Colin27
*validation* slices of the two cells where 0.4.0's SRDS was below the self-supervised Neural PDE. The same arrays and
metric code as the self_supervised suite (median PSNR in dB, outputs clipped to [0, 1]), the validation split. Writes
``condition_probe.md`` beside this file. It needs the runs of ``train.sh`` (``runs/dd_both``, ``runs/dd_noisy``,
``runs/dd_noisy2``).

    OMP_NUM_THREADS=1 python docs/results/diffdenoise_both/condition_probe.py    # about 4 minutes
"""
from pathlib import Path

import torch

from monai_nad.bundle import bundle_parser, find_reproduction
from monai_nad.experiments.evaluation import denoise_slices
from monai_nad.experiments.suites import suite_condition_arrays
from monai_nad.metrics import median_scores

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
BUNDLE = find_reproduction("diffdenoise")
CHECKPOINTS = {  # label -> (weights, reads the noisy image)
    "estimate alone (0.4.0)": (ROOT / "runs/dd_both/diffusion/model.pt", False),
    "with the noisy image, 12 epochs": (ROOT / "runs/dd_noisy/diffusion/model.pt", True),
    "with the noisy image, 24 epochs (0.5.0)": (ROOT / "runs/dd_noisy2/diffusion/model.pt", True),
}
CELLS = ("gamma_500", "poisson_700")


def pipeline(weights: Path, reads_noisy: bool) -> torch.nn.Module:
    parser = bundle_parser(BUNDLE, ["inference.json"], {"bundle_root": str(BUNDLE)})
    parser["condition_on_noisy"], parser["diffusion_ckpt"] = reads_noisy, str(weights)
    return parser.get_parsed_content("pipeline_def").eval()


if __name__ == "__main__":
    torch.set_num_threads(1)
    lines = ["# SRDS: the diffusion network's condition, Colin27 validation slices", "",
             "Produced by `OMP_NUM_THREADS=1 python docs/results/diffdenoise_both/condition_probe.py` (median PSNR in dB over "
             "the first 5 validation slices, outputs clipped to [0, 1]; the blind-spot network of bundle 0.4.0 in every row).", "",
             "| diffusion network | " + " | ".join(CELLS) + " |", "|---|" + "---|" * len(CELLS)]
    arrays = {c: suite_condition_arrays("validation", c, "colin27", limit=5) for c in CELLS}
    for label, (weights, reads_noisy) in CHECKPOINTS.items():
        model = pipeline(weights, reads_noisy)
        scores = [median_scores(denoise_slices(model, arrays[c][0])[0], arrays[c][1])["psnr"] for c in CELLS]
        lines.append(f"| {label} | " + " | ".join(f"{s:.2f}" for s in scores) + " |")
        print(lines[-1], flush=True)
    (HERE / "condition_probe.md").write_text("\n".join(lines) + "\n")
