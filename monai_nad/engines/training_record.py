"""What a training run records about itself (wall time, hardware, where it started from) and how it is installed."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from monai_nad.engines.checkpoints import half_precision, read_state_dict

__all__ = ["RECORD_NAME", "recorded_path", "hardware_info", "previous_record", "update_record", "installs_shipped_model", "install_checkpoint"]

#: the record's file name in a run's output folder
RECORD_NAME = "training_info.json"


def recorded_path(path: str | Path, bundle: str | Path) -> str:
    """``path`` as a committed record shows it: relative to the repository that holds ``bundle`` (the folder above its
    ``bundles/``; for a bundle outside one, the bundle's parent), or only its file name when it lies elsewhere, so that
    no machine's absolute path goes into a record.

    Args:
        path: the file a record names (e.g. the weights a run started from).
        bundle: the bundle folder whose record it is.
    """
    bundle = Path(bundle).resolve()
    root = next((folder.parent for folder in bundle.parents if folder.name == "bundles"), bundle.parent)
    resolved = Path(path).resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else resolved.name


def cpu_name(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux's ``/proc/cpuinfo``), else what :mod:`platform` knows, else ``"unknown CPU"``.

    Args:
        cpuinfo: the file to read the ``model name`` line from.
    """
    try:
        for line in Path(cpuinfo).read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def hardware_info() -> dict[str, Any]:
    """The hardware a training run ran on, as recorded in its ``training_info.json``.

    Returns:
        ``machine``, ``processor`` (:func:`cpu_name`), ``cpu_count``, ``torch_threads`` and ``cuda`` (the name of the
        first CUDA device, None without one).
    """
    return {
        "machine": platform.machine(),
        "processor": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def previous_record(init_checkpoint: str | Path | None, installed_record: str | Path | None = None) -> dict[str, Any] | None:
    """The record of the run a fine-tuning starts from: ``<run>/training_info.json`` for ``<run>/checkpoints/*.pt`` and
    ``<run>/checkpoints/snapshots/*.pt``, or ``installed_record`` when the starting point is an installed model
    (``models/model.pt``); None if there is none."""
    if init_checkpoint is None:
        return None
    checkpoint = Path(init_checkpoint).resolve()
    run = checkpoint.parent.parent.parent if checkpoint.parent.name == "snapshots" else checkpoint.parent.parent
    for path in (run / RECORD_NAME, installed_record):
        if path is not None and Path(path).is_file():
            return json.loads(Path(path).read_text())
    return None


def update_record(output: Path, invocation: dict[str, Any], command: str, checkpoint: Path, started_from: dict[str, Any] | None) -> dict[str, Any]:
    """Append one invocation to ``<output>/training_info.json`` and return the record.

    The record holds every invocation of this run (a resumed run has several), their total wall time, the hardware,
    and, for a fine-tuning, the record of the run it started from (``"started_from"``);
    ``"total_wall_time_s_all_stages"`` adds the stages up.
    """
    path = output / RECORD_NAME
    record = json.loads(path.read_text()) if path.is_file() else {"invocations": []}
    record["invocations"].append(invocation)
    record.update({
        "command": command,
        "total_wall_time_s": round(sum(i["wall_time_s"] for i in record["invocations"]), 1),
        "hardware": hardware_info(),
        "torch": torch.__version__, "checkpoint_bytes": checkpoint.stat().st_size,
    })
    if started_from is not None:
        record["started_from"] = started_from
    earlier = (started_from or {}).get("total_wall_time_s_all_stages", (started_from or {}).get("total_wall_time_s", 0.0))
    record["total_wall_time_s_all_stages"] = round(record["total_wall_time_s"] + earlier, 1)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def installs_shipped_model(network: str, data: str, time_budget_s: float | None, no_install: bool) -> str | None:
    """Which shipped model a ``scripts/train_real_scan.py`` run replaces: ``"model.pt"`` for a Neural PDE and
    ``"model_3d.pt"`` for the volume model, each only when trained on the real-anatomy data with an epoch schedule;
    None for baselines, wall-clock budget runs (comparisons), Br35H runs and ``--no-install``."""
    if no_install or data != "real_anatomy" or time_budget_s is not None:
        return None
    return {"pde": "model.pt", "volume": "model_3d.pt"}.get(network)


def install_checkpoint(
    best: Path, bundle: Path, record: dict[str, Any], info_name: str = "training_info_real_scan.json", model_name: str = "model.pt",
    half: bool = True,
) -> Path:
    """Save ``best``'s weights as the bundle's ``models/<model_name>`` (a plain state dict) and its record in ``docs/<info_name>``.

    Args:
        best: the run's checkpoint.
        bundle: the bundle folder.
        record: the run's record (``checkpoint_bytes`` and ``installed_as`` are added).
        info_name: the record's file name in ``docs``. Defaults to ``"training_info_real_scan.json"``.
        model_name: the weights' file name in ``models``. Defaults to ``"model.pt"``.
        half: store the floating-point tensors as float16: half the bytes; loading into the float32 network casts them
            back (``load_state_dict``), and the network still computes in float32. Defaults to True.

    Returns:
        the installed weights file.
    """
    target = bundle / "models" / model_name
    state = read_state_dict(best)
    if half:
        state = half_precision(state)
    torch.save(state, target)
    record = dict(record, installed_as=f"models/{model_name}", checkpoint_bytes=target.stat().st_size)
    (bundle / "docs" / info_name).write_text(json.dumps(record, indent=2) + "\n")
    return target
