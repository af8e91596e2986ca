"""Where the self-supervised denoisers lose at high noise: the exact inversion of the magnitude mean against the
posterior-mean signal (``monai_nad.transforms.posterior_magnitude``), on *validation* slices (never the test slabs).

Each learned self-supervised denoiser of ``docs/results/self_supervised.md`` (the DiffDenoise bundle's blind-spot
network, SRDS and student; the self-supervised Neural PDE) runs as that suite runs it: on the Rician conditions
through ``RicianMeanInversion`` with the blind level, on the scanner conditions (BENCHMARK 1d's validation cells, the
first slices) as one scan through ``MagnitudeMeanInversion`` with the std map and coil count estimated from its air.
Each once with the exact inversion and once with ``posterior=True``. PSNR (dB, data range 1, clipped to [0, 1], mean
over the slices) of the whole slice, and the squared error split between the air (reference < 0.05) and the rest.
The clean references are read to *look*: nothing here was trained or selected on them (the posterior's two inputs,
the estimate's error and the prior, come from the corrected image itself).

    OMP_NUM_THREADS=1 python docs/results/diffdenoise_both/post_correction_probe.py    # about 20 minutes
    python docs/results/diffdenoise_both/post_correction_probe.py --summary-only     # the summary again from the table

Prints the table and the mean change per denoiser and noise family, and writes both to ``post_correction_probe.md``
beside this file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from monai_nad.bundle import bundle_parser, find_reproduction
from monai_nad.diffdenoise import BlindSpotStage
from monai_nad.experiments.suites import self_supervised_network, suite_condition_arrays
from monai_nad.experiments.volume_benchmark import scan_method
from monai_nad.inference import RAW_NOISE_ESTIMATE
from monai_nad.inference.inferer import noise_std_arguments
from monai_nad.networks import MagnitudeMeanInversion, RicianMeanInversion

HERE = Path(__file__).resolve().parent
CONDITIONS = ("rician_0.05", "rician_0.10", "rician_0.15", "scanner_filtered_0.05", "scanner_filtered_0.10", "scanner_sos8_0.05", "scanner_sos8_0.10")
AIR = 0.05


def _networks() -> dict[str, torch.nn.Module]:
    bundle = find_reproduction("diffdenoise")
    parser = bundle_parser(bundle, ["inference.json"], {"bundle_root": str(bundle)})
    pipeline = parser.get_parsed_content("pipeline_def").eval()
    return {
        "blind_spot": BlindSpotStage(pipeline),
        "diffdenoise": pipeline.with_sampling(symmetric=True),
        "student": parser.get_parsed_content("load_student").eval(),
        "neural_pde_self_supervised": self_supervised_network(str(find_reproduction("self_supervised") / "models" / "model.pt")).eval(),
    }


def _denoise(network: torch.nn.Module, condition: str, noisy: np.ndarray, posterior: bool) -> np.ndarray:
    if condition.startswith("scanner_"):
        run = scan_method(MagnitudeMeanInversion(network, posterior=posterior), None, "2d", noise_estimate="map",
                          white_gain=RAW_NOISE_ESTIMATE, precision="float32")
        return run(noisy, 0.0)[0]
    wrapped = RicianMeanInversion(network, posterior=posterior)
    x = torch.from_numpy(noisy)[:, None]
    with torch.no_grad():
        return wrapped(x, **noise_std_arguments(wrapped, x))[:, 0].numpy()


def summary(table: list[str]) -> list[str]:
    """The mean, least and largest PSNR change (posterior - exact) per denoiser and noise family, from the table's rows."""
    changes: dict[tuple[str, str], list[float]] = {}
    for row in table:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[0] in CONDITIONS:
            family = "Rician" if cells[0].startswith("rician") else "scanner"
            changes.setdefault((cells[2], family), []).append(float(cells[4]) - float(cells[3]))
    lines = ["", "## PSNR change, posterior - exact (dB, over the cells of each family)", "",
             "| denoiser | noise | mean | least | largest |", "|---|---|---|---|---|"]
    for (name, family), values in changes.items():
        lines.append(f"| {name} | {family} | {np.mean(values):+.2f} | {min(values):+.2f} | {max(values):+.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=3, help="validation slices per cell")
    parser.add_argument("--summary-only", action="store_true", help="recompute the summary from the written table")
    args = parser.parse_args()
    out = HERE / "post_correction_probe.md"
    if args.summary_only:
        if not out.is_file():
            parser.error(f"no table to summarise: {out} is missing (run without --summary-only first)")
        table = out.read_text().split("\n## PSNR change")[0].rstrip("\n").splitlines()
        out.write_text("\n".join(table + summary(table)) + "\n")
        print("\n".join(summary(table)))
        return
    torch.set_num_threads(1)
    nets = _networks()
    lines = [
        "# The magnitude-mean inversion at high noise: exact against posterior mean (validation slices)",
        "",
        "Produced by `OMP_NUM_THREADS=1 python docs/results/diffdenoise_both/post_correction_probe.py` (its docstring has "
        f"the set-up): the first {args.slices} validation slices of MNI and Colin27 per condition, each denoiser as "
        "`docs/results/self_supervised.md` runs it, its output inverted exactly (`exact`) or by the posterior mean "
        "(`posterior`, `monai_nad.transforms.posterior_magnitude`). PSNR in dB; `air` / `rest`: the mean squared "
        f"error (x 1e4) over the pixels whose reference is below / above {AIR}. Clean references are read only to score.",
        "",
        "| condition | volume | denoiser | PSNR exact | PSNR posterior | air exact | air posterior | rest exact | rest posterior |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for condition in CONDITIONS:
        for volume in ("mni", "colin27"):
            noisy, clean = suite_condition_arrays("validation", condition, volume, limit=args.slices)
            noisy, clean = noisy.astype(np.float32), clean.astype(np.float64)
            air = clean < AIR
            for name, net in nets.items():
                cells = []
                for posterior in (False, True):
                    err = (np.clip(_denoise(net, condition, noisy, posterior), 0.0, 1.0) - clean) ** 2
                    psnr = float(np.mean([10 * np.log10(1.0 / e.mean()) for e in err]))
                    cells.append((psnr, 1e4 * err[air].mean(), 1e4 * err[~air].mean()))
                (p0, a0, r0), (p1, a1, r1) = cells
                lines.append(f"| {condition} | {volume} | {name} | {p0:.2f} | {p1:.2f} | {a0:.1f} | {a1:.1f} | {r0:.1f} | {r1:.1f} |")
                print(lines[-1], flush=True)
    lines += summary(lines)
    print("\n".join(summary(lines)))
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
