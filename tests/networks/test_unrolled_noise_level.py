"""The v0.2 Neural PDE, its diffusivity family and the Rician mean inversion are told the noise level, never estimate it.

Each network's use of the level is compared, bitwise, with an explicit formula: the level it is told (the blind
second-difference estimate the inferers and engines pass, or any other) is the one its correction removes.
"""

from __future__ import annotations

import pytest
import torch

from monai_nad.engines import NoiseStdBatch
from monai_nad.inference.inferer import SliceWiseInferer, noise_std_arguments, noise_std_method
from monai_nad.networks import DiffusivityPDE, NeuralPDE, RicianMeanInversion, rician_mean_inversion
from monai_nad.networks.unrolled import robust_intensity_scale
from monai_nad.transforms.noise import remove_magnitude_bias, second_difference_noise_std


def _noisy(shape=(3, 1, 32, 28), seed=0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    clean = torch.zeros(shape)
    clean[..., 8:24, 6:20] = 0.7
    return torch.hypot(clean + 0.05 * torch.randn(shape, generator=gen), 0.05 * torch.randn(shape, generator=gen))


def _pair(kind: str, **kwargs):
    """The same weights with and without the bias correction."""
    torch.manual_seed(0)
    if kind == "neural_pde":
        corrected, plain = NeuralPDE(2, steps=3, bias_correction=True, **kwargs), NeuralPDE(2, steps=3, **kwargs)
    else:
        make = dict(diffusivity="pm_exponential", steps=3, padding=2, **kwargs)
        corrected, plain = DiffusivityPDE(bias_correction=True, **make), DiffusivityPDE(**make)
    with torch.no_grad():
        corrected.bias_correction_logit.fill_(0.4)
        plain.load_state_dict({k: v for k, v in corrected.state_dict().items() if k != "bias_correction_logit"})
    return corrected.eval(), plain.eval()


@pytest.mark.parametrize("kind", ["neural_pde", "diffusivity_pde"])
@pytest.mark.parametrize("told", ["second_difference", "other"])
def test_the_correction_removes_the_level_the_network_is_told(kind, told):
    corrected, plain = _pair(kind, scale_invariant=False, **({"refine": False} if kind == "neural_pde" else {}))
    x = _noisy()
    level = second_difference_noise_std(x) if told == "second_difference" else torch.tensor([[0.02], [0.05], [0.11]])
    strength = 2.0 * torch.sigmoid(corrected.bias_correction_logit)
    with torch.no_grad():
        u = plain(x)
        expected = remove_magnitude_bias(u * u, 2.0 * strength * level.reshape(3, 1, 1, 1) ** 2, smooth=1e-6)
        assert torch.equal(corrected(x, level), expected)
        # the level goes in as it is told: a number or one value per image
        assert torch.equal(corrected(x, level[:, 0]), expected)
        if told == "other":
            assert not torch.equal(corrected(x, second_difference_noise_std(x)), expected)


@pytest.mark.parametrize("kind", ["neural_pde", "diffusivity_pde"])
def test_a_scale_invariant_network_reads_the_level_in_the_input_units(kind):
    """net(x, s) == net'(x / scale, s / scale) * scale for the same weights without the intensity normalisation."""
    invariant, _ = _pair(kind)
    variant, _ = _pair(kind, scale_invariant=False)
    x = 3.7 * _noisy(seed=1)
    level = second_difference_noise_std(x)
    scale = robust_intensity_scale(x)
    with torch.no_grad():
        assert torch.equal(invariant(x, level), variant(x / scale, level / scale.reshape(3, 1)) * scale)


@pytest.mark.parametrize("kind", ["neural_pde", "diffusivity_pde"])
def test_a_corrected_network_without_a_level_says_what_to_pass(kind):
    corrected, plain = _pair(kind)
    x = _noisy()
    with pytest.raises(ValueError, match="needs the noise level noise_std.*second_difference_noise_std"):
        corrected(x)
    with torch.no_grad():
        assert torch.equal(plain(x), plain(x, second_difference_noise_std(x)))  # without the correction it is unused


def test_the_rician_mean_inversion_uses_the_level_it_is_told_and_tells_its_network():
    corrected, _ = _pair("neural_pde")
    x = _noisy()
    level = second_difference_noise_std(x)
    with torch.no_grad():
        assert torch.equal(RicianMeanInversion(corrected)(x, level), rician_mean_inversion(corrected(x, level), level))
        smooth = torch.nn.AvgPool2d(3, 1, 1)
        other = torch.full((3, 1), 0.08)
        assert torch.equal(RicianMeanInversion(smooth)(x, other), rician_mean_inversion(smooth(x), other))
    with pytest.raises(ValueError, match="needs the noise level"):
        RicianMeanInversion(smooth)(x)


def test_the_inferers_tell_these_networks_the_second_difference_estimate_of_each_image_and_slice():
    corrected, _ = _pair("neural_pde")
    wrapped = RicianMeanInversion(corrected)
    assert noise_std_method(corrected) == noise_std_method(wrapped) == "second_difference"
    assert noise_std_method(torch.nn.Identity()) == "auto"
    x = _noisy()
    with torch.no_grad():
        for net in (corrected, wrapped):
            expected = net(x, second_difference_noise_std(x))
            assert torch.equal(net(x, **noise_std_arguments(net, x)), expected)
            assert torch.equal(SliceWiseInferer()(x, net), expected)
        # a volume: each batch of slices is told its own estimates, as the network was trained
        volume = _noisy((1, 1, 32, 28, 6), seed=2)
        slices = volume[0, 0].permute(2, 0, 1)[:, None]
        chunks = [corrected(s, second_difference_noise_std(s)) for s in (slices[:4], slices[4:])]
        expected = torch.cat(chunks)[:, 0].permute(1, 2, 0)[None, None]
        assert torch.equal(SliceWiseInferer(batch_size=4)(volume, corrected), expected)


def test_the_v02_batches_carry_the_second_difference_estimate_never_the_true_level():
    x = _noisy()
    batch = {"image": x, "label": x, "noise_std": torch.full((3,), 0.05), "coils": torch.ones(3)}
    prepare = NoiseStdBatch(noise_std_key=None, coils_key=None, correlation_key=None, estimate="second_difference")
    image, label, args, kwargs = prepare(batch)
    assert args == () and set(kwargs) == {"noise_std"}
    assert torch.equal(kwargs["noise_std"], second_difference_noise_std(x))
    with pytest.raises(ValueError, match="unknown estimate 'median'"):
        NoiseStdBatch(estimate="median")


def test_the_scan_inferer_leaves_their_level_to_the_slice_inferer_not_to_its_noise_map():
    """``monai-nad denoise``'s inferer estimates a noise map for the networks that take a level, but not for these:
    they are told the second-difference estimate of each image and slice, as before they were told anything."""
    from monai_nad.inference.scan_inferer import ScanInferer

    smooth = RicianMeanInversion(torch.nn.AvgPool2d(3, 1, 1))
    x = _noisy((2, 1, 40, 36), seed=3)
    volume = _noisy((1, 1, 40, 36, 5), seed=4)
    with torch.no_grad():
        assert torch.equal(ScanInferer(mode="2d", precision="float32")(x, smooth), smooth(x, second_difference_noise_std(x)))
        slices = volume[0, 0].permute(2, 0, 1)[:, None]
        expected = smooth(slices, second_difference_noise_std(slices))[:, 0].permute(1, 2, 0)[None, None]
        assert torch.equal(ScanInferer(mode="2d", precision="float32")(volume, smooth), expected)
