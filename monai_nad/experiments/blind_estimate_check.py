"""The command line's two blind noise estimates (``--noise-estimate map``, the default, and ``level``) on the white
Rician noise of the real-anatomy benchmark's cells, against its stored BM3D+rc rows: does reading the noise map
(and telling correlated noise as its white equivalent) cost anything where the noise is white?"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from monai_nad.bundle import int8_ranges_path
from monai_nad.data.real_anatomy import NEAR_CLEAN_LEVEL, REAL_ANATOMY_LEVELS, REAL_ANATOMY_SHIFTS, REAL_ANATOMY_VOLUMES
from monai_nad.experiments.evaluation import benchmark_cells
from monai_nad.experiments.records import read_record
from monai_nad.experiments.volume_benchmark import scan_method, shipped_models

__all__ = ["ESTIMATE_METHODS", "anchor_record", "check_blind_estimates", "render_estimate_page"]

#: the methods: the shipped 2D and volume models through the command line's inferer with each estimate.
ESTIMATE_METHODS = ("cli_2d_map", "cli_2d_level", "cli_3d_map", "cli_3d_level", "cli_2d_int8", "cli_3d_int8")


def check_blind_estimates(bundle: str | None = None, limit: int | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Rows of the one evaluation loop (:func:`~monai_nad.experiments.evaluation.benchmark_cells`, no BM3D) for the
    18 cells of the real-anatomy benchmark and the two near-clean ones, each test slab denoised as one volume by the methods of
    :data:`ESTIMATE_METHODS` (``--mode 2d`` / ``3d``, ``--noise-estimate map`` / ``level``; ``*_int8``: the map with
    ``--precision int8``, where the bundle has its int8 calibration ``models/int8_ranges.json``)."""
    net2d, net3d = shipped_models(bundle)
    methods = {
        "cli_2d_map": scan_method(net2d, None, "2d", noise_estimate="map"),
        "cli_2d_level": scan_method(net2d, None, "2d", noise_estimate="level"),
        "cli_3d_map": scan_method(net2d, net3d, "3d", noise_estimate="map"),
        "cli_3d_level": scan_method(net2d, net3d, "3d", noise_estimate="level"),
    }
    ranges = int8_ranges_path(bundle)
    if ranges.is_file():
        methods["cli_2d_int8"] = scan_method(net2d, None, "2d", noise_estimate="map", precision="int8", int8_ranges=ranges)
        methods["cli_3d_int8"] = scan_method(net2d, net3d, "3d", noise_estimate="map", precision="int8", int8_ranges=ranges)
    cells = [(v, s, lv) for v in REAL_ANATOMY_VOLUMES for s in REAL_ANATOMY_SHIFTS for lv in REAL_ANATOMY_LEVELS]
    cells += [(v, None, NEAR_CLEAN_LEVEL) for v in REAL_ANATOMY_VOLUMES]
    return benchmark_cells(cells, methods, bm3d=False, limit=limit, log=log)


def render_estimate_page(rows: list[dict], anchor_rows: list[dict], command: str, anchor_command: str, limit: int | None = None) -> str:
    """The page: PSNR per cell of each method beside the stored BM3D+rc row of the same cell, and the means (with
    ``limit``, a quick check on the first slices of each slab, marked as not comparable to BM3D+rc's rows)."""
    by = {(r["cell"], r["method"]): r for r in rows}
    anchor = {r["cell"]: r["psnr"] for r in anchor_rows if r["method"] == "bm3d_rc"}
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    methods = [m for m in ESTIMATE_METHODS if any(r["method"] == m for r in rows)]
    lines = [
        "# The command line's blind noise estimates on white Rician noise (section 1c cells)",
        "",
        f"Produced by `{command}` (one thread; the one evaluation loop, each test slab denoised as one volume through the "
        "command line's inferer, `monai-nad denoise --mode 2d|3d --noise-estimate map|level`). `map` (the default) reads a "
        "per-voxel noise map, the coil count and the noise's correlation from the air and tells correlated noise as its white "
        "equivalent; `level` estimates one white Rician level; `cli_2d_int8` / `cli_3d_int8`: the map with `--precision int8` (the "
        "inner convolutions in 8-bit integers with the bundle's `models/int8_ranges.json`). BM3D+rc: the stored rows of section 1c's benchmark "
        f"(`{anchor_command}`, `docs/results/real_scan_benchmark.json`), on the same noisy slices."
        + (f" **A quick check on the first {limit} slice(s) of each slab: not comparable to BM3D+rc's 10-slice rows.**" if limit else ""),
        "",
        "| cell | " + " | ".join(f"`{m}`" for m in methods) + " | BM3D+rc | 2D map − BM3D+rc | 2D map − 2D level |",
        "|---|" + "---|" * (len(methods) + 3),
    ]
    for cell in cells:
        values = [by[cell, m]["psnr"] for m in methods]
        ref = anchor.get(cell)
        gap = f"{by[cell, 'cli_2d_map']['psnr'] - ref:+.2f}" if ref is not None and (cell, "cli_2d_map") in by else "–"
        own = (f"{by[cell, 'cli_2d_map']['psnr'] - by[cell, 'cli_2d_level']['psnr']:+.2f}"
               if (cell, "cli_2d_map") in by and (cell, "cli_2d_level") in by else "–")
        lines.append(f"| {cell} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {'–' if ref is None else f'{ref:.2f}'} | {gap} | {own} |")
    graded = [c for c in cells if c in anchor and not c.endswith(f"_{NEAR_CLEAN_LEVEL:g}")]
    lines += ["", "Means over the 18 graded cells (near-clean ones apart):", ""]
    for m in methods:
        mean = float(np.mean([by[c, m]["psnr"] for c in graded if (c, m) in by]))
        diff = float(np.mean([by[c, m]["psnr"] - anchor[c] for c in graded if (c, m) in by]))
        below = sum(by[c, m]["psnr"] < anchor[c] for c in graded if (c, m) in by)
        lines.append(f"- `{m}`: {mean:.2f} dB, {diff:+.2f} dB against BM3D+rc, {below} cell(s) below it")
    return "\n".join(lines) + "\n"


def anchor_record(path: str | Path) -> tuple[list[dict], str]:
    """The stored rows and command of the real-anatomy benchmark (docs/results/real_scan_benchmark.json).

    Raises:
        RecordError: ``path`` holds no readable record with rows and a command (the message names ``--anchor``).
    """
    record = read_record(path, "--anchor", keys=("rows", "command"))
    return record["rows"], record["command"]
