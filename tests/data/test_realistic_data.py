"""Randomised realistic training data and the validation sets (synthetic volumes; one check on the real MNI maps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_nad.data import COLIN27_SPLITS, MNI_SPLITS
from monai_nad.data import real_anatomy as ra
from monai_nad.data import realistic as real
from monai_nad.data import realistic_training_dataset, realistic_validation_arrays, realistic_validation_dataset, training_slabs
from monai_nad.transforms import RandTissueBlockd

SHAPE = (60, 70, 160)


def _encoded(shape=SHAPE, poison=None):
    """A disc 'head' whose intensity encodes z (``0.2 + z / 400``); z outside ``poison`` are NaN when given."""
    x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    disc = ((x - shape[0] / 2) ** 2 + (y - shape[1] / 2) ** 2 < 25**2).astype(np.float32)
    volume = disc[:, :, None] * (0.2 + np.arange(shape[2], dtype=np.float32) / 400)[None, None, :]
    gm = np.repeat((disc * 0.5)[:, :, None], shape[2], axis=2)
    wm = np.repeat((disc * 0.3)[:, :, None], shape[2], axis=2)
    if poison is not None:
        bad = np.setdiff1d(np.arange(shape[2]), poison)
        for arr in (volume, gm, wm):
            arr[:, :, bad] = np.nan
    return volume.astype(np.float32), gm.astype(np.float32), wm.astype(np.float32)


@pytest.fixture()
def poisoned(monkeypatch):
    """Volumes that are NaN everywhere but on their training slabs."""
    mni, gm, wm = _encoded(poison=MNI_SPLITS["train"])
    colin, _, _ = _encoded(poison=COLIN27_SPLITS["train"])
    monkeypatch.setattr(ra, "load_mni_template", lambda: mni)
    monkeypatch.setattr(ra, "load_colin27", lambda: colin)
    monkeypatch.setattr(real, "load_mni_tissue_maps", lambda: {"gm": gm, "wm": wm})


def test_slabs_read_only_training_slices(poisoned):
    slabs = training_slabs(patch_size=32)
    assert len(slabs) == len(MNI_SPLITS["train"]) + len(COLIN27_SPLITS["train"])
    for item in slabs:
        split = MNI_SPLITS if item["volume"] == "mni" else COLIN27_SPLITS
        assert item["z"] in split["train"] and np.isfinite(item["stack"]).all()
        decoded = round((float(item["stack"][0].max()) - 0.2) * 400)
        assert decoded == item["z"]
        assert item["corners"].size > 0
    assert slabs[0]["channels"] == ("image", "mask", "gm", "wm", "csf") and slabs[-1]["channels"] == ("image", "mask")


def test_dataset_items_keys_shapes_and_only_training_voxels(poisoned):
    ds = realistic_training_dataset(patch_size=32, samples_per_slice=2, seed=0)
    assert len(ds) == 2 * (len(MNI_SPLITS["train"]) + len(COLIN27_SPLITS["train"]))
    assert {(d["volume"], d["z"]) for d in ds.data} <= {("mni", z) for z in MNI_SPLITS["train"]} | {("colin27", z) for z in COLIN27_SPLITS["train"]}
    for i in range(0, len(ds), 3):
        item = ds[i]
        assert set(item) == {"image", "label", "noise_std", "coils"}
        for key in ("image", "label", "noise_std"):
            assert isinstance(item[key], torch.Tensor) and item[key].shape == (1, 32, 32) and item[key].dtype == torch.float32
            assert torch.isfinite(item[key]).all()  # a voxel of any other slice would be NaN
        assert (item["label"] >= 0).all() and (item["noise_std"] > 0).all()
        assert 1 <= item["coils"] <= 8


def test_dataset_is_reproducible_by_seed(poisoned):
    a = realistic_training_dataset(patch_size=32, samples_per_slice=1, seed=3)
    b = realistic_training_dataset(patch_size=32, samples_per_slice=1, seed=3)
    c = realistic_training_dataset(patch_size=32, samples_per_slice=1, seed=4)
    first = [a[i] for i in (0, 5, 150)]
    second = [b[i] for i in (0, 5, 150)]
    for x, y in zip(first, second):
        torch.testing.assert_close(x["image"], y["image"])
        torch.testing.assert_close(x["noise_std"], y["noise_std"])
    assert not torch.equal(c[0]["image"], first[0]["image"])
    with pytest.raises(ValueError, match="does not fit"):
        training_slabs(patch_size=100)


def test_validation_arrays_are_fixed_and_come_from_the_validation_slabs(monkeypatch):
    mni, gm, wm = _encoded(poison=MNI_SPLITS["validation"])
    colin, _, _ = _encoded(poison=COLIN27_SPLITS["validation"])
    monkeypatch.setattr(ra, "load_mni_template", lambda: mni)
    monkeypatch.setattr(ra, "load_colin27", lambda: colin)
    monkeypatch.setattr(real, "load_mni_tissue_maps", lambda: {"gm": gm, "wm": wm})
    sets = realistic_validation_arrays(noise_stds=(0.05, 0.1))
    names = [s[0] for s in sets]
    assert len(sets) == 2 * 4 * 2 and "colin27_t2_0.05" in names and "mni_inverted_0.1" in names
    for name, noisy, clean, sigma in sets:
        assert noisy.shape == clean.shape == (10, 60, 70) and noisy.dtype == clean.dtype == np.float32
        assert np.isfinite(noisy).all() and np.isfinite(clean).all() and sigma in (0.05, 0.1)
    asis = dict((s[0], s) for s in sets)["mni_asis_0.05"]
    np.testing.assert_allclose(asis[2].max(axis=(1, 2)), 0.2 + np.arange(80, 90) / 400, rtol=1e-6)
    again = realistic_validation_arrays(noise_stds=(0.05, 0.1))
    for x, y in zip(sets, again):
        np.testing.assert_array_equal(x[1], y[1])
    assert not np.array_equal(sets[0][1], realistic_validation_arrays(seed=1, noise_stds=(0.05, 0.1))[0][1])
    ds = realistic_validation_dataset(noise_stds=(0.05, 0.1), limit=2)
    assert len(ds) == 16 * 2 and ds[0]["id"] == "mni_asis_0.05_0" and ds[0]["coils"] == 1
    np.testing.assert_array_equal(ds[1]["image"].numpy()[0], sets[0][1][1])
    assert ds[0]["label"].shape == ds[0]["noise_std"].shape == (1, 60, 70) and float(ds[0]["noise_std"].max()) == pytest.approx(0.05)


def test_real_mni_maps_give_csf_above_white_matter_for_t2():
    """On the real MNI training slabs (no Colin27 needed): tissue maps load and a T2 draw makes CSF brighter than WM."""
    from monai_nad.transforms import RandTissueContrastd

    item = training_slabs(("mni",), patch_size=64)[55]  # z = 75
    assert item["stack"].shape == (5, 197, 233)
    image, mask, gm, wm, csf = (item["stack"][k : k + 1] for k in range(5))
    assert 0 <= csf.min() and csf.max() <= 1 and (csf[mask == 0] == 0).all()
    t = RandTissueContrastd("image", prob=1.0, contrasts=("t2",)).set_random_state(0)
    out = t({"image": image, "gm": gm, "wm": wm, "csf": csf})["image"]
    assert out[(csf > 0.8) & (mask > 0)].mean() > out[wm > 0.9].mean()
    ds = realistic_training_dataset(volumes=("mni",), samples_per_slice=1)
    assert ds[0]["image"].shape == (1, 64, 64)


def test_volume_patches_are_consecutive_training_slices_only(poisoned):
    """3D patches for the volume model: blocks of consecutive training z that never cross into the validation/test
    slabs (every voxel of those is NaN here), in order along the last axis."""
    blocks = real.training_blocks(patch_size=32, depth=6)
    for block in blocks:
        split = MNI_SPLITS if block["volume"] == "mni" else COLIN27_SPLITS
        assert all(z in split["train"] for z in range(block["z"], block["z"] + 6))
    ds = realistic_training_dataset(patch_size=32, samples_per_slice=1, seed=0, depth=6)
    assert len(ds) == len(blocks)
    for i in range(0, len(ds), 17):
        item = ds[i]
        for key in ("image", "label", "noise_std"):
            assert item[key].shape == (1, 32, 32, 6) and torch.isfinite(item[key]).all()
    raw = RandTissueBlockd(32, tissue_prob=1.0)(blocks[0])
    decoded = np.round((raw["image"][0].max(axis=(0, 1)) - 0.2) * 400)
    np.testing.assert_array_equal(decoded, np.arange(blocks[0]["z"], blocks[0]["z"] + 6))  # slice order kept
    with pytest.raises(ValueError, match="depth"):
        real.training_blocks(depth=0)


def test_validation_volumes_stack_the_validation_slices(monkeypatch):
    mni, gm, wm = _encoded()
    monkeypatch.setattr(ra, "load_mni_template", lambda: mni)
    monkeypatch.setattr(real, "load_mni_tissue_maps", lambda: {"gm": gm, "wm": wm})
    slices = realistic_validation_dataset(volumes=("mni",), contrasts=("asis",), noise_stds=(0.05,))
    volumes = realistic_validation_dataset(volumes=("mni",), contrasts=("asis",), noise_stds=(0.05,), as_volumes=True)
    assert len(volumes) == 1 and volumes[0]["image"].shape == (1, SHAPE[0], SHAPE[1], len(MNI_SPLITS["validation"]))
    for z, item in enumerate(slices):
        torch.testing.assert_close(volumes[0]["image"][..., z], item["image"])


def test_volume_weights_set_each_volumes_share_of_the_patches(poisoned):
    """A weight w gives a volume's slices round(w * samples_per_slice) items each; bad weights are refused in one line."""
    even = realistic_training_dataset(patch_size=32, samples_per_slice=2, seed=0)
    weighted = realistic_training_dataset(patch_size=32, samples_per_slice=2, seed=0, volume_weights=(0.5, 2.0))
    count = lambda ds, v: sum(d["volume"] == v for d in ds.data)  # noqa: E731
    assert count(even, "mni") == 2 * len(MNI_SPLITS["train"]) and count(even, "colin27") == 2 * len(COLIN27_SPLITS["train"])
    assert count(weighted, "mni") == len(MNI_SPLITS["train"]) and count(weighted, "colin27") == 4 * len(COLIN27_SPLITS["train"])
    assert set(weighted[0]) == {"image", "label", "noise_std", "coils"}
    tiny = realistic_training_dataset(patch_size=32, samples_per_slice=1, seed=0, volume_weights=(0.01, 1.0))
    assert count(tiny, "mni") == len(MNI_SPLITS["train"])  # never fewer than one item per slice
    for bad in ((1.0,), (1.0, 0.0), (1.0, -2.0), (1.0, float("nan"))):
        with pytest.raises(ValueError, match="volume_weights must be one positive number per volume"):
            realistic_training_dataset(patch_size=32, samples_per_slice=1, volume_weights=bad)


