"""Collecting and checking the scans of an inference run before any of them is denoised."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from monai_nad.data.scans import RESULTS_MARKER, ScanSource, find_scans, load_image, output_path_for
from monai_nad.inference.gradients import diffusion_gradients

__all__ = ["InputReport", "check_noise_std", "check_writable", "log_results", "prepare_inputs", "plan_outputs", "fix_outputs"]

logger = logging.getLogger(__name__)


@dataclass
class InputReport:
    """The outcome of :func:`prepare_inputs`, completed while the scans are denoised.

    Attributes:
        items: one ``{"image": path, "output": path, "name": how messages name it[, "dicom_files": [...]]}`` per
            scan to denoise.
        failures: ``(input, reason)`` for every input that was not denoised (refused before the run, or failed in it).
        written: the results this run wrote, in order.
        existing: ``(input, result)`` for inputs whose result was already there and was kept (``skip_existing``).
        ignored: earlier results found inside the input folders, which are never read back.
        details: per scan name, what the run recorded (model, noise level, coils, seconds).
        study: the names of every input of the study, sorted, before any sharding (the reports of the shards of one
            study say which study they cover: :func:`~monai_nad.inference.reports.merge_reports`).
        shard: ``(k, n)`` when this run covers only the k-th of n shares of the study, else None.
    """

    items: list[dict] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    existing: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    details: dict[str, dict] = field(default_factory=dict)
    study: list[str] = field(default_factory=list)
    shard: tuple[int, int] | None = None

    def entries(self) -> list[dict]:
        """One record per input for a machine-readable report: input, output, status, error and what was recorded.

        ``status`` is ``"written"``, ``"existing"`` (kept from an earlier run), ``"failed"`` or ``"not run"`` (a run
        stopped before it, e.g. by Ctrl-C).
        """
        written = set(self.written)
        failed = dict(self.failures)
        rows = []
        for item in self.items:
            name = item["name"]
            status = "written" if item["output"] in written else "failed" if name in failed else "not run"
            rows.append({"input": name, "output": item["output"] if status == "written" else None, "status": status,
                         "error": failed.get(name), **self.details.get(name, {})})
        planned = {item["name"] for item in self.items}
        rows += [{"input": source, "output": result, "status": "existing", "error": None} for source, result in self.existing]
        rows += [{"input": source, "output": None, "status": "failed", "error": reason} for source, reason in self.failures if source not in planned]
        return sorted(rows, key=lambda row: row["input"])


def log_results(report: InputReport, output_dir: str | Path) -> str:
    """Log (and return) where the results of a run went and which inputs were skipped, for ``finalize`` of a bundle run."""
    lines = [f"wrote {len(report.written)} result(s) to {output_dir}"] + [f"  {path}" for path in report.written]
    if report.existing:
        lines.append(f"kept {len(report.existing)} earlier result(s)")
    if report.failures:
        lines += [f"{len(report.failures)} input(s) skipped:"] + [f"  {source}: {reason}" for source, reason in report.failures]
    text = "\n".join(lines)
    logger.info(text)
    return text


def check_writable(folder: str | Path) -> None:
    """Create ``folder`` if needed and check that files can be written into it, before any work is done.

    Raises:
        ValueError: the folder cannot be created or written to (one line naming it and the reason).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot write to the output folder {folder}: {err.strerror or err}.") from None
    if not folder.is_dir():
        raise ValueError(f"cannot write to the output folder {folder}: it is not a folder.")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".monai_nad_write_check"):
            pass
    except OSError as err:
        raise ValueError(f"cannot write to the output folder {folder}: it exists but files cannot be created in it ({err.strerror or err}).") from None


def check_noise_std(noise_std: float, image: np.ndarray, name: str) -> None:
    """Refuse a given noise level that would erase the image.

    A noise standard deviation at least as large as the bright end of the image (its 99.5th percentile) says the
    brightest tissue has a signal-to-noise ratio below 1: the bias correction would take the whole image to zero.
    Such a level is almost always given in the wrong units.

    Raises:
        ValueError: one line naming the scan, the level and the image's range.
    """
    bright = float(np.percentile(image, 99.5))
    if noise_std >= bright:
        raise ValueError(
            f"--noise-std {noise_std:g} is not below the image's bright end ({bright:g}, its 99.5th percentile) "
            f"and would erase {name}: give the level in the image's own intensity units."
        )


