"""Noise transforms: types, metadata, determinism, statistics and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor
from monai.transforms import Compose

from monai_nad.transforms import (
    RandCorrelatedNoise,
    RandCorrelatedNoised,
    RandGammaNoise,
    RandGammaNoised,
    RandPoissonNoise,
    RandPoissonNoised,
    RicianBiasCorrection,
    RicianBiasCorrectiond,
)

SHAPES = [(1, 32, 32), (1, 12, 12, 12)]
ARRAY_TRANSFORMS = [
    lambda: RandPoissonNoise(prob=1.0, lam=(50.0, 100.0)),
    lambda: RandGammaNoise(prob=1.0, shape=(20.0, 50.0)),
    lambda: RandCorrelatedNoise(prob=1.0, std=(0.05, 0.1), correlation_length=1.5),
]


def _inputs(shape):
    base = np.random.default_rng(0).uniform(0.2, 0.8, size=shape).astype(np.float32)
    meta = MetaTensor(torch.from_numpy(base.copy()), meta={"filename_or_obj": "scan.nii.gz"})
    return [base, torch.from_numpy(base.copy()), meta]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("make", ARRAY_TRANSFORMS)
def test_types_shapes_metadata_and_no_in_place_change(shape, make):
    for img in _inputs(shape):
        before = np.array(torch.as_tensor(img)).copy()
        out = make()(img)
        assert type(out) is type(img)
        assert out.shape == img.shape and out.dtype in (np.float32, torch.float32)
        np.testing.assert_array_equal(np.asarray(img), before)
        assert not np.allclose(np.asarray(out), before)
        if isinstance(img, MetaTensor):
            assert out.meta["filename_or_obj"] == "scan.nii.gz"


@pytest.mark.parametrize("make", ARRAY_TRANSFORMS)
def test_integer_images_become_float(make):
    img = np.full((1, 8, 8), 3, dtype=np.int16)
    assert make()(img).dtype == np.float32


@pytest.mark.parametrize("make", ARRAY_TRANSFORMS)
def test_set_random_state_determinism(make):
    img = _inputs((1, 32, 32))[0]
    a, b, c = make(), make(), make()
    a.set_random_state(7)
    b.set_random_state(7)
    c.set_random_state(8)
    out_a, out_b, out_c = a(img), b(img), c(img)
    np.testing.assert_array_equal(out_a, out_b)
    assert not np.array_equal(out_a, out_c)


@pytest.mark.parametrize(
    "make_d",
    [
        lambda: RandPoissonNoised(["image", "other"], prob=1.0, lam=100.0),
        lambda: RandGammaNoised(["image", "other"], prob=1.0, shape=50.0),
        lambda: RandCorrelatedNoised(["image", "other"], prob=1.0, std=0.1),
    ],
)
def test_dictionary_twins_in_compose(make_d):
    img = _inputs((1, 16, 16))[1]
    chain = Compose([make_d()])
    chain.set_random_state(3)
    first = chain({"image": img, "other": img.clone()})
    chain.set_random_state(3)
    second = chain({"image": img, "other": img.clone()})
    torch.testing.assert_close(first["image"], second["image"])
    assert not torch.equal(first["image"], img)


def test_probability_zero_leaves_image_unchanged():
    img = _inputs((1, 16, 16))[1]
    torch.testing.assert_close(RandGammaNoise(prob=0.0)(img), img)


def test_poisson_statistics():
    img = np.full((1, 128, 128), 0.5, np.float32)
    out = RandPoissonNoise(prob=1.0, lam=200.0)(img)
    assert abs(out.mean() - 0.5) < 0.005
    assert abs(out.var() - 0.5 / 200.0) / (0.5 / 200.0) < 0.1


def test_gamma_statistics():
    img = np.ones((1, 128, 128), np.float32)
    out = RandGammaNoise(prob=1.0, shape=100.0)(img)
    assert abs(out.mean() - 1.0) < 0.005
    assert abs(out.var() - 0.01) / 0.01 < 0.1


@pytest.mark.parametrize("shape", [(1, 96, 96), (1, 24, 24, 24)])
def test_correlated_noise_std_and_correlation(shape):
    img = np.zeros(shape, np.float32)
    correlated = RandCorrelatedNoise(prob=1.0, std=0.1, correlation_length=2.0)(img)
    white = RandCorrelatedNoise(prob=1.0, std=0.1, correlation_length=0.0)(img)

    def neighbour_corr(a):
        return np.corrcoef(a[0, :-1].ravel(), a[0, 1:].ravel())[0, 1]

    assert abs(correlated.std() - 0.1) < 1e-4 and abs(white.std() - 0.1) < 1e-4
    assert neighbour_corr(correlated) > 0.8
    assert abs(neighbour_corr(white)) < 0.05


def test_poisson_rejects_negative_image():
    with pytest.raises(ValueError, match="non-negative"):
        RandPoissonNoise(prob=1.0, lam=10.0)(np.full((1, 4, 4), -0.5, np.float32))


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: RandPoissonNoise(lam=0.0), "lam"),
        (lambda: RandPoissonNoise(lam=(700.0, 200.0)), "low <= high"),
        (lambda: RandGammaNoise(shape=float("nan")), "shape"),
        (lambda: RandCorrelatedNoise(std=-0.1), "std"),
        (lambda: RandCorrelatedNoise(correlation_length=-1.0), "correlation_length"),
        (lambda: RicianBiasCorrection(noise_std=-0.1), "noise_std"),
        (lambda: RicianBiasCorrection(noise_std=0.1, b=float("inf")), "b"),
    ],
)
def test_bad_parameters_name_the_argument(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@settings(max_examples=30, deadline=None)
@given(u=st.floats(0.0, 2.0), sigma=st.floats(0.0, 0.5), b=st.floats(0.0, 2.0))
def test_rician_bias_correction_formula(u, sigma, b):
    out = RicianBiasCorrection(sigma, b)(np.array([[u]], dtype=np.float64))
    expected = np.sqrt(max(u * u - 2 * b * sigma * sigma, 0.0))
    np.testing.assert_allclose(out, [[expected]], rtol=1e-10, atol=1e-12)


def test_rician_bias_correction_reads_level_from_item():
    item = {"image": torch.full((1, 4, 4), 0.2), "noise_std": 0.1}
    out = RicianBiasCorrectiond("image")(item)
    torch.testing.assert_close(out["image"], torch.full((1, 4, 4), float(np.sqrt(0.04 - 0.02))))
    with pytest.raises(KeyError, match="noise_std"):
        RicianBiasCorrectiond("image")({"image": torch.zeros(1, 2, 2)})
