"""Start-up of ``monai-nad denoise``: a small image's run is almost all imports, so the command imports only what it uses.

Importing MONAI imports every optional package it finds installed (mlflow, pandas, scikit-learn, matplotlib), which no
command uses through MONAI; run as the program, the command imports MONAI without them (``monai_nad.cli._import_monai``).
Each test runs the command in a fresh interpreter and reads that interpreter's ``sys.modules``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
UNUSED = ("mlflow", "pandas", "sklearn", "matplotlib")


def _run(tmp_path: Path, call: str) -> subprocess.CompletedProcess:
    """Denoise a 32x32x4 NIfTI with the shipped bundle in a fresh interpreter through ``call``; it prints what it loaded."""
    image = tmp_path / "tiny.nii.gz"
    noisy = np.random.default_rng(0).uniform(0, 100, (32, 32, 4)).astype(np.float32)
    nib.save(nib.Nifti1Image(noisy, np.eye(4)), str(image))
    script = textwrap.dedent(
        f"""
        import sys
        import monai_nad.cli
        argv = ["denoise", {str(image)!r}, "-o", {str(tmp_path / "out")!r}, "--device", "cpu", "--threads", "1"]
        {call}
        print("LOADED", sorted(n for n in {UNUSED!r} if sys.modules.get(n) is not None))
        print("BLOCKED", sorted(n for n in {UNUSED!r} if n in sys.modules and sys.modules[n] is None))
        import monai.handlers.mlflow_handler as handler
        print("MONAI_MLFLOW", type(handler.mlflow).__name__)
        sys.exit(status)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (tmp_path / "out" / "tiny_denoised.nii.gz").is_file()
    return run


def _line(run: subprocess.CompletedProcess, key: str) -> str:
    return next(line for line in run.stdout.splitlines() if line.startswith(key + " "))[len(key) + 1:]


def test_the_denoise_command_imports_no_package_it_does_not_use(tmp_path):
    """`monai-nad denoise` as the program: MONAI comes without mlflow, pandas, scikit-learn and matplotlib, and the
    block is lifted afterwards (a later ``import mlflow`` gets the real package)."""
    run = _run(tmp_path, 'sys.argv = ["monai-nad", *argv]; status = monai_nad.cli.main()')
    assert _line(run, "LOADED") == "[]"
    assert _line(run, "BLOCKED") == "[]"  # nothing left unimportable
    assert _line(run, "MONAI_MLFLOW") == "_LazyRaise"  # MONAI's placeholder: its MLFlowHandler is the one thing lost


def test_a_python_caller_keeps_its_monai_whole(tmp_path):
    """``main([...])`` called from Python leaves the host process's imports to the host: MONAI loads as it always does."""
    run = _run(tmp_path, "status = monai_nad.cli.main(argv)")
    assert _line(run, "BLOCKED") == "[]"
    assert _line(run, "MONAI_MLFLOW") == "module"  # mlflow is a core dependency: MONAI imported it
