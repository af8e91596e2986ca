"""SRDS conditioned on another first stage: the bundle's diffusion network (0.7.0) given the self-supervised Neural
PDE's estimate (bundle 0.4.0, Noise2Self) in place of its blind-spot network's, without retraining, against both first
stages alone, on the first 5 *validation* slices of MNI and Colin27 per condition: BENCHMARK 1d's filtered and 8-coil
cells (where SRDS stays below the self-supervised Neural PDE and more than 1 dB below the supervised model on the
self_supervised page) and three of the other families. A diagnosis of the issue's bar, not a selection: nothing here is
trained or shipped.

Each row runs as the self_supervised suite runs it: on the scanner cells the slab as one scan with the N-coil
magnitude mean inverted by the std map and coil count estimated from its air (posterior mean); on Rician noise the
Rician mean inverted with a blind sigma (posterior mean); elsewhere nothing. The supervised shipped model is shown on
the scanner cells only, run as the command line runs it. Median PSNR in dB, outputs clipped to [0, 1]. Writes
``first_stage_probe.md`` beside this file.

    OMP_NUM_THREADS=1 python docs/results/diffdenoise_both/first_stage_probe.py    # about 18 minutes
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from monai_nad.bundle import bundle_parser, find_reproduction
from monai_nad.diffdenoise import BlindSpotStage
from monai_nad.experiments.evaluation import denoise_slices
from monai_nad.experiments.suites import SELF_SUPERVISED, self_supervised_network, suite_condition_arrays
from monai_nad.experiments.volume_benchmark import scan_method, shipped_models
from monai_nad.inference.inferer import noise_std_arguments
from monai_nad.inference.scan_inferer import RAW_NOISE_ESTIMATE
from monai_nad.metrics import median_scores
from monai_nad.networks import MagnitudeMeanInversion, RicianMeanInversion

HERE = Path(__file__).resolve().parent
CONDITIONS = ("scanner_filtered_0.05", "scanner_filtered_0.10", "scanner_sos8_0.05", "scanner_sos8_0.10", "rician_0.10", "gaussian_6", "correlated_0.5")


class LevelFromEstimate(torch.nn.Module):
    """A network that takes a noise level, told its blind estimate: a first stage called as ``stage(u)``."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.network(u, **noise_std_arguments(self.network, u))


def denoisers() -> dict[str, torch.nn.Module]:
    bundle = find_reproduction("diffdenoise")
    srds = bundle_parser(bundle, ["inference.json"], {"bundle_root": str(bundle)}).get_parsed_content("pipeline_def").with_sampling(True).eval()
    noise2self = self_supervised_network(SELF_SUPERVISED / "models" / "model.pt").eval()
    swapped = srds.with_sampling(True)
    swapped.blind_spot = LevelFromEstimate(noise2self)
    return {
        "blind-spot network (the bundle's first stage)": BlindSpotStage(srds),
        "self-supervised Neural PDE": noise2self,
        "SRDS on the blind-spot estimate (the bundle)": srds,
        "SRDS on the self-supervised Neural PDE's estimate": swapped,
    }


def runner(network: torch.nn.Module, condition: str) -> Callable[[np.ndarray], np.ndarray]:
    if condition.startswith("scanner_"):
        whole = scan_method(MagnitudeMeanInversion(network, posterior=True), None, "2d", noise_estimate="map", white_gain=RAW_NOISE_ESTIMATE, precision="float32")
        return lambda stack: whole(stack, 0.0)[0]
    model = RicianMeanInversion(network, posterior=True) if condition.startswith("rician") else network
    return lambda stack: denoise_slices(model, stack)[0]


if __name__ == "__main__":
    torch.set_num_threads(1)
    nets = denoisers()
    supervised = scan_method(shipped_models()[0], None, "2d", noise_estimate="map")
    columns = [(volume, condition) for volume in ("mni", "colin27") for condition in CONDITIONS]
    arrays = {key: suite_condition_arrays("validation", key[1], key[0], limit=5) for key in columns}
    header = " | ".join(f"{'MNI' if v == 'mni' else 'Colin27'} {c}" for v, c in columns)
    lines = ["# SRDS on another first stage: validation slices", "",
             "Produced by `OMP_NUM_THREADS=1 python docs/results/diffdenoise_both/first_stage_probe.py` (median PSNR in dB over the "
             "first 5 validation slices of each volume and condition, outputs clipped to [0, 1]; the bundle's diffusion network "
             "in both SRDS rows, not retrained for the second; its docstring has the corrections).", "",
             f"| denoiser | {header} |", "|---|" + "---|" * len(columns)]
    rows = {name: [median_scores(runner(net, c)(arrays[(v, c)][0]), arrays[(v, c)][1])["psnr"] for v, c in columns] for name, net in nets.items()}
    rows["supervised shipped model (clean references)"] = [
        median_scores(supervised(arrays[(v, c)][0], 0.0)[0], arrays[(v, c)][1])["psnr"] if c.startswith("scanner_") else None for v, c in columns
    ]
    for name, scores in rows.items():
        lines.append(f"| {name} | " + " | ".join("–" if s is None else f"{s:.2f}" for s in scores) + " |")
        print(lines[-1], flush=True)
    swap = np.array(rows["SRDS on the self-supervised Neural PDE's estimate"])
    gain = swap - np.array(rows["SRDS on the blind-spot estimate (the bundle)"])  # the swap against the bundle's SRDS
    over_first = swap - np.array(rows["self-supervised Neural PDE"])
    scanner = np.array([c.startswith("scanner_") for _, c in columns])
    gap = np.array([s for s in rows["supervised shipped model (clean references)"] if s is not None]) - swap[scanner]
    lines += ["", f"On the scanner cells SRDS on the Noise2Self estimate is {np.mean(gain[scanner]):+.2f} dB "
              f"(from {np.min(gain[scanner]):+.2f} to {np.max(gain[scanner]):+.2f}) against the bundle's SRDS "
              f"and {np.mean(over_first[scanner]):+.2f} dB against its own first stage; the supervised model is "
              f"{np.min(gap):.2f} to {np.max(gap):.2f} dB above it. On the other families: {np.mean(gain[~scanner]):+.2f} dB "
              f"against the bundle's SRDS (from {np.min(gain[~scanner]):+.2f} to {np.max(gain[~scanner]):+.2f}).", ""]
    (HERE / "first_stage_probe.md").write_text("\n".join(lines))
    print("\n".join(lines[-2:]))
