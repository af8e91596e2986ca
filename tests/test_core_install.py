"""The core install alone (``pip install monai_nad``, no extras) denoises scans and runs the bundle.

A wheel built from a clean clone of the repository's committed ``HEAD`` (``git clone``: no uncommitted or git-ignored
file of this checkout can make it pass), checked to carry the shipped bundle and nothing of the reproductions; a fresh
virtual environment in ``tmp_path``: torch installed as ``scripts/setup_env.sh`` does (``$TORCH_SPEC``, default
``torch==2.13.0``; pip's cache and the local wheels make it quick), then that wheel installed without extras, so nothing
from this checkout's environment or source tree can stand in for a missing dependency. The wheel carries the shipped
bundle (configs, docs, the 2D and volume models) to ``<prefix>/share/monai_nad/bundles``, where the installed
``monai-nad`` finds it with no ``--bundle``; the bundle command is given that installed folder as ``--bundle_root``.
Every command runs with the temporary folder as working directory and without ``PYTHONPATH``, so it imports the
installed copy. Skipped outside a git checkout (nothing committed to clone).

Checked there: ``bm3d``, ``bm4d``, ``dipy`` and ``SimpleITK`` (and ``nilearn``, ``einops``) cannot be imported;
``monai-nad denoise`` denoises a NIfTI volume (through the volume model), a DICOM series (slice by slice: 3 mm slices)
and a 4D NIfTI series with the right output shapes; ``python -m monai.bundle run`` runs ``common.json`` +
``inference.json`` on the NIfTI as the README shows for a user's file; ``monai-nad demo`` (its sample comes from
nilearn's MNI template) stops with one line naming ``monai_nad[experiments]``. About 2-3 minutes, most of it pip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the shipped bundle's folder in the repository; the wheel installs it under share/monai_nad
SHIPPED = "bundles/neural_pde_denoising"

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, venv: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _check(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 0, f"{run.args}\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return run.stdout


def _phantom(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A bright disc on a dim background with Rician noise, intensities of a few hundred."""
    x, y = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing="ij")
    clean = np.where(x**2 + y**2 < 0.5, 0.8, 0.1).reshape(shape[:2] + (1,) * (len(shape) - 2)) * np.ones(shape)
    noisy = np.abs(clean + rng.normal(0, 0.05, shape) + 1j * rng.normal(0, 0.05, shape))
    return (noisy * 400).astype(np.float32)


