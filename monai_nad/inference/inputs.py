"""Collecting and checking the scans of an inference run before any of them is denoised."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from monai_nad.data.volumes import find_images, load_image, output_path_for

__all__ = ["InputReport", "check_writable", "log_results", "prepare_inputs"]

logger = logging.getLogger(__name__)


@dataclass
class InputReport:
    """The outcome of :func:`prepare_inputs`.

    Attributes:
        items: one ``{"image": path, "output": path}`` per valid input.
        failures: ``(input, reason)`` for every input that will not be denoised.
    """

    items: list[dict] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


def log_results(report: InputReport, output_dir: str | Path) -> str:
    """Log (and return) where the results of a run went and which inputs were skipped, for ``finalize`` of a bundle run."""
    written = [item["output"] for item in report.items if Path(item["output"]).is_file()]
    lines = [f"wrote {len(written)} result(s) to {output_dir}"] + [f"  {path}" for path in written]
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
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".monai_nad_write_check"):
            pass
    except OSError as err:
        raise ValueError(f"cannot write to the output folder {folder}: {err.strerror or err}.") from None


def prepare_inputs(paths: str | Path | Iterable[str | Path], output_dir: str | Path, overwrite: bool = False) -> InputReport:
    """Expand inputs, check each one, and decide its output path; bad inputs are reported, not fatal.

    Args:
        paths: files and/or folders (NIfTI, DICOM, PNG, JPEG).
        output_dir: where results go; it must not be an input folder (results never land next to, or over,
            the inputs).
        overwrite: allow replacing existing results. Defaults to False.

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
    output_dir = Path(output_dir)
    target = output_dir.resolve()
    for path in paths:
        if path.is_dir() and path.resolve() == target:
            raise ValueError(f"the output folder {output_dir} is the input folder {path}: choose another output folder.")
        if path.is_file() and path.resolve().parent == target:
            raise ValueError(f"the output folder {output_dir} holds the input {path}: choose another output folder.")
    check_writable(output_dir)
    report = InputReport()
    found: list[Path] = []
    for path in paths:
        try:
            # never read our own results back: skip everything inside the output folder
            found.extend(p for p in find_images(path) if not p.resolve().is_relative_to(target))
        except (FileNotFoundError, ValueError) as err:
            report.failures.append((str(path), str(err)))
    for source in dict.fromkeys(found):
        out = output_path_for(source, output_dir)
        try:
            if out.exists() and not overwrite:
                raise FileExistsError(f"{out} already exists (use --overwrite to replace it)")
            if out.resolve() == source.resolve():
                raise ValueError(f"the output {out} would overwrite the input")
            load_image(source)  # full validation now, so a bad file cannot stop the run half-way
        except (FileNotFoundError, FileExistsError, ValueError) as err:
            report.failures.append((str(source), str(err)))
            continue
        report.items.append({"image": str(source), "output": str(out)})
    for source, reason in report.failures:
        logger.error("skipping %s: %s", source, reason)
    if not report.items:
        reasons = "; ".join(f"{s}: {r}" for s, r in report.failures) or "no inputs given"
        raise ValueError(f"nothing to denoise: {reasons}")
    return report
