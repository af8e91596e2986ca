"""Which of two weights of a self-supervised stage denoises better, without a clean image: the Noise2Noise validation
loss, the mean squared difference between a network's output on one noisy validation slice and an independent second
acquisition of the same slice (``monai_nad.data.noisy_pairs``, the pairs the diffusion stage trains on).

With independent zero-mean noise, ``E|f(y1) - y2|^2 = E|f(y1) - E[y2]|^2 + var(y2)``: the second term does not depend on
the network, so the difference of two networks' losses is the difference of their squared errors against the mean
noisy image (which the magnitude-mean inversion then maps to the magnitude). It reads no clean image. Printed per
condition (``--slices`` validation slices of MNI and of Colin27 each, 3 by default), as the loss relative to the first weights' in dB
(positive: lower loss than the first).

Usage:
    python docs/results/diffdenoise_both/noisy_validation.py --stage bsn WEIGHTS.pt [WEIGHTS.pt ...]
    python docs/results/diffdenoise_both/noisy_validation.py --stage diffdenoise --slices 1 DIFFUSION.pt [DIFFUSION.pt ...]
    python docs/results/diffdenoise_both/noisy_validation.py --stage student STUDENT.pt [STUDENT.pt ...]
    python docs/results/diffdenoise_both/noisy_validation.py --stage self_supervised WEIGHTS.pt [WEIGHTS.pt ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from monai_nad.bundle import bundle_parser, find_reproduction
from monai_nad.data import DIFFDENOISE_CONDITIONS, RICIAN_CONDITIONS, SCANNER_TRAINING_CONDITIONS, noisy_pairs
from monai_nad.diffdenoise import BlindSpotStage
from monai_nad.engines import data_overrides
from monai_nad.experiments.suites import self_supervised_network
from monai_nad.inference.inferer import noise_std_arguments

CONDITIONS = list(RICIAN_CONDITIONS + DIFFDENOISE_CONDITIONS + SCANNER_TRAINING_CONDITIONS)


#: the DiffDenoise bundle's stages: the checkpoint key the weights replace, and the denoiser that is scored
DIFFDENOISE_STAGES = {"bsn": "bsn_ckpt", "diffdenoise": "diffusion_ckpt", "student": "student_ckpt"}


def _networks(stage: str, paths: list[str]) -> dict[str, torch.nn.Module]:
    if stage == "self_supervised":
        return {path: self_supervised_network(path).eval() for path in paths}
    bundle = find_reproduction("diffdenoise")
    nets = {}
    for path in paths:
        overrides = {"bundle_root": str(bundle), **data_overrides({DIFFDENOISE_STAGES[stage]: path})}  # the path stays data
        if stage == "bsn":  # a blind-spot network's radius r shows in its first layer, (2 r + 3) wide
            overrides["bsn_def#radius"] = (torch.load(path, map_location="cpu")["head.conv.weight"].shape[-1] - 3) // 2
        parser = bundle_parser(bundle, ["inference.json"], overrides)
        if stage == "student":
            nets[path] = parser.get_parsed_content("load_student").eval()
            continue
        pipeline = parser.get_parsed_content("pipeline_def")
        nets[path] = (BlindSpotStage(pipeline) if stage == "bsn" else pipeline.with_sampling(symmetric=True)).eval()
    return nets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=[*DIFFDENOISE_STAGES, "self_supervised"], required=True)
    parser.add_argument("--slices", type=int, default=3, help="validation slices per condition and volume")
    parser.add_argument("weights", nargs="+")
    args = parser.parse_args()
    if len(set(args.weights)) < 2 or len(set(args.weights)) != len(args.weights):
        parser.error("give two or more distinct weights files: the first is the reference of the others")
    missing = [path for path in args.weights if not Path(path).is_file()]
    if missing:
        parser.error(f"no such weights file: {', '.join(missing)}")
    torch.set_num_threads(1)
    nets = _networks(args.stage, args.weights)
    losses: dict[str, dict[str, list[float]]] = {name: {} for name in nets}
    for volume in ("mni", "colin27"):
        for condition in CONDITIONS:
            pairs = noisy_pairs("validation", [condition], limit=args.slices, volumes=[volume], seed=100)
            x = torch.from_numpy(np.stack([p["image"] for p in pairs]))
            y2 = np.stack([p["image_b"] for p in pairs])
            with torch.no_grad():
                for name, net in nets.items():
                    out = net(x, **noise_std_arguments(net, x)).numpy()  # a network taking a level gets the blind estimate
                    losses[name].setdefault(condition, []).append(float(np.mean((out - y2) ** 2)))
    names = list(nets)
    print(f"N2N validation loss relative to {names[0]} (dB, positive = lower loss), MNI / Colin27\n")
    print("| condition | " + " | ".join(names[1:]) + " |\n|---|" + "---|" * (len(names) - 1))
    gains: dict[str, list[float]] = {n: [] for n in names[1:]}
    for condition in CONDITIONS:
        base = losses[names[0]][condition]
        cells = []
        for n in names[1:]:
            g = [10 * np.log10(b / o) for b, o in zip(base, losses[n][condition])]
            gains[n].extend(g)
            cells.append(" / ".join(f"{v:+.3f}" for v in g))
        print(f"| {condition} | " + " | ".join(cells) + " |", flush=True)
    print("| **mean** | " + " | ".join(f"**{np.mean(v):+.3f}**" for v in gains.values()) + " |")


if __name__ == "__main__":
    main()
