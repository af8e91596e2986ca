"""Check the blind noise-level estimator on the real-anatomy benchmark's cells (test slices z in [90, 100)).

Prints, per cell, the median and the min / max over slices of estimate / true sigma, and whether the cell meets the
bar (median in [0.95, 1.05], every slice in [0.90, 1.10]). Colin27 comes from ``monai_nad.data.load_colin27`` (fill its
cache once with ``python -m monai_nad.data.colin27 --download``); it is skipped with a message when missing.

``--scanner`` checks :func:`monai_nad.transforms.noise_map.estimate_noise` instead, on the 32 cells of the scanner-noise benchmark
(:func:`~monai_nad.transforms.scanner_noise_slice`: MNI and Colin27, as is and inverted, filtered / partial_fourier /
sos8 / sense2, levels 0.05 and 0.10) of the validation slices z in [80, 90) (``--split test``: z in [90, 100)):
per cell the ratio estimated / true std (each the median over the foreground, the clean slice above 2 % of its
maximum; min / median / max over slices), the estimated coil counts, the median correlation length (pixels) and
the median ratio of :func:`~monai_nad.transforms.estimate_image_noise_std` for comparison; then the white Rician cells
of the real-anatomy benchmark on the same slices (noise seed ``1000 + z``), both estimators side by side. A cell is ok when every
slice is within 10 % of the truth.

    python scripts/check_noise_estimator.py
    python scripts/check_noise_estimator.py --scanner [--split test]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from monai_nad.data import load_colin27, load_mni_template, shift_contrast
from monai_nad.transforms import estimate_image_noise_std, estimate_noise_std, rician_noise

TEST_Z = range(90, 100)
SCANNER_SPLITS = {"validation": range(80, 90), "test": range(90, 100)}


def noisy_slice(clean: np.ndarray, noise_std: float, seed: int, coils: int = 1) -> np.ndarray:
    """The magnitude of ``coils`` noisy receivers (:func:`~monai_nad.transforms.rician_noise`, float64; N = 1: the real-anatomy benchmark's white Rician noise)."""
    return rician_noise(clean, noise_std, np.random.default_rng(seed), coils=coils)


def ratios(volume: np.ndarray, shift: str | None, sigma: float, coils: int = 1, crop=(...,)) -> np.ndarray:
    """estimate / true sigma on the test slices (noise seed ``1000 + z``)."""
    clean = [shift_contrast(volume[:, :, z], shift)[crop] for z in TEST_Z]
    noisy = [noisy_slice(c, sigma, 1000 + z, coils)[None] for c, z in zip(clean, TEST_Z)]
    return np.asarray([estimate_image_noise_std(x, coils=coils)[0] / sigma for x in noisy])


def row(name: str, r: np.ndarray, bar: bool = True) -> bool:
    med, ok = float(np.median(r)), True
    if bar:
        ok = 0.95 <= med <= 1.05 and r.min() >= 0.90 and r.max() <= 1.10
    flag = ("ok" if ok else "FAIL") if bar else "(info)"
    print(f"{name:<36} {med:7.3f} {r.min():7.3f} {r.max():7.3f}  {flag}")
    return ok


def _scanner_ratio(clean: np.ndarray, z: int, condition: str, noise_std: float):
    """``(estimate_noise / truth, N, correlation length, estimate_image_noise_std / truth)`` on one scanner-noise slice."""
    from monai_nad.transforms import scanner_noise_slice
    from monai_nad.transforms.noise_map import estimate_noise

    sample = scanner_noise_slice(clean, z, condition, noise_std)
    cut = clean[: sample.noisy.shape[0]]  # sense2 drops an odd last row
    truth = float(np.median(sample.noise_std_map[cut > 0.02 * cut.max()]))
    estimate = estimate_noise(sample.noisy)
    old = float(estimate_image_noise_std(sample.noisy[None])[0])
    return estimate.std / truth, estimate.coils, estimate.correlation_length, old / truth


def scanner_check(volumes: dict, split: str) -> bool:
    """The 32 scanner-noise cells and the white real-anatomy cells on ``split``'s slices; True when every slice is within 10 %."""
    from monai_nad.transforms import SCANNER_NOISE_CONDITIONS
    from monai_nad.transforms.noise_map import estimate_noise

    zs = SCANNER_SPLITS[split]
    print(f"scanner-noise cells, {split} slices z {zs.start}-{zs.stop - 1}: estimate_noise std / true median std over the foreground")
    print(f"{'cell':<40} {'min':>6} {'median':>6} {'max':>6}  {'N':<10} {'corr.len':>8}  {'old est.':>8}")
    ok = True
    for name, vol in volumes.items():
        for shift in (None, "inverted"):
            for condition in SCANNER_NOISE_CONDITIONS:
                for noise_std in (0.05, 0.10):
                    rows = [_scanner_ratio(shift_contrast(vol[:, :, z], shift), z, condition, noise_std) for z in zs]
                    r = np.array([row[0] for row in rows])
                    coils = "/".join(str(c) for c in sorted({row[1] for row in rows}))
                    good = bool(r.min() >= 0.90 and r.max() <= 1.10)
                    ok &= good
                    cell = f"{name} {shift or 'as is'} {condition} {noise_std:.2f}"
                    print(f"{cell:<40} {r.min():6.3f} {np.median(r):6.3f} {r.max():6.3f}  N={coils:<8} "
                          f"{np.median([row[2] for row in rows]):8.2f}  {np.median([row[3] for row in rows]):8.3f}  "
                          f"{'ok' if good else 'FAIL'}", flush=True)
    print(f"real-anatomy cells (white Rician), {split} slices: estimate / true sigma, median [min, max]")
    for name, vol in volumes.items():
        for shift in (None, "dim", "inverted"):
            for s in (0.05, 0.10, 0.15):
                clean = [shift_contrast(vol[:, :, z], shift) for z in zs]
                noisy = [noisy_slice(c, s, 1000 + z) for c, z in zip(clean, zs)]
                old = np.array([estimate_image_noise_std(x[None])[0] / s for x in noisy])
                new = np.array([estimate_noise(x, coils=1).std / s for x in noisy])
                print(f"{name + ' ' + (shift or 'as is') + f' s={s:.2f}':<30} estimate_image_noise_std {np.median(old):.3f} "
                      f"[{old.min():.3f}, {old.max():.3f}]   estimate_noise {np.median(new):.3f} [{new.min():.3f}, {new.max():.3f}]",
                      flush=True)
        for coils in (4, 8):
            for s in (0.05, 0.15):
                noisy = [noisy_slice(vol[:, :, z], s, 1000 + z, coils) for z in zs]
                old = np.array([estimate_image_noise_std(x[None], coils=coils)[0] / s for x in noisy])
                told = np.array([estimate_noise(x, coils=coils).std / s for x in noisy])
                blind = [estimate_noise(x) for x in noisy]
                found = "/".join(str(c) for c in sorted({e.coils for e in blind}))
                print(f"{name + f' {coils} coils s={s:.2f}':<30} estimate_image_noise_std {np.median(old):.3f} "
                      f"[{old.min():.3f}, {old.max():.3f}]   estimate_noise {np.median(told):.3f} [{told.min():.3f}, {told.max():.3f}]"
                      f"   blind: N={found}, {np.median([e.std / s for e in blind]):.3f}", flush=True)
    print("ALL SCANNER-NOISE CELLS WITHIN 10 %" if ok else "SOME SCANNER-NOISE CELLS OUTSIDE 10 %")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scanner", action="store_true", help="check estimate_noise on the scanner-noise benchmark's cells")
    parser.add_argument("--split", choices=sorted(SCANNER_SPLITS), default="validation",
                        help="the slices of --scanner (default: validation, z 80-89; test: z 90-99, for scoring only)")
    args = parser.parse_args()
    volumes = {"MNI": load_mni_template()}
    try:
        volumes["Colin27"] = load_colin27()
    except FileNotFoundError as err:
        print(f"Colin27 skipped: {err}")
    if args.scanner:
        return 0 if scanner_check(volumes, args.split) else 1
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
    scaled = float(estimate_image_noise_std(7.3 * img)[0] / (7.3 * estimate_image_noise_std(img)[0]))
    print(f"scale invariance estimate(7.3 x) / (7.3 estimate(x)): {scaled:.12f}")
    torch.set_num_threads(1)  # the estimator itself is single-threaded numpy / scipy
    clean = np.pad(mni[:, :, 90:98], ((30, 29), (12, 11), (0, 0))).transpose(2, 0, 1)  # 8 slices, 256 x 256
    batch = torch.tensor(np.stack([noisy_slice(c, 0.05, i)[None] for i, c in enumerate(clean)]), dtype=torch.float32)
    estimate_noise_std(batch)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        estimate_noise_std(batch)
        times.append((time.perf_counter() - t0) / len(batch) * 1e3)
    print(f"estimate_noise_std, 256x256 slice, one thread: {min(times):.2f} ms (median {np.median(times):.2f})")
    print("ALL CELLS OK" if ok else "SOME CELLS FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
