"""The embedded sample: a noisy slab of the MNI test slices, written as NIfTI with the template's geometry."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from monai_nad.data.mni import MNI_SPLITS, load_mni_template, mni_template_path
from monai_nad.transforms.pairs import DeterministicNoisyPaird

__all__ = ["SAMPLE_NOISE_STD", "write_embedded_sample"]

#: Rician noise level (``noise_std``) of the embedded sample.
SAMPLE_NOISE_STD = 0.10


def write_embedded_sample(folder: str | Path, noise_std: float = SAMPLE_NOISE_STD, seed: int = 0) -> tuple[Path, Path]:
    """Write the noisy and clean MNI test slab (10 axial slices) into ``folder``.

    The noise is the benchmark's evaluation noise (a pure function of slice id, level and seed), so the
    sample is identical on every machine.

    Args:
        folder: destination (created if needed).
        noise_std: Rician noise level. Defaults to 0.10.
        seed: evaluation seed. Defaults to 0.

    Returns:
        ``(noisy_path, clean_path)``, both ``.nii.gz`` of shape ``(197, 233, 10)``.
    """
    template = nib.load(str(mni_template_path()))  # first: without nilearn nothing is written
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    volume = load_mni_template()
    zs = MNI_SPLITS["test"]
    noise = DeterministicNoisyPaird("image", level=noise_std, seed=seed)
    noisy = [np.asarray(noise({"image": volume[None, :, :, z], "id": f"mni_test_z{z:03d}"})["image"])[0] for z in zs]
    affine = template.affine.copy()
    affine[:3, 3] += affine[:3, 2] * zs[0]  # the slab starts at slice zs[0]
    paths = []
    for name, data in (("mni_test_slab_noisy.nii.gz", np.stack(noisy, -1)), ("mni_test_slab_clean.nii.gz", volume[:, :, zs[0] : zs[-1] + 1])):
        path = folder / name
        nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine), str(path))
        paths.append(path)
    return paths[0], paths[1]