def test_scanner_pairs_can_tell_the_white_equivalent_level_with_the_bias_of_the_true_one(poisoned):
    """``white_gain``: the std map times ``f >= 1`` (``f > 1`` for correlated noise, 1 for white), the coil count over
    ``f^2`` (so ``2 N s^2`` is unchanged); the images themselves are the same draws."""
    plain = realistic_training_dataset(patch_size=32, samples_per_slice=1, seed=5, scanner_prob=0.5)
    told = realistic_training_dataset(patch_size=32, samples_per_slice=1, seed=5, scanner_prob=0.5, white_gain=0.7)
    factors = []
    for i in range(0, 60, 2):
        a, b = plain[i], told[i]
        assert set(b) == {"image", "label", "noise_std", "coils"}
        torch.testing.assert_close(a["image"], b["image"])
        ratio = b["noise_std"] / a["noise_std"]
        factor = float(ratio.flatten()[0])
        torch.testing.assert_close(ratio, torch.full_like(ratio, factor), rtol=1e-5, atol=0)
        assert factor >= 1.0 and b["coils"] > 0
        assert round(b["coils"] * factor**2) == a["coils"] or (factor == 1.0 and b["coils"] == a["coils"])
        factors.append(factor)
    assert any(f == 1.0 for f in factors) and any(f > 1.5 for f in factors)


