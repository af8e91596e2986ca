"""NoiseConditionedPDE: the v1.0 network (noise-level input, squared-magnitude diffusion, formula bias removal)."""

from __future__ import annotations

import numpy as np
import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_nad.engines import NoiseStdBatch
from monai_nad.networks import NoiseConditionedPDE, noise_std_map
from monai_nad.transforms import blind_noise_std


def _rician(clean: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n1, n2 = torch.randn(clean.shape, generator=g), torch.randn(clean.shape, generator=g)
    return torch.sqrt((clean + sigma * n1) ** 2 + (sigma * n2) ** 2)


def _phantom(size: tuple[int, ...]) -> torch.Tensor:
    grids = torch.meshgrid(*[torch.linspace(-1, 1, s) for s in size], indexing="ij")
    r2 = sum(g * g for g in grids)
    return (0.8 * (r2 < 0.6).float() + 0.3 * (r2 < 0.2).float())[None, None]


@pytest.mark.parametrize("spatial_dims, size", [(2, (33, 27)), (3, (11, 14, 9))])
def test_shapes_blind_and_known_sigma(spatial_dims, size):
    torch.manual_seed(0)
    net = NoiseConditionedPDE(spatial_dims=spatial_dims, features=8, encoder_layers=2, refine_layers=2, steps=4, groups=2)
    noisy = _rician(_phantom(size).repeat(2, 1, *[1] * spatial_dims), 0.05)
    blind = blind_noise_std(noisy)
    assert blind.shape == (2, 1)
    outputs = [net(noisy, noise_std=blind), net(noisy, noise_std=0.05), net(noisy, noise_std=torch.tensor([0.05, 0.1])), net(noisy, noise_std=torch.full_like(noisy, 0.05))]
    for out in outputs:
        assert out.shape == noisy.shape and torch.isfinite(out).all()
    out, c = net.forward_with_conductance(noisy, 0.05)
    assert c.shape == (2, 2, net.stencil.num_edges, *size) and c.min() >= 0 and c.max() <= 1


@pytest.mark.parametrize("self_ensemble", [1, 2])
def test_the_network_never_estimates_the_noise_level(self_ensemble):
    """``noise_std`` is required: None is refused with a message that says how to estimate it first."""
    net = NoiseConditionedPDE(features=8, encoder_layers=2, refine_layers=2, steps=4, groups=2, self_ensemble=self_ensemble)
    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match="blind_noise_std"):
        net(x, None)
    with pytest.raises(ValueError, match="blind_noise_std"):
        net.forward_with_conductance(x, noise_std=None)
    with pytest.raises(TypeError, match="noise_std"):
        net(x)


def test_noise_level_batch_tells_the_blind_level_of_a_batch_without_one():
    noisy = _rician(_phantom((24, 20)).repeat(2, 1, 1, 1), 0.05)
    image, _, _, arguments = NoiseStdBatch()({"image": noisy, "label": noisy})
    torch.testing.assert_close(arguments["noise_std"], blind_noise_std(noisy), rtol=0, atol=0)
    assert "noise_std" not in NoiseStdBatch(estimate=False)({"image": noisy})[3]
    given = NoiseStdBatch()({"image": noisy, "noise_std": torch.tensor([0.05, 0.1])})[3]["noise_std"]
    torch.testing.assert_close(given, torch.tensor([0.05, 0.1]))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100.0), sigma=st.floats(0.0, 0.3))
def test_range_and_scale_equivariance_for_any_weights(seed, scale, sigma):
    torch.manual_seed(seed)
    net = NoiseConditionedPDE(features=8, encoder_layers=2, refine_layers=2, steps=4, groups=2)
    for p in net.parameters():  # random, not the identity-start head
        p.data.normal_(0, 0.3)
    x = torch.rand(2, 1, 20, 18)
    with torch.no_grad():
        out = net(x, noise_std=sigma)
        scaled = net(scale * x, noise_std=scale * sigma)
    assert out.min() >= 0 and (out <= x.amax(dim=(2, 3), keepdim=True) + 1e-6).all()
    torch.testing.assert_close(scaled, scale * out, rtol=2e-3, atol=2e-5 * scale)


