"""BIDS in, BIDS derivatives out: denoise the scans of a BIDS dataset into a derivative dataset (``monai-nad bids``).

The scans of the participants and suffixes asked (default: every participant; T1w, T2w, FLAIR, PD, dwi) are found
with pybids and denoised in one run of the bundle's inference workflow (one model load). Each result keeps its scan's
name and folders with ``desc-denoised`` before the suffix (``sub-01/ses-1/anat/sub-01_ses-1_acq-x_desc-denoised_T1w.nii.gz``),
beside a JSON sidecar (the source's metadata, ``Sources`` as a BIDS URI, a ``Description`` and what the denoiser
recorded) and, for diffusion, the scan's ``.bval``/``.bvec`` (under the scan's own name, which BIDS' inheritance
principle applies to the result: BIDS has no ``desc`` for them). The output folder is described as a derivative
dataset (``dataset_description.json``), so it passes the BIDS validator::

    monai-nad bids /data/study /data/study/derivatives/monai_nad participant --participant-label 01 02

pybids comes with the ``bids`` extra (``pip install "monai_nad[bids]"``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from monai_nad import __version__, _optional
from monai_nad.bundle import default_bundle
from monai_nad.inference.workflow import run_inference

__all__ = ["DEFAULT_SUFFIXES", "DESC", "BIDSInput", "derivative_name", "find_bids_inputs", "derivative_description", "denoise_bids"]

logger = logging.getLogger(__name__)

#: the suffixes denoised when none are asked for
DEFAULT_SUFFIXES = ("T1w", "T2w", "FLAIR", "PD", "dwi")
#: the ``desc`` label of the results
DESC = "denoised"
#: the BIDS version the derivative dataset is described with
BIDS_VERSION = "1.9.0"
#: the name of the source dataset in the BIDS URIs of the sidecars (``bids:raw:sub-01/anat/sub-01_T1w.nii.gz``)
SOURCE_KEY = "raw"
NIFTI_EXTENSIONS = (".nii", ".nii.gz")


@dataclass
class BIDSInput:
    """One scan of the BIDS dataset and where its derivative goes.

    Attributes:
        path: the scan (absolute).
        relpath: its path in the BIDS dataset (``sub-01/anat/sub-01_T1w.nii.gz``).
        result: the result's path in the derivative dataset (``sub-01/anat/sub-01_desc-denoised_T1w.nii.gz``).
        metadata: the scan's sidecar metadata (inherited ones included).
        extras: ``{".bval": path, ".bvec": path}`` for diffusion scans: the files copied beside the result.
    """

    path: Path
    relpath: str
    result: str
    metadata: dict = field(default_factory=dict)
    extras: dict[str, Path] = field(default_factory=dict)

    def beside(self, extension: str) -> str:
        """The derivative's path with ``extension`` (``.json``, ...) in place of the image's."""
        return self.result[: -len(_nifti_extension(self.result))] + extension

    def extra_name(self, extension: str) -> str:
        """Where the scan's ``.bval``/``.bvec`` goes: beside the result, under the scan's own name.

        BIDS (up to 1.11) has no ``desc`` entity for ``.bval``/``.bvec`` files, and the validator refuses
        ``sub-01_desc-denoised_dwi.bval``; by the inheritance principle ``sub-01_dwi.bval`` applies to
        ``sub-01_desc-denoised_dwi.nii.gz`` beside it (its entities are a subset of the result's), so pybids'
        ``get_bval`` and diffusion tools reading BIDS find it.
        """
        name = Path(self.relpath).name
        return (Path(self.result).parent / (name[: -len(_nifti_extension(name))] + extension)).as_posix()


def _nifti_extension(name: str) -> str:
    for extension in NIFTI_EXTENSIONS[::-1]:  # .nii.gz before .nii
        if name.endswith(extension):
            return extension
    raise ValueError(f"{name} is not a NIfTI file name")


def _pybids(purpose: str = "reading BIDS datasets with pybids"):
    """pybids' ``bids`` package, or the one-line error naming the ``bids`` extra."""
    return _optional.require("bids", purpose)


def derivative_name(filename: str, entities: Mapping[str, object], desc: str = DESC) -> str:
    """The derivative's file name: ``filename`` with ``desc-<desc>`` before the suffix, every other entity kept.

    ``desc`` is the last entity of a BIDS name, so it goes right before the suffix; a source that has one already
    (e.g. a derivative's ``desc-preproc``) gets ``desc-preproc<desc>``.

    Args:
        filename: the source's file name (``sub-01_ses-1_run-2_T1w.nii.gz``).
        entities: its BIDS entities as pybids parses them (``suffix`` and ``extension`` are used).
        desc: the label. Defaults to ``"denoised"``.

    Raises:
        ValueError: the name does not end in ``_<suffix><extension>``.
    """
    tail = f"_{entities.get('suffix')}{entities.get('extension')}"
    if not entities.get("suffix") or not filename.endswith(tail):
        raise ValueError(f"{filename} is not a BIDS file name ending in {tail!r}")
    parts = filename[: -len(tail)].split("_")
    earlier = [part[len("desc-") :] for part in parts if part.startswith("desc-")]
    parts = [part for part in parts if not part.startswith("desc-")]
    return "_".join(parts + [f"desc-{''.join(earlier)}{desc}"]) + tail


def _labels(labels: Sequence[str] | None) -> list[str] | None:
    """Participant labels without a ``sub-`` prefix (the BIDS Apps convention accepts both)."""
    if not labels:
        return None
    return list(dict.fromkeys(label[len("sub-") :] if label.startswith("sub-") else label for label in labels))


def _check_folders(bids_dir: Path, output_dir: Path) -> None:
    if not bids_dir.is_dir():
        raise FileNotFoundError(f"BIDS folder not found: {bids_dir}")
    if not (bids_dir / "dataset_description.json").is_file():
        raise ValueError(f"{bids_dir} is not a BIDS dataset: it has no dataset_description.json")
    root, target = bids_dir.resolve(), output_dir.resolve()
    if target == root or (target.is_relative_to(root) and not target.is_relative_to(root / "derivatives")):
        raise ValueError(f"the output folder {output_dir} is inside the BIDS dataset {bids_dir}: choose a folder outside it or under its derivatives/")


def find_bids_inputs(
    bids_dir: str | Path, participant_labels: Sequence[str] | None = None, suffixes: Sequence[str] | None = None,
    exclude: str | Path | None = None,
) -> list[BIDSInput]:
    """The NIfTI scans of the participants and suffixes asked, with their derivative names.

    Args:
        bids_dir: the BIDS dataset (read with pybids, unvalidated).
        participant_labels: labels (``01`` or ``sub-01``). Defaults to None: every participant.
        suffixes: BIDS suffixes. Defaults to :data:`DEFAULT_SUFFIXES`.
        exclude: a folder whose files are never taken (the output folder). Defaults to None.

    Returns:
        the scans in a deterministic order (by path).

    Raises:
        ValueError: a participant label the dataset does not have, or no scan matched (one line each).
    """
    bids = _pybids()
    bids_dir = Path(bids_dir)
    layout = bids.BIDSLayout(str(bids_dir), validate=False)
    labels = _labels(participant_labels)
    subjects = sorted(layout.get_subjects())
    unknown = [label for label in labels or [] if label not in subjects]
    if unknown:
        have = ", ".join(subjects) if subjects else "none"
        raise ValueError(f"participant label(s) {', '.join(unknown)} not found in {bids_dir} (its participants: {have})")
    suffixes = list(suffixes or DEFAULT_SUFFIXES)
    query = {"suffix": suffixes, "extension": list(NIFTI_EXTENSIONS), "return_type": "object"}
    if labels:
        query["subject"] = labels
    excluded = Path(exclude).resolve() if exclude is not None else None
    inputs = []
    for found in sorted(layout.get(**query), key=lambda f: f.relpath):
        relpath = Path(found.relpath)
        if not relpath.parts[0].startswith("sub-"):  # raw data only: not derivatives/, sourcedata/, code/
            continue
        if excluded is not None and Path(found.path).resolve().is_relative_to(excluded):
            continue
        entities = found.get_entities()
        scan = BIDSInput(
            path=Path(found.path), relpath=relpath.as_posix(),
            result=(relpath.parent / derivative_name(relpath.name, entities)).as_posix(),
            metadata=dict(found.get_metadata()),
        )
        if entities.get("suffix") == "dwi":
            for extension, lookup in ((".bval", layout.get_bval), (".bvec", layout.get_bvec)):
                try:
                    extra = lookup(found.path)
                except Exception:  # noqa: BLE001 - pybids raises different errors for a missing file
                    extra = None
                if extra:
                    scan.extras[extension] = Path(extra)
        inputs.append(scan)
    if not inputs:
        who = f"participant(s) {', '.join(labels)}" if labels else "any participant"
        raise ValueError(f"nothing to denoise: no {'/'.join(suffixes)} NIfTI images of {who} in {bids_dir}")
    return inputs


def _source_uri(bids_dir: Path) -> str:
    return bids_dir.resolve().as_uri()


def derivative_description(bids_dir: str | Path, bundle_name: str | None = None) -> dict:
    """The ``dataset_description.json`` of the derivative dataset of ``bids_dir``."""
    bids_dir = Path(bids_dir)
    try:
        raw = json.loads((bids_dir / "dataset_description.json").read_text())
    except (OSError, ValueError):
        raw = {}
    raw = raw if isinstance(raw, dict) else {}
    source = {"URL": _source_uri(bids_dir)}
    if isinstance(raw.get("DatasetDOI"), str):
        source["DOI"] = raw["DatasetDOI"]
    model = f" with the model {bundle_name!r}" if bundle_name else ""
    name = raw.get("Name") if isinstance(raw.get("Name"), str) and raw.get("Name") else bids_dir.resolve().name
    return {
        "Name": f"{name}: denoised (monai_nad)",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{
            "Name": "monai_nad", "Version": __version__,
            "Description": f"Learned anisotropic-diffusion (Neural PDE) MRI denoising{model}; one result per source scan, desc-{DESC}.",
        }],
        "SourceDatasets": [source],
        "DatasetLinks": {SOURCE_KEY: _source_uri(bids_dir)},
    }


