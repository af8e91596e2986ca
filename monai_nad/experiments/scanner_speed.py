"""Time per slice of the shipped models on whole scanner-noise volumes against BM3D told the true noise.

The scanner-noise benchmark times every method on its 10-slice test slabs. The blind models estimate the noise once
per input (:func:`~monai_nad.transforms.noise_map.estimate_noise`), as ``monai-nad denoise`` does once per scan, so on
a 10-slice slab that estimate is shared by 10 slices; on a whole scan by all of them. BM3D denoises slice by slice,
its time per slice does not depend on the stack. This module times both in one run, per condition:

- ``neural_pde_2d`` / ``neural_pde_3d``: the blind 2D and volume model (the command line's inferer,
  :func:`~monai_nad.experiments.volume_benchmark.scan_method`) on (a) the whole MNI volume with the condition's noise
  and (b) the benchmark's 10-slice MNI test slab of that condition; each call's seconds divided by its slices;
- ``neural_pde_2d_int8`` / ``neural_pde_3d_int8``: the same with ``--precision int8`` (the bundle's
  ``models/int8_ranges.json``);
- ``bm3d_true_noise``: the benchmark's anchor on one slice (:func:`~monai_nad.experiments.scanner_benchmark.bm3d_true_noise_slice`: BM3D told the true noise)
  and the magnitude bias correction (``b = 1``; the time does not depend on ``b``), slice by slice on the first
  slices of the same test slab, the median.

The whole volume: every slice ``z`` of the clean MNI template whose maximum is at least ``min_slice_max`` (the head's
extent) through :func:`~monai_nad.transforms.scanner_noise.scanner_noise_slice` (seed ``2000 + z``), each multiplied
back by its clean slice's maximum, so the stack has one intensity scale and a noise std of about ``s`` everywhere.
It is for timing only: the quality results are the benchmark's cells.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from monai_nad.data.real_anatomy import load_volume
from monai_nad.experiments.machine import machine_description
from monai_nad.experiments.scanner_benchmark import blind_model_methods, bm3d_true_noise_slice, scanner_test_cell
from monai_nad.inference.heap import keep_freed_memory
from monai_nad.transforms.scanner_noise import SCANNER_NOISE_CONDITIONS, scanner_noise_slice

__all__ = ["scanner_noise_volume", "scanner_speed", "summarise_speed", "render_speed_page"]

#: the timed methods, in the page's order
SPEED_METHODS = ("neural_pde_2d", "neural_pde_2d_int8", "neural_pde_3d", "neural_pde_3d_int8", "bm3d_true_noise")
#: the page's name of each model
_LABELS = {"neural_pde_2d": "2D", "neural_pde_2d_int8": "2D int8", "neural_pde_3d": "volume model", "neural_pde_3d_int8": "volume model int8"}


def scanner_noise_volume(volume: str, condition: str, noise_std: float, min_slice_max: float = 0.05) -> np.ndarray:
    """The whole ``volume`` (``"mni"`` or ``"colin27"``) with one scanner-noise condition in every slice (module docstring).

    Returns:
        the noisy volume ``(H, W, D)`` float32 (``H`` cut to even for ``sense2``), ``D`` the slices kept.

    Raises:
        ValueError: an unknown volume or condition, or no slice above ``min_slice_max``.
    """
    clean = np.asarray(load_volume(volume), dtype=np.float64)
    slices = []
    for z in range(clean.shape[2]):
        peak = float(clean[:, :, z].max())
        if peak >= min_slice_max:
            slices.append(scanner_noise_slice(clean[:, :, z], z, condition, noise_std).noisy * peak)
    if not slices:
        raise ValueError(f"no slice of {volume} has a maximum of at least {min_slice_max}.")
    return np.stack(slices, axis=-1).astype(np.float32)


def scanner_speed(
    conditions: Sequence[str] = SCANNER_NOISE_CONDITIONS, noise_std: float = 0.05, volume: str = "mni", bm3d_slices: int = 5,
    repeats: int = 2, bundle: str | Path | None = None, log: Callable[[str], None] = print, methods: Sequence[str] = SPEED_METHODS,
) -> dict:
    """Time the blind models on whole volumes and test slabs and BM3D told the true noise, per condition (module docstring).

    Args:
        conditions: the scanner-noise conditions.
        noise_std: ``s``.
        volume: the volume, ``"mni"`` or ``"colin27"``; its as-is test slab is the slab.
        bm3d_slices: BM3D's slices per condition (the first of the test slab).
        repeats: calls per model and input; the median is kept (the calls interleave the models).
        bundle: the bundle (None: the shipped one).
        log: progress lines.
        methods: the methods timed (of :data:`SPEED_METHODS`; BM3D is timed when named). Defaults to all.

    Raises:
        ValueError: an unknown method.

    Returns:
        ``{"rows": [{"condition", "method", "input" ("volume" | "slab" | "slices"), "slices", "ms"}], "repeats", "noise_std", "volume", "machine"}``,
        ``ms`` the median milliseconds per slice.
    """
    unknown = [m for m in methods if m not in SPEED_METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {SPEED_METHODS}.")
    torch.set_num_threads(1)
    keep_freed_memory()  # as the command line does, for every method
    models = blind_model_methods([m for m in SPEED_METHODS if m in methods], bundle)
    rows = []
    for condition in conditions:
        whole = np.ascontiguousarray(np.moveaxis(scanner_noise_volume(volume, condition, noise_std), -1, 0))
        cell = scanner_test_cell(volume, None, condition, noise_std)
        slab, _ = cell.load("test")
        side = cell.side("test")
        for name, stack in (("volume", whole), ("slab", slab)):
            times: dict[str, list[float]] = {m: [] for m in models}
            for _ in range(repeats):
                for method, run in models.items():
                    times[method].append(run(stack, noise_std)[1][0])  # the method's own seconds per slice
            for method, seconds in times.items():
                rows.append({"condition": condition, "method": method, "input": name, "slices": len(stack), "ms": 1000 * float(np.median(seconds))})
                log(f"{condition:<16} {method:<18} {name:<7} {len(stack):4d} slices {rows[-1]['ms']:8.1f} ms per slice")
        if "bm3d_true_noise" not in methods:
            continue
        seconds = []
        for image, noise in list(zip(slab, side))[:bm3d_slices]:
            start = time.perf_counter()
            bm3d_true_noise_slice(image, noise, 1.0)
            seconds.append(time.perf_counter() - start)
        rows.append({"condition": condition, "method": "bm3d_true_noise", "input": "slices", "slices": len(seconds), "ms": 1000 * float(np.median(seconds))})
        log(f"{condition:<16} {'bm3d_true_noise':<18} slices  {len(seconds):4d} slices {rows[-1]['ms']:8.1f} ms per slice")
    return {"rows": rows, "repeats": int(repeats), "noise_std": float(noise_std), "volume": volume, "machine": machine_description()}


def _models(rows: Sequence[dict]) -> list[str]:
    """The models timed in ``rows``, in the page's order."""
    present = {r["method"] for r in rows}
    return [m for m in _LABELS if m in present]