def test_diffusion_preserves_the_mean_square_without_noise():
    """With sigma = 0 and no head, the output's mean of squares equals the input's: the squared-domain diffusion is conservative."""
    torch.manual_seed(1)
    net = NoiseConditionedPDE(features=8, encoder_layers=2, refine_layers=0, steps=6, groups=3)
    x = torch.rand(3, 1, 24, 26)
    with torch.no_grad():
        out = net(x, noise_std=0.0)
    torch.testing.assert_close((out**2).mean(dim=(2, 3)), (x**2).mean(dim=(2, 3)), rtol=1e-4, atol=1e-6)
    assert not torch.allclose(out, x)  # it did diffuse


def test_bias_removal_is_the_second_moment_formula():
    """Flat Rician region, full diffusion: the output approaches the true amplitude A, not the biased E[M]."""
    net = NoiseConditionedPDE(features=4, encoder_layers=1, refine_layers=0, steps=60, groups=1)
    with torch.no_grad():
        net.conductance_head.weight.zero_()
        net.conductance_head.bias.fill_(30.0)  # conductance 1 everywhere
        net.dt_logits.fill_(10.0)
        amplitude, sigma = 0.2, 0.1
        noisy = _rician(torch.full((1, 1, 64, 64), amplitude), sigma, seed=3)
        out = net(noisy, noise_std=sigma)
    centre = out[0, 0, 16:48, 16:48].mean().item()
    assert abs(centre - amplitude) < 0.015
    assert abs(noisy.mean().item() - amplitude) > 0.02  # the input itself is biased


def test_every_parameter_trains():
    net = NoiseConditionedPDE(features=8, encoder_layers=2, refine_layers=2, steps=4, groups=2, detail_layers=2, detail_features=4)
    torch.nn.init.normal_(net.refine[-1].weight, std=0.1)
    torch.nn.init.normal_(net.detail[-1].weight, std=0.1)
    clean = _phantom((24, 24))
    loss = (net(_rician(clean, 0.1), noise_std=0.1) - clean).abs().mean()
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize(
    "noise_std, message",
    [(-0.1, "non-negative"), (float("nan"), "finite"), (torch.ones(3), "does not fit"), (torch.ones(1, 1, 5, 5), "does not fit"),
     (None, "blind_noise_std")],
)
def test_bad_noise_levels_are_refused(noise_std, message):
    with pytest.raises(ValueError, match=message):
        noise_std_map(torch.rand(2, 1, 8, 8), noise_std)


def test_constructor_checks():
    with pytest.raises(ValueError, match="multiple"):
        NoiseConditionedPDE(steps=5, groups=2)
    with pytest.raises(ValueError, match="spatial_dims"):
        NoiseConditionedPDE(spatial_dims=1)
    with pytest.raises(ValueError, match="self_ensemble"):
        NoiseConditionedPDE(self_ensemble=3)


def _random_net(**kwargs) -> NoiseConditionedPDE:
    torch.manual_seed(3)
    net = NoiseConditionedPDE(features=8, encoder_layers=2, refine_layers=2, steps=4, groups=2, **kwargs)
    for p in net.parameters():
        p.data.normal_(0, 0.3)
    return net.eval()


@pytest.mark.parametrize("noise_std", [0.05, "map"])
def test_self_ensemble_of_eight_is_orientation_equivariant(noise_std):
    """With 8 orientations, flipping or transposing the input does the same to the output, for any weights;
    told one level per image, the ensemble gives every pass that level (as the same level given as a map)."""
    one, eight = _random_net(), _random_net(self_ensemble=8)
    x = _rician(_phantom((21, 17)).repeat(2, 1, 1, 1), 0.05)
    with torch.no_grad():
        blind = blind_noise_std(x)
        torch.testing.assert_close(eight(x, noise_std=blind), eight(x, noise_std=noise_std_map(x, blind)))
    level = torch.rand_like(x) * 0.1 if noise_std == "map" else noise_std
    turns = [lambda t: t.flip(-1), lambda t: t.flip(-2), lambda t: t.transpose(-1, -2)]
    with torch.no_grad():
        out = eight(x, noise_std=level)
        assert not torch.allclose(out, one(x, noise_std=level))
        for turn in turns:
            turned = eight(turn(x), noise_std=turn(level) if noise_std == "map" else level)
            torch.testing.assert_close(turned, turn(out), rtol=0, atol=1e-5)