def _write_json(path: Path, body: dict) -> None:
    """Write ``body`` atomically (concurrent shards may write the same file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(partial, path)


def _check_description(output_dir: Path) -> bool:
    """Whether ``output_dir`` already holds this pipeline's description; refuse another one's."""
    path = output_dir / "dataset_description.json"
    if not path.exists():
        return False
    try:
        existing = json.loads(path.read_text())
        generated = existing.get("GeneratedBy") or []
        names = [entry.get("Name") for entry in generated if isinstance(entry, dict)]
    except (OSError, ValueError, AttributeError):
        names = []
    if "monai_nad" not in names:
        raise FileExistsError(
            f"{path} describes another dataset or pipeline ({', '.join(map(str, names)) or 'not monai_nad'}): choose another output folder"
        )
    return True


def _bundle_identity(bundle: Path) -> dict:
    """The model's name and version from the bundle's ``metadata.json`` (where readable)."""
    try:
        metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
    except (OSError, ValueError):
        metadata = {}
    identity = {"Model": metadata.get("name") or bundle.name}
    if metadata.get("version"):
        identity["ModelVersion"] = metadata["version"]
    return identity


#: how the sidecar names what the run recorded for each scan (:attr:`~monai_nad.inference.InputReport.details`)
_DETAIL_KEYS = {"model": "Network", "coils": "Coils", "seconds": "Seconds", "noise_std": "NoiseStd", "sigma": "NoiseStd"}


def _sidecar(scan: BIDSInput, identity: dict, details: Mapping[str, object] | None) -> dict:
    denoising = {"Software": "monai_nad", "SoftwareVersion": __version__, **identity}
    for key, value in (details or {}).items():
        denoising[_DETAIL_KEYS.get(key, "".join(word.capitalize() for word in str(key).split("_")))] = value
    return {
        "SkullStripped": False,  # required of image derivatives; the source's own value, where it has one, wins
        **scan.metadata,
        "Sources": [f"bids:{SOURCE_KEY}:{scan.relpath}"],
        "Description": f"{scan.relpath} denoised with a learned anisotropic-diffusion (Neural PDE) network (monai_nad {__version__}).",
        "Denoising": denoising,
    }


def _finish(scan: BIDSInput, output_dir: Path, identity: dict, details: Mapping | None, replace: bool) -> list[str]:
    """Write the sidecar of ``scan``'s result and copy its ``.bval``/``.bvec`` beside it (``replace``: over earlier ones)."""
    written = []
    sidecar = output_dir / scan.beside(".json")
    if replace or not sidecar.exists():
        _write_json(sidecar, _sidecar(scan, identity, details))
        written.append(str(sidecar))
    for extension, source in scan.extras.items():
        target = output_dir / scan.extra_name(extension)
        if replace or not target.exists():
            shutil.copyfile(source, target)
            written.append(str(target))
    return written