def _dicom_series(folder: Path, rng: np.random.Generator, slices: int = 6) -> Path:
    """A 40x40 MR series of ``slices`` 3 mm slices, written with pydicom like ``tests/data/test_scans.py``."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir()
    uid = generate_uid()
    volume = _phantom(rng, (40, 40, slices))
    for k in range(slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = pydicom.uid.MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"s{k}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID, ds.SeriesInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, uid
        ds.Modality, ds.Rows, ds.Columns = "MR", 40, 40
        ds.PixelSpacing, ds.SliceThickness = [1.0, 1.0], 3.0
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [0.0, 0.0, 3.0 * k], [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.InstanceNumber = k + 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = np.round(volume[..., k]).astype(np.uint16).tobytes()
        ds.save_as(str(folder / f"s{k}.dcm"), enforce_file_format=True)
    return folder


def test_core_install_denoises_without_extras(tmp_path):
    # the committed HEAD, cloned: what a clean clone builds, with no file of this checkout's working tree (uncommitted,
    # git-ignored, build/ or egg-info) in it, and nothing written into this checkout
    inside = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if inside.returncode != 0 or Path(inside.stdout.strip()).resolve() != ROOT.resolve():
        pytest.skip("not a git checkout: nothing committed to clone")
    source = tmp_path / "source"
    _check(subprocess.run(["git", "clone", "--quiet", "--no-local", "--depth", "1", f"file://{ROOT}", str(source)],
                          capture_output=True, text=True, timeout=300))

    venv = tmp_path / "venv"
    _check(subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=300))
    python = str(venv / "bin" / "python")
    # the wheel, built from the clone: it carries the shipped bundle (pyproject's data-files) and no reproduction
    dist = tmp_path / "dist"
    _check(_run([python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(source)], tmp_path, venv))
    (wheel,) = dist.glob("monai_nad-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        data = {name.split(".data/data/", 1)[1] for name in archive.namelist() if ".data/data/" in name}
    shipped = f"share/monai_nad/{SHIPPED}"
    for name in ("configs/common.json", "configs/inference.json", "configs/metadata.json", "models/model.pt", "models/model_3d.pt"):
        assert f"{shipped}/{name}" in data, (name, sorted(data))
    assert all(name.startswith(f"{shipped}/") for name in data), sorted(data)
    _check(_run([python, "-m", "pip", "install", "--quiet", os.environ.get("TORCH_SPEC", "torch==2.13.0")], tmp_path, venv))
    _check(_run([python, "-m", "pip", "install", "--quiet", str(wheel)], tmp_path, venv))

    # the extras' packages are absent, and the installed copy (not this checkout) is the one imported
    probe = (
        "import importlib.util as u, monai_nad; "
        "print(monai_nad.__file__); "
        "print([m for m in ('bm3d', 'bm4d', 'dipy', 'SimpleITK', 'nilearn', 'einops') if u.find_spec(m) is not None])"
    )
    where, present = _check(_run([python, "-c", probe], tmp_path, venv)).strip().splitlines()[-2:]
    assert Path(where).resolve().is_relative_to(venv.resolve()), where
    assert present == "[]", present
    # the installed command finds the bundle the wheel installed, with its two shipped models and nothing older
    found = _check(_run([python, "-c", "from monai_nad.bundle import default_bundle; print(default_bundle())"], tmp_path, venv))
    bundle = Path(found.strip().splitlines()[-1])
    assert bundle.resolve().is_relative_to(venv.resolve()), bundle
    assert sorted(p.name for p in (bundle / "models").iterdir()) == ["model.pt", "model_3d.pt"]
    for module in ("bm3d", "bm4d", "dipy", "SimpleITK"):
        failed = _run([python, "-c", f"import {module}"], tmp_path, venv)
        assert failed.returncode != 0 and "ModuleNotFoundError" in failed.stderr, module

    # inputs: a 1 mm NIfTI volume (the volume model), a 3 mm DICOM series (the 2D model), a 4D NIfTI series
    rng = np.random.default_rng(0)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    nib.save(nib.Nifti1Image(_phantom(rng, (40, 40, 6)), np.eye(4)), str(inputs / "scan.nii.gz"))
    nib.save(nib.Nifti1Image(_phantom(rng, (40, 40, 6, 3)), np.eye(4)), str(inputs / "series4d.nii.gz"))
    dicom = _dicom_series(inputs / "dicom", rng)

    out = tmp_path / "denoised"
    monai_nad = str(venv / "bin" / "monai-nad")
    args = [monai_nad, "denoise", str(inputs / "scan.nii.gz"), str(dicom), str(inputs / "series4d.nii.gz"), "-o", str(out)]
    stdout = _check(_run(args + ["--device", "cpu"], tmp_path, venv))  # no --bundle: the installed one
    assert "denoised 3 image(s)" in stdout, stdout
    scan = nib.load(str(out / "scan_denoised.nii.gz"))
    assert scan.shape == (40, 40, 6) and np.isfinite(scan.get_fdata()).all()
    assert nib.load(str(out / "series4d_denoised.nii.gz")).shape == (40, 40, 6, 3)
    if (out / "dicom_denoised.nii.gz").exists():  # a DICOM series written as NIfTI
        assert sorted(nib.load(str(out / "dicom_denoised.nii.gz")).shape) == [6, 40, 40]
    else:  # or as a DICOM series
        import pydicom

        slices = sorted((out / "dicom_denoised").glob("*.dcm"))
        assert len(slices) == 6 and all(pydicom.dcmread(s).pixel_array.shape == (40, 40) for s in slices)

    # the bundle's inference.json through MONAI's own command line, on a user's file (README "The MONAI bundle")
    configs = f"['{bundle / 'configs' / 'common.json'}','{bundle / 'configs' / 'inference.json'}']"
    bundle_out = tmp_path / "bundle_out"
    bundle_args = [python, "-m", "monai.bundle", "run", "--config_file", configs, "--bundle_root", str(bundle),
                   "--input_paths", f"['{inputs / 'scan.nii.gz'}']", "--output_dir", str(bundle_out)]
    _check(_run(bundle_args, tmp_path, venv))
    written = list(bundle_out.glob("denoised-*/scan_denoised.nii.gz"))
    assert len(written) == 1 and nib.load(str(written[0])).shape == (40, 40, 6)

    # the demo's sample is the MNI template shipped in nilearn: one line naming the extra, nothing written
    demo = _run([monai_nad, "demo", "-o", str(tmp_path / "demo"), "--bundle", str(bundle)], tmp_path, venv)
    assert demo.returncode == 2
    assert len(demo.stderr.strip().splitlines()) == 1
    assert demo.stderr.strip().splitlines()[-1].startswith("monai-nad: error: nilearn is not installed")
    assert demo.stderr.strip().endswith('pip install "monai_nad[experiments]"') and "Traceback" not in demo.stderr
    assert not (tmp_path / "demo").exists()
