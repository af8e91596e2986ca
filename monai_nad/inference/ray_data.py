"""A study denoised on a Ray cluster: Ray Data over the planned scans, one model per worker.

The scans are planned once, on the driver, exactly as ``monai-nad denoise`` plans them
(:func:`~monai_nad.inference.workflow.inference_workflow`: the bundle's ``inputs``, i.e.
:func:`~monai_nad.inference.prepare_inputs`): the same result names, checks, ``--skip-existing`` and ``--shard``.
Ray Data then deals the planned scans to ``workers`` actors (``map_batches`` with :class:`ScanDenoiser`), each of which
builds the bundle's inference workflow once (one model load per worker) and runs it over each batch of scans it is
given. The driver gathers what every scan became (written, failed, model, noise, seconds) into the run's
:class:`~monai_nad.inference.InputReport`, so the result, the summary and the ``--report`` are those of a
single-process run. Every planned scan is in exactly one batch, so each result is written once.

The inputs and the output folder must be reachable under the same paths from every node (a shared file system).
Ray is optional: ``pip install "monai_nad[cluster]"``.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monai_nad import _optional
from monai_nad.inference.inputs import InputReport
from monai_nad.inference.workflow import inference_workflow

__all__ = ["ScanDenoiser", "denoise_with_ray"]

logger = logging.getLogger(__name__)


class ScanDenoiser:
    """A Ray Data actor (``map_batches`` callable class) that denoises batches of planned scans with one workflow.

    Args:
        output_dir: the study's output folder.
        options: the keyword arguments of :func:`~monai_nad.inference.workflow.inference_workflow` (bundle, device,
            mode, ...), as the driver planned with them.
        threads: CPU threads of this worker's torch. Defaults to None: torch's choice.

    A batch is ``{"item": [json, ...]}``, one planned item of :class:`~monai_nad.inference.InputReport` per row; the
    answer has per row the scan's ``name``, ``status`` (``"written"`` or ``"failed"``), ``output`` (the result
    written, else ``""``), ``error`` and ``details`` (JSON of what the run recorded). A batch that fails outside the
    evaluator's per-scan guard (e.g. a scan that no longer loads) fails its own scans with the root cause, not the run.
    """

    def __init__(self, output_dir: str, options: Mapping[str, Any], threads: int | None = None) -> None:
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        self.report = InputReport()
        self.workflow = inference_workflow([], output_dir, planned=self.report, **dict(options))

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list[str]]:
        report = self.report
        report.items[:] = [json.loads(text) for text in batch["item"]]
        report.written.clear()
        report.failures.clear()
        report.details.clear()
        self.workflow.parser.get_parsed_content("dataset").data = report.items
        try:
            self.workflow.run()
        except Exception as err:  # noqa: BLE001 - e.g. a scan that no longer loads: this batch's scans fail, not the run
            while err.__cause__ is not None:
                err = err.__cause__
            reason = f"{type(err).__name__}: {err}".splitlines()[0]
            done = set(report.written) | {name for name, _ in report.failures}
            report.failures.extend((item["name"], reason) for item in report.items if item["name"] not in done and item["output"] not in done)
        written, failed = set(report.written), dict(report.failures)
        answer: dict[str, list[str]] = {"name": [], "status": [], "output": [], "error": [], "details": []}
        for item in report.items:
            name, done = item["name"], item["output"] in written
            answer["name"].append(name)
            answer["status"].append("written" if done else "failed")
            answer["output"].append(item["output"] if done else "")
            answer["error"].append("" if done else failed.get(name, "not written (no error was recorded)"))
            answer["details"].append(json.dumps(report.details.get(name, {})))
        return answer


def _connect(ray: Any, address: str | None, cpus: int, verbose: bool) -> bool:
    """Join or start Ray (``"local"`` or None: an instance here with ``cpus`` CPUs); True when this call started it (and
    must shut it down)."""
    if ray.is_initialized():
        return False
    settings: dict[str, Any] = {
        "include_dashboard": False, "log_to_driver": bool(verbose), "logging_level": logging.INFO if verbose else logging.ERROR,
    }
    if address in (None, "local"):
        ray.init(num_cpus=int(cpus), **settings)
    else:
        ray.init(address=address, **settings)
    return True


def _map(dataset: Any, output_dir: str | Path, options: Mapping[str, Any], threads: int, files_per_batch: int, workers: int,
         cpus_per_worker: float, gpus_per_worker: float, ray: Any) -> Any:
    """The study's rows through ``workers`` :class:`ScanDenoiser` actors, ``files_per_batch`` scans per call."""
    return dataset.map_batches(
        ScanDenoiser,
        fn_constructor_kwargs={"output_dir": str(output_dir), "options": dict(options), "threads": threads},
        batch_size=int(files_per_batch),
        compute=ray.data.ActorPoolStrategy(size=int(workers)),
        num_cpus=float(cpus_per_worker),
        num_gpus=float(gpus_per_worker),
        max_restarts=0,  # a batch is never run twice: each result is written once (a lost worker ends the run;
        max_task_retries=0,  # --skip-existing then finishes the study)
    )