def summarise_speed(rows: Sequence[dict]) -> dict:
    """Per condition and over the conditions (median): ms per slice of each model on each input and BM3D, and BM3D's
    time over each model's (``"ratio"``, same run)."""
    conditions = list(dict.fromkeys(r["condition"] for r in rows))

    def ms(condition: str, method: str, source: str) -> float | None:
        found = [r["ms"] for r in rows if r["condition"] == condition and r["method"] == method and r["input"] == source]
        return found[0] if found else None

    table = {}
    for c in conditions:
        bm3d = ms(c, "bm3d_true_noise", "slices")
        entry = {"bm3d_true_noise": bm3d}
        for method in _models(rows):
            for source in ("volume", "slab"):
                mine = ms(c, method, source)
                entry[f"{method}_{source}"] = mine
                entry[f"ratio_{method}_{source}"] = bm3d / mine if bm3d and mine else None
        table[c] = entry
    keys = list(next(iter(table.values())).keys()) if table else []
    median = {k: float(np.median([t[k] for t in table.values() if t[k] is not None])) for k in keys if any(t[k] is not None for t in table.values())}
    return {"by_condition": table, "median": median}


def render_speed_page(record: dict, command: str) -> str:
    """The page ``docs/results/scanner_noise_speed.md`` from a :func:`scanner_speed` record."""
    summary = summarise_speed(record["rows"])
    slices = {(r["condition"], r["input"]): r["slices"] for r in record["rows"]}
    name = {"mni": "MNI", "colin27": "Colin27"}.get(record["volume"], record["volume"])
    lines = [
        "# Scanner noise: time per slice on whole volumes and on the benchmark's slabs",
        "",
        f"Produced by `{command}` in one process ({record['machine']}; every method on one thread).",
        "",
        "The scanner-noise benchmark ([scanner_noise.md](scanner_noise.md)) times every method on its 10-slice test slabs. "
        "The blind models estimate the noise once per input, as `monai-nad denoise` does once per scan: on a slab that "
        "cost is shared by 10 slices, on a whole scan by all of them. BM3D works slice by slice. Here, in one run and per "
        f"condition at s = {record['noise_std']:g}, the blind 2D and volume model (float32, and in 8-bit integers where the columns say int8: "
        f"`--precision int8`) on the whole {name} volume with that condition's noise in every "
        f"slice of the head (`monai_nad.experiments.scanner_speed.scanner_noise_volume`) and on the benchmark's {name} as-is "
        f"test slab (the median of {record.get('repeats', 'the')} calls, each call's time divided by its slices; the first call of a "
        "process also pays its warm-up), and BM3D told the true noise with "
        "the magnitude bias correction on the first slices of that slab (median per slice). Timing only: the quality "
        "results are the benchmark's cells.",
        "",
    ]
    models = _models(record["rows"])
    lines += [
        "| condition | whole volume: slices | " + " | ".join(f"{_LABELS[m]}, {source}" for m in models for source in ("volume", "slab"))
        + " | BM3D-true | " + " | ".join(f"BM3D / {_LABELS[m]} ({source})" for m in models for source in ("volume", "slab")) + " |",
        "|---|---|" + "---|" * (4 * len(models) + 1),
    ]

    def f(v: float | None, fmt: str) -> str:
        return "–" if v is None else format(v, fmt)

    for c, t in {**summary["by_condition"], "**median**": summary["median"]}.items():
        n = slices.get((c, "volume"), "")
        times = " | ".join(f(t.get(f"{m}_{source}"), ".0f") for m in models for source in ("volume", "slab"))
        ratios = " | ".join(f"{f(t.get(f'ratio_{m}_{source}'), '.1f')}x" for m in models for source in ("volume", "slab"))
        lines.append(f"| {c} | {n} | {times} | {f(t.get('bm3d_true_noise'), '.0f')} | {ratios} |")
    lines += ["", "Times in ms per slice. Ratios are BM3D's time over the model's, measured in this run; the machine's cores may "
              "be shared with other jobs, so compare the times of this page with each other rather than as absolute times.", ""]
    return "\n".join(lines)
