"""Check the blind noise-level estimator on the BENCHMARK.md section 1c cells (test slices z in [90, 100)).

Prints, per cell, the median and the min / max over slices of estimate / true sigma, and whether the cell meets the
bar (median in [0.95, 1.05], every slice in [0.90, 1.10]). Colin27 comes from ``monai_nad.data.load_colin27`` (fill its
cache once with ``python -m monai_nad.data.colin27 --download``); it is skipped with a message when missing.

    python scripts/check_noise_estimator.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from monai_nad.data import load_colin27, load_mni_template, shift_contrast
from monai_nad.transforms import estimate_noise_sigma, estimate_noise_sigma_batch

TEST_Z = range(90, 100)


def noisy_slice(clean: np.ndarray, sigma: float, seed: int, coils: int = 1) -> np.ndarray:
    """``sqrt(sum_k (x_k + s n1_k)^2 + (s n2_k)^2)`` with ``x_k = x / sqrt(N)``; n1 drawn before n2 (N = 1: 1c)."""
    rng = np.random.default_rng(seed)
    n1 = rng.standard_normal((coils, *clean.shape))
    n2 = rng.standard_normal((coils, *clean.shape))
    x = clean[None].astype(np.float64) / np.sqrt(coils)
    return np.sqrt(((x + sigma * n1) ** 2 + (sigma * n2) ** 2).sum(0))


def ratios(volume: np.ndarray, shift: str | None, sigma: float, coils: int = 1, crop=(...,)) -> np.ndarray:
    """estimate / true sigma on the test slices (noise seed ``1000 + z``)."""
    clean = [shift_contrast(volume[:, :, z], shift)[crop] for z in TEST_Z]
    noisy = [noisy_slice(c, sigma, 1000 + z, coils)[None] for c, z in zip(clean, TEST_Z)]
    return np.asarray([estimate_noise_sigma(x, coils=coils)[0] / sigma for x in noisy])


def row(name: str, r: np.ndarray, bar: bool = True) -> bool:
    med, ok = float(np.median(r)), True
    if bar:
        ok = 0.95 <= med <= 1.05 and r.min() >= 0.90 and r.max() <= 1.10
    flag = ("ok" if ok else "FAIL") if bar else "(info)"
    print(f"{name:<36} {med:7.3f} {r.min():7.3f} {r.max():7.3f}  {flag}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    volumes = {"MNI": load_mni_template()}
    try:
        volumes["Colin27"] = load_colin27()
    except FileNotFoundError as err:
        print(f"Colin27 skipped: {err}")
    print(f"{'cell (estimate / true sigma)':<36} {'median':>7} {'min':>7} {'max':>7}")
    ok = True
    for name, vol in volumes.items():
        for shift in (None, "dim", "inverted"):
            for s in (0.05, 0.10, 0.15):
                ok &= row(f"{name} {shift or 'as is'} s={s:.2f}", ratios(vol, shift, s))
        ok &= row(f"{name} as is s=0.005 (near-clean)", ratios(vol, None, 0.005))
    print("-- extra checks (bar shown for information where marked)")
    for name, vol in volumes.items():
        for coils in (4, 8):
            for s in (0.005, 0.05, 0.15):
                ok &= row(f"{name} as is {coils} coils s={s:g}", ratios(vol, None, s, coils))
    mni, crop = volumes["MNI"], (slice(60, 140), slice(60, 170))
    for shift in (None, "inverted"):
        for s in (0.05, 0.10, 0.15):
            row(f"MNI crop {shift or 'as is'} s={s:.2f} (fallback)", ratios(mni, shift, s, crop=crop), bar=False)
    img = noisy_slice(shift_contrast(mni[:, :, 95], None), 0.1, 1095)[None]
    scaled = float(estimate_noise_sigma(7.3 * img)[0] / (7.3 * estimate_noise_sigma(img)[0]))
    print(f"scale invariance estimate(7.3 x) / (7.3 estimate(x)): {scaled:.12f}")
    torch.set_num_threads(1)  # the estimator itself is single-threaded numpy / scipy
    clean = np.pad(mni[:, :, 90:98], ((30, 29), (12, 11), (0, 0))).transpose(2, 0, 1)  # 8 slices, 256 x 256
    batch = torch.tensor(np.stack([noisy_slice(c, 0.05, i)[None] for i, c in enumerate(clean)]), dtype=torch.float32)
    estimate_noise_sigma_batch(batch)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        estimate_noise_sigma_batch(batch)
        times.append((time.perf_counter() - t0) / len(batch) * 1e3)
    print(f"estimate_noise_sigma_batch, 256x256 slice, one thread: {min(times):.2f} ms (median {np.median(times):.2f})")
    print("ALL CELLS OK" if ok else "SOME CELLS FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