def test_scanner_pairs_can_carry_their_correlation_widths(poisoned):
    """``correlation=True``: each pair also holds the widths of its noise's correlation per axis (1 for white noise,
    above 1 for a filtered acquisition), the same images and levels as without, with or without ``white_gain``."""
    told = realistic_training_dataset(patch_size=32, samples_per_slice=1, seed=5, scanner_prob=0.5, white_gain=0.7)
    wide = realistic_training_dataset(patch_size=32, samples_per_slice=1, seed=5, scanner_prob=0.5, white_gain=0.7, correlation=True)
    widths = []
    for i in range(0, 60, 2):
        a, b = told[i], wide[i]
        assert set(b) == {"image", "label", "noise_std", "coils", "correlation"}
        torch.testing.assert_close(a["noise_std"], b["noise_std"])
        assert b["correlation"].shape == (2,) and b["correlation"].dtype == torch.float32
        widths.append(b["correlation"])
    assert any(bool((w == 1.0).all()) for w in widths) and any(float(w.max()) > 1.5 for w in widths)
    plain = realistic_training_dataset(patch_size=32, samples_per_slice=1, seed=5, scanner_prob=0.5)
    widths_only = realistic_training_dataset(patch_size=32, samples_per_slice=1, seed=5, scanner_prob=0.5, correlation=True)
    for j, i in enumerate(range(0, 20, 2)):  # the same draws as the first reads above
        a, b = plain[i], widths_only[i]
        torch.testing.assert_close(a["noise_std"], b["noise_std"])
        assert a["coils"] == b["coils"] and torch.equal(b["correlation"], widths[j])


@pytest.mark.parametrize("depth", [None, 4])
def test_a_simulation_margin_still_gives_patches_of_the_asked_size(poisoned, depth):
    """``simulation_margin``: the acquisition is simulated on the patch and its surroundings, and the patch (2D, or
    in plane for a volume patch) is what comes out, finite, with its noise map."""
    ds = realistic_training_dataset(patch_size=24, samples_per_slice=1, seed=0, volumes=("mni",), depth=depth, scanner_prob=1.0,
                                    white_gain=0.7, correlation=True, partial_fourier_share=0.5, simulation_margin=12)
    shape = (1, 24, 24) if depth is None else (1, 24, 24, depth)
    for i in range(0, len(ds), 9):
        item = ds[i]
        for key in ("image", "label", "noise_std"):
            assert tuple(item[key].shape) == shape and bool(torch.isfinite(item[key]).all())