def plan_outputs(scans: list[ScanSource], output_dir: Path, dicom_as_nifti: bool = False) -> list[tuple[ScanSource, Path | None, str]]:
    """The result path of every scan, unique within the run.

    A result keeps the scan's place below the input it was found in (``out/a/x_denoised.nii.gz`` for
    ``in/a/x.nii.gz`` found in ``in``) and a DICOM series' label. Where two scans would still share a result (two
    files of the same name given from different folders; ``x.nii`` beside ``x.nii.gz``), first their folders below
    their common folder are kept, then their whole names (``x.nii_denoised.nii.gz``). A DICOM series' result is a
    folder holding a new DICOM series (``dicom_as_nifti``: a NIfTI file).

    Returns:
        ``(scan, result, "")``, or ``(scan, None, reason)`` for a scan whose result cannot be told apart.
    """

    def path_of(scan: ScanSource, relative: Path, keep_extension: bool = False) -> Path:
        label = f"_{scan.series.label}" if scan.series is not None and scan.series.label else ""
        kind = "dicom" if scan.series is not None else None
        return output_path_for(
            relative, output_dir, suffix=f"{label}_denoised", kind=kind, keep_extension=keep_extension, dicom_as_nifti=dicom_as_nifti
        )

    planned = [path_of(scan, scan.relative) for scan in scans]
    for attempt in ("folders", "names"):
        by_target: dict[Path, list[int]] = {}
        for index, target in enumerate(planned):
            by_target.setdefault(target, []).append(index)
        clashes = [indices for indices in by_target.values() if len(indices) > 1]
        if not clashes:
            break
        for indices in clashes:
            if attempt == "folders":
                common = Path(os.path.commonpath([str(scans[i].path.parent) for i in indices]))
                for i in indices:
                    planned[i] = path_of(scans[i], scans[i].path.relative_to(common))
            else:
                for i in indices:
                    planned[i] = path_of(scans[i], planned_relative(scans[i], planned[i], output_dir), keep_extension=True)
    seen: dict[Path, str] = {}
    result = []
    for scan, target in zip(scans, planned):
        if target in seen:
            result.append((scan, None, f"its result would have the same name as that of {seen[target]}"))
            continue
        seen[target] = scan.name
        result.append((scan, target, ""))
    return result


def fix_outputs(
    planned: list[tuple[ScanSource, Path | None, str]], outputs: Mapping[str | Path, str | Path], output_dir: Path
) -> list[tuple[ScanSource, Path | None, str]]:
    """``planned`` (as :func:`plan_outputs` returns it) with the result paths ``outputs`` fixes, still unique.

    Args:
        planned: ``(scan, result, reason)`` per scan.
        outputs: input file (or DICOM folder) -> its result path relative to ``output_dir`` (e.g. a BIDS derivative
            name, ``sub-01/anat/sub-01_desc-denoised_T1w.nii.gz``); the extension decides the format as usual. Inputs
            are matched by their resolved path; the scans of other inputs keep their planned result.
        output_dir: the output folder.

    Returns:
        ``(scan, result, "")``, or ``(scan, None, reason)`` for a scan whose result is already another scan's.

    Raises:
        ValueError: a result path that is absolute or leaves ``output_dir``.
    """
    fixed: dict[Path, Path] = {}
    for source, target in outputs.items():
        target = Path(target)
        if target.is_absolute() or ".." in target.parts or not target.parts:
            raise ValueError(f"the result path {str(target)!r} of {source} must be a file name relative to the output folder.")
        fixed[Path(source).resolve()] = output_dir / target
    chosen = [(scan, fixed[scan.path], "") if scan.path in fixed else (scan, target, reason) for scan, target, reason in planned]
    seen: dict[Path, str] = {}
    result = []
    for scan, target, reason in chosen:
        if target is not None and target in seen:
            result.append((scan, None, f"its result would have the same name as that of {seen[target]}"))
            continue
        if target is not None:
            seen[target] = scan.name
        result.append((scan, target, reason))
    return result


def planned_relative(scan: ScanSource, target: Path, output_dir: Path) -> Path:
    """The scan's name placed in the folder its planned result is in, relative to ``output_dir``."""
    return target.parent.relative_to(output_dir) / scan.path.name