def test_a_detail_head_starts_adding_nothing(tmp_path):
    """A full-resolution detail head added to a trained network leaves its output unchanged until it is trained."""
    from monai_nad.engines import warm_start

    small = _random_net()
    torch.save(small.state_dict(), tmp_path / "small.pt")
    big = warm_start(NoiseConditionedPDE(features=8, encoder_layers=2, refine_layers=2, steps=4, groups=2, detail_layers=3), tmp_path / "small.pt").eval()
    x = _rician(_phantom((20, 24)), 0.05)
    with torch.no_grad():
        torch.testing.assert_close(big(x, noise_std=0.05), small(x, noise_std=0.05))
    assert big.flops_per_pixel() > small.flops_per_pixel()


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_channels_last_weights_change_speed_not_results(spatial_dims):
    """The networks store their convolution weights channels-last; the result equals the usual layout's, before and
    after a state dict round trip, and gradients flow."""
    from monai_nad.networks import NoiseConditionedCNN

    torch.manual_seed(0)
    for net in (NoiseConditionedPDE(spatial_dims, features=8, encoder_layers=2, refine_layers=2, detail_layers=2, detail_features=4),
                NoiseConditionedCNN(spatial_dims, features=8, layers=3)):
        layout = torch.channels_last if spatial_dims == 2 else torch.channels_last_3d
        convs = [m.weight for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d))]
        assert convs and all(w.is_contiguous(memory_format=layout) for w in convs)
        for w in convs:  # give the last layers weights: zero-initialised heads would hide a layout error
            torch.nn.init.normal_(w, std=0.1)
        plain = copy.deepcopy(net).to(memory_format=torch.contiguous_format)
        x = torch.rand(2, 1, *[10] * spatial_dims)
        torch.testing.assert_close(net(x, noise_std=0.05), plain(x, noise_std=0.05), rtol=1e-4, atol=1e-5)
        fresh = type(net)(**({"spatial_dims": spatial_dims, "features": 8, "encoder_layers": 2, "refine_layers": 2, "detail_layers": 2,
                              "detail_features": 4} if isinstance(net, NoiseConditionedPDE) else {"spatial_dims": spatial_dims, "features": 8, "layers": 3}))
        fresh.load_state_dict(plain.state_dict())
        torch.testing.assert_close(fresh(x, noise_std=0.05), plain(x, noise_std=0.05), rtol=1e-4, atol=1e-5)
        net(x, noise_std=0.05).mean().backward()
        assert all(w.grad is not None for w in convs)


def test_denormalised_output_clamps_to_the_range_then_rescales():
    from monai_nad.networks import denormalised_output

    v = torch.tensor([[[-1.0, 0.25, 0.5, 3.0]]])
    high, scale = torch.tensor([[[2.0]]]), torch.tensor([[[10.0]]])
    assert torch.equal(denormalised_output(v, high, scale), torch.tensor([[[0.0, 2.5, 5.0, 20.0]]]))
    assert torch.equal(denormalised_output(v, high), torch.tensor([[[0.0, 0.25, 0.5, 2.0]]]))  # already in image units


