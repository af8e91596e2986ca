"""How closely the distilled student follows its SRDS teacher, without a clean image: the PSNR (data range 1) of each
student's output against the teacher's (DiffDenoise's installed pipeline) on noisy validation slices, median over 3
slices per cell, for each self-ensemble size. This, not a test cell, chose the student's loss and its self-ensemble.

Usage:
    python docs/results/diffdenoise_both/student_agreement.py STUDENT.pt [STUDENT.pt ...] [--self-ensemble 1 2 4 8]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from monai_nad.bundle import bundle_parser, find_reproduction
from monai_nad.engines import load_network_weights
from monai_nad.experiments.suites import suite_condition_arrays
from monai_nad.networks import SelfEnsemble

CELLS = [("mni", c) for c in ("gamma_500", "poisson_700", "poisson_200", "gaussian_6", "gamma_100", "rician_0.05", "rician_0.15", "correlated_1.2")] + [
    ("colin27", c) for c in ("gamma_500", "rician_0.10", "correlated_1.2")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("students", nargs="+")
    parser.add_argument("--self-ensemble", type=int, nargs="+", default=[1])
    args = parser.parse_args()
    torch.set_num_threads(1)
    bundle = find_reproduction("diffdenoise")
    config = bundle_parser(bundle, ["inference.json"], {"bundle_root": str(bundle)})
    teacher = config.get_parsed_content("pipeline_def").eval()
    variants = {f"{path} x{k}": SelfEnsemble(load_network_weights(config.get_parsed_content("student_def", lazy=False), path).eval(), k)
                for path in args.students for k in args.self_ensemble}
    rows: dict[str, list[float]] = {name: [] for name in variants}
    print("| cell | " + " | ".join(variants) + " |\n|---|" + "---|" * len(variants))
    for volume, condition in CELLS:
        noisy, _ = suite_condition_arrays("validation", condition, volume, limit=3)
        x = torch.from_numpy(noisy)[:, None]
        with torch.no_grad():
            target = teacher(x).clamp(0, 1).numpy()
            for name, student in variants.items():
                mse = ((student(x).clamp(0, 1).numpy() - target) ** 2).reshape(len(x), -1).mean(1)
                rows[name].append(float(np.median(10 * np.log10(1 / mse))))
        print(f"| {volume} {condition} | " + " | ".join(f"{rows[n][-1]:.2f}" for n in variants) + " |", flush=True)
    print("| **mean** | " + " | ".join(f"**{np.mean(v):.2f}**" for v in rows.values()) + " |")


if __name__ == "__main__":
    main()