def prepare_inputs(
    paths: str | Path | Iterable[str | Path], output_dir: str | Path, overwrite: bool = False, noise_std: float | None = None,
    skip_existing: bool = False,
    shard: tuple[int, int] | None = None,
    dicom_as_nifti: bool = False,
    outputs: Mapping[str | Path, str | Path] | None = None,
    bvals: str | Path | None = None,
    bvecs: str | Path | None = None,
) -> InputReport:
    """Expand inputs, check each one, and decide its output path; bad inputs are reported, not fatal.

    Args:
        paths: files and/or folders (NIfTI, DICOM, PNG, JPEG). A DICOM folder gives one scan per series.
        output_dir: where results go; it must not be an input folder (results never land next to, or over,
            the inputs). It is marked as a results folder (:data:`~monai_nad.data.scans.RESULTS_MARKER`), so a
            later run given a folder around it never reads these results back as inputs.
        overwrite: allow replacing existing results. Defaults to False.
        noise_std: the noise level the scans will be told, in their own units, checked against each scan
            (:func:`check_noise_std`). Defaults to None (estimated blindly).
        skip_existing: keep results that are already there and denoise only the other inputs (an interrupted run
            finishes where it stopped). Defaults to False: an existing result is a failure unless ``overwrite``.
        shard: ``(k, n)``: only the k-th of n shares of the inputs (1 <= k <= n), for n independent jobs (a job
            array) that together cover the study exactly once. The inputs found (and the inputs refused while
            looking for them) are sorted by name and dealt out in turn; result names are decided over the whole
            study first, so they are the same whatever the sharding. Defaults to None: everything.
        dicom_as_nifti: write DICOM inputs' results as NIfTI files. Defaults to False: as new DICOM series.
        outputs: input file -> its result path relative to ``output_dir``, for inputs whose result must have a given
            name (e.g. a BIDS derivative's; :func:`fix_outputs`). Defaults to None: every result is named as planned.
        bvals, bvecs: the gradient files of a 4D NIfTI diffusion series (both or neither). Without them a 4D NIfTI
            is recognised as a diffusion series by the ``.bval``/``.bvec`` files beside it (FSL and BIDS naming,
            :func:`~monai_nad.inference.gradients.diffusion_gradients`); a recognised series is logged and its table
            summarised in the report's details (``"diffusion"``). Files that do not fit the series refuse it.

    Returns:
        an :class:`InputReport`.

    Raises:
        ValueError: ``output_dir`` is one of the input folders or holds an input file, cannot be written to, or no input
            is usable (the reasons are listed).
        FileNotFoundError: no input path exists at all.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if shard is not None:
        k, n = (int(v) for v in shard)
        if not 1 <= k <= n:
            raise ValueError(f"shard must be K/N with 1 <= K <= N, got {k}/{n}.")
    output_dir = Path(output_dir)
    target = output_dir.resolve()
    for path in paths:
        if path.is_dir() and path.resolve() == target:
            raise ValueError(f"the output folder {output_dir} is the input folder {path}: choose another output folder.")
        if path.is_file() and path.resolve().parent == target:
            raise ValueError(f"the output folder {output_dir} holds the input {path}: choose another output folder.")
    check_writable(output_dir)
    (output_dir / RESULTS_MARKER).touch()
    report = InputReport()
    scans: dict[tuple, ScanSource] = {}
    for path in paths:
        try:
            found, problems, ignored = find_scans(path)
        except (FileNotFoundError, ValueError) as err:
            report.failures.append((str(path), str(err)))
            continue
        report.failures.extend(problems)
        report.ignored.extend(str(p) for p in ignored)
        for scan in found:
            if scan.path.is_relative_to(target):  # never read our own results back
                continue
            scans.setdefault((scan.path, scan.series.files if scan.series else ()), scan)
    planned = plan_outputs(list(scans.values()), output_dir, dicom_as_nifti)
    if outputs:
        planned = fix_outputs(planned, outputs, output_dir)
    names = sorted({scan.name for scan, _, _ in planned} | {source for source, _ in report.failures})
    report.study = names
    if shard is not None:
        report.shard = (int(shard[0]), int(shard[1]))
        mine = set(names[shard[0] - 1 :: shard[1]])
        planned = [entry for entry in planned if entry[0].name in mine]
        report.failures = [failure for failure in report.failures if failure[0] in mine]
    for scan, out, clash in planned:
        try:
            if out is None:
                raise ValueError(clash)
            if out.exists() and skip_existing:
                report.existing.append((scan.name, str(out)))
                continue
            if out.exists() and not overwrite:
                raise FileExistsError(f"{out} already exists (use --skip-existing to keep it, --overwrite to replace it)")
            if out.resolve() == scan.path:
                raise ValueError(f"the output {out} would overwrite the input")
            files = [str(f) for f in scan.series.files] if scan.series is not None else None
            loaded = load_image(scan.path, dicom_files=files)  # full validation now, so a bad file cannot stop the run half-way
            if noise_std is not None:
                check_noise_std(float(noise_std), loaded.array, scan.name)
            gradients = None
            if loaded.array.ndim == 4 and loaded.kind == "nifti":
                gradients = diffusion_gradients(scan.path, loaded.array.shape[-1], bvals, bvecs)
            elif bvals is not None:
                raise ValueError("--bvals/--bvecs are for a 4D NIfTI diffusion series")
        except (FileNotFoundError, FileExistsError, ValueError) as err:
            report.failures.append((scan.name, str(err)))
            continue
        item = {"image": str(scan.path), "output": str(out), "name": scan.name}
        if files is not None:
            item["dicom_files"] = files
        if gradients is not None:
            item["diffusion"] = True  # the inferer denoises it as a series (monai_nad.inference.series)
            report.details[scan.name] = {"diffusion": gradients.as_dict()}
            logger.info("%s: %s", scan.name, gradients.summary())
        report.items.append(item)
    for source, reason in report.failures:
        logger.error("skipping %s: %s", source, reason)
    if report.ignored:
        logger.info("passed over %d earlier result(s) inside the input folders", len(report.ignored))
    if not report.items and not report.existing and not (shard is not None and not report.failures):  # a share may be empty
        if not report.failures:
            raise ValueError("nothing to denoise: no inputs given")
        if len(report.failures) == 1:
            raise ValueError(f"nothing to denoise: {report.failures[0][0]}: {report.failures[0][1]}")
        raise ValueError(f"nothing to denoise: all {len(report.failures)} inputs were skipped (each named above)")
    return report