def denoise_with_ray(
    inputs: Sequence[str | Path],
    output_dir: str | Path,
    address: str | None = "auto",
    workers: int = 2,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
    files_per_batch: int = 1,
    **options: Any,
) -> dict:
    """Denoise a study on a Ray cluster; returns what :func:`~monai_nad.inference.workflow.run_inference` returns.

    Args:
        inputs: files and/or folders.
        output_dir: where the results go (as for ``monai-nad denoise``).
        address: the Ray cluster to join: ``"auto"`` (the one running on this machine, or ``RAY_ADDRESS``), an address
            (``"ray://head:10001"``, ``"head:6379"``), or ``"local"`` (start a Ray instance here with ``workers`` CPUs).
            An already initialised Ray (``ray.init`` in this process) is used as it is. Defaults to ``"auto"``.
        workers: actors, each with its own model. Defaults to 2.
        cpus_per_worker: CPUs each actor asks for (its torch threads, at least 1). Defaults to 1.
        gpus_per_worker: GPUs each actor asks for (the bundle puts the model on ``cuda`` where one is given). Defaults
            to 0.
        files_per_batch: scans per call of an actor. Defaults to 1 (the finest sharing of the work).
        options: keyword arguments of :func:`~monai_nad.inference.workflow.inference_workflow` (``bundle``,
            ``device``, ``mode``, ``skip_existing``, ``shard``, ``verbose`` ...).

    Returns:
        ``{"written", "failures", "existing", "ignored", "seconds", "interrupted", "report", "noise_maps"}`` as
        :func:`~monai_nad.inference.workflow.run_inference` (``noise_maps`` stays empty: the maps are written, their
        lines are in the workers' logs).

    Raises:
        monai.utils.OptionalImportError: Ray is not installed (one line naming the ``cluster`` extra).
        ValueError: as :func:`~monai_nad.inference.workflow.run_inference`, or ``workers``/``files_per_batch`` below 1.
    """
    ray = _optional.require("ray", "the Ray Data path")
    _optional.require("ray.data", "the Ray Data path")
    if int(workers) < 1 or int(files_per_batch) < 1:
        raise ValueError(f"workers and files_per_batch must be at least 1, got {workers} and {files_per_batch}.")
    verbose = bool(options.get("verbose", False))
    start = time.time()
    planner = inference_workflow(inputs, output_dir, **options)  # the study planned as monai-nad denoise plans it
    report: InputReport = planner.parser.get_parsed_content("inputs")
    interrupted = False
    if report.items:
        started = _connect(ray, address, math.ceil(workers * max(cpus_per_worker, 1.0)), verbose)
        ray_data_log = logging.getLogger("ray.data")
        level = ray_data_log.level
        try:
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = verbose
            if not verbose:  # the console stays as quiet as a single-process run's
                ray_data_log.setLevel(logging.ERROR)
            dataset = ray.data.from_items([{"item": json.dumps(item)} for item in report.items])
            threads = max(1, int(cpus_per_worker))
            with warnings.catch_warnings():  # Ray >= 2.60 asks for named remote arguments; it has none for these two
                warnings.filterwarnings("ignore", message=".*ray_remote_args.*is deprecated")
                rows = _map(dataset, output_dir, options, threads, files_per_batch, workers, cpus_per_worker, gpus_per_worker, ray)
            outcome: dict[str, dict] = {}
            try:
                for row in rows.iter_rows():
                    outcome[str(row["name"])] = row
            except KeyboardInterrupt:
                interrupted = True
            except ray.exceptions.RayError as err:
                raise RuntimeError(f"the Ray run stopped ({type(err).__name__}): {str(err).strip().splitlines()[0] if str(err).strip() else ''} "
                                   "(finish the study with --skip-existing)") from None
        finally:
            ray_data_log.setLevel(level)
            if started:
                ray.shutdown()
        for item in report.items:  # in the order of the plan, as a single process writes them
            row = outcome.get(item["name"])
            if row is None:
                continue  # not run (interrupted)
            report.details[item["name"]] = json.loads(row["details"])
            if row["status"] == "written":
                report.written.append(str(row["output"]))
            else:
                report.failures.append((item["name"], str(row["error"])))
                logger.error("skipping %s: %s", item["name"], row["error"])
    return {
        "written": list(report.written), "failures": list(report.failures), "existing": list(report.existing),
        "ignored": list(report.ignored), "seconds": time.time() - start, "interrupted": interrupted, "report": report,
        "noise_maps": [],
    }
