"""SRDS of the DiffDenoise bundle's installed weights (those trained by this folder's ``train.sh``: bundle 0.4.0) at
several truncation points (``start_step``) on the first 4 Colin27 *validation* slices per condition (never the test
slabs). PSNR (dB, data range 1, outputs clipped to [0, 1], median
over the slices) of the raw output: no Rician mean inversion, so the Rician row reads lower than the suite's.
Prints the table and writes it to ``start_step_probe.md`` beside this file.

    OMP_NUM_THREADS=1 python docs/results/diffdenoise_both/start_step_probe.py    # about 10 minutes
"""
from pathlib import Path

import numpy as np
import torch
from monai.bundle import ConfigParser

from monai_nad.data import condition_arrays

HERE = Path(__file__).resolve().parent
BUNDLE = HERE.parents[2] / "bundles" / "reproductions" / "diffdenoise"

if __name__ == "__main__":
    torch.set_num_threads(1)
    parser = ConfigParser()
    parser.read_config(str(BUNDLE / "configs" / "common.json"))
    parser["bundle_root"], parser["bsn_ckpt"], parser["diffusion_ckpt"] = str(BUNDLE), str(BUNDLE / "models" / "bsn.pt"), str(BUNDLE / "models" / "diffusion.pt")
    pipeline = parser.get_parsed_content("pipeline_def").eval()
    lines = [
        "# SRDS against its truncation point, Colin27 validation slices",
        "",
        "Produced by `OMP_NUM_THREADS=1 python docs/results/diffdenoise_both/start_step_probe.py` (the bundle's weights, 0.4.0; "
        "PSNR in dB, median over the first 4 validation slices per condition, raw outputs clipped to [0, 1], no Rician mean inversion).",
        "",
        "| condition | start 50 | start 100 | start 200 | start 300 (the bundle's) |",
        "|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for condition in ("gaussian_6", "poisson_700", "gamma_500", "rician_0.10", "correlated_0.5"):
        noisy, clean = condition_arrays("validation", condition, volume="colin27", limit=4)
        scores = []
        for step in (50, 100, 200, 300):
            with torch.no_grad():
                out = pipeline.replace(start_step=step)(torch.from_numpy(noisy)[:, None])[:, 0].clamp(0, 1).numpy()
            mse = ((out - clean) ** 2).reshape(len(out), -1).mean(axis=1)
            scores.append(float(np.median(10 * np.log10(1.0 / mse))))
        lines.append(f"| {condition} | " + " | ".join(f"{s:.2f}" for s in scores) + " |")
        print(lines[-1], flush=True)
    (HERE / "start_step_probe.md").write_text("\n".join(lines) + "\n")