def test_correlation_input_starts_as_the_network_without_it_and_then_reads_the_widths(tmp_path):
    """Correlation maps added to a trained network start with zero weights (same output, whatever the widths); once
    they have weights, the output depends on the widths, white noise (None) reads as widths of 1, and a width below 1
    counts as 1."""
    from monai_nad.engines import warm_start

    small = _random_net(detail_layers=2)
    torch.save(small.state_dict(), tmp_path / "small.pt")
    kwargs = dict(features=8, encoder_layers=2, refine_layers=2, steps=4, groups=2, detail_layers=2)
    wide = warm_start(NoiseConditionedPDE(**kwargs, correlation_input=True), tmp_path / "small.pt").eval()
    x = _rician(_phantom((20, 24)), 0.05).repeat(2, 1, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(wide(x, noise_std=0.05, correlation=[3.0, 1.5]), small(x, noise_std=0.05))
        torch.nn.init.normal_(wide.encoder[0].weight, std=0.3)
        white = wide(x, noise_std=0.05)
        torch.testing.assert_close(wide(x, noise_std=0.05, correlation=torch.ones(2, 2)), white)
        torch.testing.assert_close(wide(x, noise_std=0.05, correlation=[0.5, 1.0]), white)
        per_image = wide(x, noise_std=0.05, correlation=torch.tensor([[1.0, 1.0], [4.0, 2.0]]))
        torch.testing.assert_close(per_image[:1], white[:1])
        assert not torch.allclose(per_image[1:], white[1:], atol=1e-4)
        # a network built without correlation_input ignores the widths
        torch.testing.assert_close(small(x, noise_std=0.05, correlation=[4.0, 2.0]), small(x, noise_std=0.05))


@pytest.mark.parametrize("widths, message", [([1.0, 2.0, 3.0], "one width per spatial axis"), ([[1.0, 2.0]] * 3, "one row per image"),
                                              ([0.0, 1.0], "finite and positive"), ([float("nan"), 1.0], "finite and positive")])
def test_bad_correlation_widths_are_refused(widths, message):
    net = NoiseConditionedPDE(features=8, encoder_layers=2, refine_layers=2, steps=4, groups=2, correlation_input=True)
    with pytest.raises(ValueError, match=message):
        net(torch.rand(2, 1, 12, 12), noise_std=0.05, correlation=widths)


def test_self_ensemble_turns_the_correlation_widths_with_the_image():
    """Transposing the image swaps its correlation widths: the 8-orientation ensemble of a network that reads them is
    still transpose-equivariant when the widths are swapped with the image."""
    torch.manual_seed(0)
    net = NoiseConditionedPDE(features=8, encoder_layers=2, refine_layers=2, steps=4, groups=2, correlation_input=True, self_ensemble=8)
    for p in net.parameters():
        p.data.normal_(0, 0.3)
    x = _rician(_phantom((21, 17)), 0.05)
    with torch.no_grad():
        out = net.eval()(x, noise_std=0.05, correlation=[3.0, 1.0])
        turned = net(x.transpose(-1, -2), noise_std=0.05, correlation=[1.0, 3.0])
    torch.testing.assert_close(turned, out.transpose(-1, -2), rtol=0, atol=1e-5)


def test_correlated_noise_gets_its_own_number_of_orientations():
    """correlated_self_ensemble: an image told a correlation width above CORRELATED_WIDTH is averaged over that many
    orientations, a white one over self_ensemble, each as a network with that fixed count would; in a mixed batch
    each image gets what it gets alone."""
    from monai_nad.networks.conditioned_pde import CORRELATED_WIDTH

    torch.manual_seed(0)
    kwargs = dict(features=8, encoder_layers=2, refine_layers=2, steps=4, groups=2, correlation_input=True)
    adaptive = NoiseConditionedPDE(**kwargs, self_ensemble=2, correlated_self_ensemble=4)
    for p in adaptive.parameters():
        p.data.normal_(0, 0.3)
    two, four = copy.deepcopy(adaptive), copy.deepcopy(adaptive)
    two.correlated_self_ensemble, four.self_ensemble, four.correlated_self_ensemble = None, 4, None
    x = _rician(_phantom((21, 17)).repeat(2, 1, 1, 1), 0.05)
    white, correlated = [1.0, 1.0], [1.0, CORRELATED_WIDTH + 0.5]
    with torch.no_grad():
        for widths, fixed in ((white, two), (correlated, four)):
            torch.testing.assert_close(adaptive.eval()(x, noise_std=0.05, correlation=widths), fixed.eval()(x, noise_std=0.05, correlation=widths), rtol=0, atol=0)
        assert not torch.allclose(two(x, 0.05, correlation=correlated), four(x, 0.05, correlation=correlated))
        mixed = adaptive(x, noise_std=0.05, correlation=torch.tensor([white, correlated]))
        torch.testing.assert_close(mixed[:1], adaptive(x[:1], noise_std=0.05, correlation=white), rtol=0, atol=1e-6)
        torch.testing.assert_close(mixed[1:], adaptive(x[1:], noise_std=0.05, correlation=correlated), rtol=0, atol=1e-6)
        # no widths given (white noise assumed), or no setting: self_ensemble for every image
        torch.testing.assert_close(adaptive(x, noise_std=0.05), two(x, noise_std=0.05), rtol=0, atol=0)
    assert adaptive.passes(2, torch.tensor([white, correlated])).tolist() == [2, 4]
    with pytest.raises(ValueError, match="self_ensemble"):
        NoiseConditionedPDE(**kwargs, correlated_self_ensemble=3)