def denoise_bids(
    bids_dir: str | Path,
    output_dir: str | Path,
    participant_labels: Sequence[str] | None = None,
    suffixes: Sequence[str] | None = None,
    bundle: str | Path | None = None,
    **inference: object,
) -> dict:
    """Denoise the scans of a BIDS dataset into a BIDS derivative dataset (the participant level of a BIDS App).

    Args:
        bids_dir: the BIDS dataset (it must have a ``dataset_description.json``).
        output_dir: the derivative dataset (outside ``bids_dir``, or under its ``derivatives/``). A
            ``dataset_description.json`` is written unless this pipeline's is already there; another one's is refused.
        participant_labels: ``01`` or ``sub-01``. Defaults to None: every participant.
        suffixes: the BIDS suffixes to denoise. Defaults to :data:`DEFAULT_SUFFIXES`.
        bundle: the bundle folder. Defaults to the shipped one.
        inference: further arguments of :func:`monai_nad.inference.workflow.run_inference` (``device``, ``overwrite``,
            ``skip_existing``, ``shard``, ``mode``, ``coils``, ...).

    Returns:
        :func:`~monai_nad.inference.workflow.run_inference`'s result, plus ``"description"`` (the dataset description's path),
        ``"sidecars"`` (the sidecars and ``.bval``/``.bvec`` files written) and ``"inputs"`` (the
        :class:`BIDSInput` of every scan selected, all shards).

    Raises:
        FileNotFoundError: ``bids_dir`` does not exist.
        FileExistsError: ``output_dir`` is another dataset's.
        ValueError: not a BIDS dataset, an unknown participant, nothing matched, or the output inside the dataset.
        monai.utils.OptionalImportError: pybids is not installed.
    """
    bids_dir, output_dir = Path(bids_dir), Path(output_dir)
    _check_folders(bids_dir, output_dir)
    scans = find_bids_inputs(bids_dir, participant_labels, suffixes, exclude=output_dir)
    described = _check_description(output_dir)
    bundle = Path(bundle) if bundle is not None else default_bundle()
    identity = _bundle_identity(bundle)
    by_path: dict[str, BIDSInput] = {}
    for scan in scans:
        key = str(scan.path.resolve())
        if key in by_path:  # e.g. two annexed files with the same content
            logger.warning("skipping %s: it is the same file as %s", scan.relpath, by_path[key].relpath)
            continue
        by_path[key] = scan
    result = run_inference(list(by_path), output_dir, bundle=bundle, outputs={path: scan.result for path, scan in by_path.items()}, **inference)
    description = output_dir / "dataset_description.json"
    if not described and not _check_description(output_dir):
        _write_json(description, derivative_description(bids_dir, identity["Model"]))
    report = result["report"]
    written = set(result["written"])
    sidecars = []
    for item in report.items:
        scan = by_path.get(str(Path(item["image"]).resolve()))
        if scan is not None and item["output"] in written:
            sidecars += _finish(scan, output_dir, identity, report.details.get(item["name"]), replace=True)
    for source, _ in result["existing"]:  # kept from an earlier run: complete what that run may not have written
        scan = by_path.get(str(Path(source).resolve()))
        if scan is not None:
            sidecars += _finish(scan, output_dir, identity, None, replace=False)
    result.update(description=str(description), sidecars=sidecars, inputs=list(by_path.values()))
    return result
