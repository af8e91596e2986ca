"""int8 inference: the calibration's ranges, the int8 copy of a network, its calibration file and the inferer's int8 path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from monai_nad.inference import ScanInferer
from monai_nad.networks import (
    ActivationRanges,
    Int8Convolution,
    NoiseConditionedPDE,
    float_layers,
    int8_network,
    int8_supported,
    load_int8_ranges,
    weights_fingerprint,
)

pytestmark = pytest.mark.skipif(not int8_supported(), reason="no quantized CPU engine in this PyTorch build")


def _network(seed: int = 0) -> NoiseConditionedPDE:
    torch.manual_seed(seed)
    net = NoiseConditionedPDE(spatial_dims=2, features=16, encoder_layers=3, refine_layers=2, detail_layers=3, detail_features=8)
    with torch.no_grad():  # the heads start at zero: give them something to do
        for conv in (net.refine[-1], net.detail[-1]):
            conv.weight.normal_(0.0, 0.05)
    return net.eval()


def _images(seed: int = 1, batch: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    clean = torch.nn.functional.avg_pool2d(torch.rand(batch, 1, 40, 36, generator=g), 5, 1, 2)
    return (clean + 0.05 * torch.randn(batch, 1, 40, 36, generator=g)).abs()


def _calibrated(net: NoiseConditionedPDE) -> dict[str, list[float]]:
    layers = [n for n, m in net.named_modules() if isinstance(m, nn.Conv2d) and n not in float_layers(net)]
    with torch.no_grad(), ActivationRanges(net, layers) as recorder:
        for seed in range(3):
            net(_images(seed), noise_std=0.05)
    return recorder.ranges()


def test_float_layers_are_the_image_facing_convolutions():
    assert float_layers(_network()) == {"encoder.0", "refine.0", "refine.2", "detail.0", "detail.4"}


def test_ranges_bound_the_values_and_include_zero():
    conv = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
    x = torch.rand(1, 1, 8, 8) + 1.0  # all positive: the range still starts at 0
    with ActivationRanges(conv, quantile=1.0) as recorder:
        y = conv(x)
    low, high, out_low, out_high = recorder.ranges()["0"]
    assert low == 0.0 and high == pytest.approx(float(x.max()))
    assert out_low == 0.0 and out_high == pytest.approx(float(y.max()))  # after the ReLU
    with pytest.raises(ValueError, match="never ran"):
        with ActivationRanges(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))) as unused:
            pass
        unused.ranges()


def test_int8_copy_is_close_to_the_float_network_and_leaves_it_unchanged():
    net = _network()
    x = _images(7)
    with torch.no_grad():
        before = net(x, noise_std=0.05)
        copy = int8_network(net, _calibrated(net))
        after, quantized = net(x, noise_std=0.05), copy(x, noise_std=0.05)
    assert torch.equal(before, after)  # the float network is untouched
    int8 = [n for n, m in copy.named_modules() if isinstance(m, Int8Convolution)]
    assert sorted(int8) == sorted(n for n, m in net.named_modules() if isinstance(m, nn.Conv2d) and n not in float_layers(net))
    assert quantized.shape == before.shape and not torch.equal(quantized, before)
    # the 8-bit steps cost a small fraction of what the network removes from the input
    assert float((quantized - before).pow(2).mean().sqrt()) < 0.05 * float((x - before).pow(2).mean().sqrt())


def test_calibration_file_is_checked_against_the_weights(tmp_path):
    net, other = _network(0), _network(1)
    path = tmp_path / "int8_ranges.json"
    path.write_text(json.dumps({"2d": {"fingerprint": weights_fingerprint(net), "ranges": _calibrated(net)}}))
    assert load_int8_ranges(path, net, "2d") == json.loads(path.read_text())["2d"]["ranges"]
    assert load_int8_ranges(path, net, "3d") is None  # no entry: that network stays float
    with pytest.raises(ValueError, match="other weights") as err:
        load_int8_ranges(path, other, "2d")
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="no int8 calibration file"):
        load_int8_ranges(tmp_path / "missing.json", net, "2d")
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable int8 calibration"):
        load_int8_ranges(path, net, "2d")
    path.write_text(json.dumps({"2d": {"fingerprint": weights_fingerprint(net), "ranges": {"encoder.2": [0, 1]}}}))
    with pytest.raises(ValueError, match="4 numbers"):
        load_int8_ranges(path, net, "2d")
    path.write_text(json.dumps({"2d": {"fingerprint": weights_fingerprint(net), "ranges": {"encoder.2": [0, float("nan"), 0, 1]}}}))
    with pytest.raises(ValueError, match="4 numbers") as err:  # NaN in a hand-edited file: refused naming the file
        load_int8_ranges(path, net, "2d")
    assert str(path) in str(err.value)


def test_inferer_runs_the_int8_copy_with_the_bundle_calibration(tmp_path):
    net = _network()
    path = tmp_path / "int8_ranges.json"
    path.write_text(json.dumps({"2d": {"fingerprint": weights_fingerprint(net), "ranges": _calibrated(net)}}))
    x = _images(9, batch=1)[0, 0].unsqueeze(-1).repeat(1, 1, 3)[None, None]  # a (1, 1, H, W, 3) volume
    with torch.no_grad():
        float32 = ScanInferer(mode="2d", precision="float32")(x, net, noise_std=0.05)
        inferer = ScanInferer(mode="2d", precision="int8", int8_ranges=str(path))
        int8 = inferer(x, net, noise_std=0.05)
        again = inferer(x, net, noise_std=0.05)
    assert torch.equal(int8, again) and not torch.equal(int8, float32)
    assert float((int8 - float32).abs().max()) < 0.05
    with pytest.raises(ValueError, match="int8 calibration"):
        ScanInferer(mode="2d", precision="int8")


@pytest.mark.slow
def test_calibration_script_writes_ranges_a_bundle_without_a_volume_model_can_run(tiny_bundle, tmp_path):
    """scripts/calibrate_int8.py on a bundle with the 2D model only (as monai-nad fit writes one), one slice per block:
    the file it writes is what --precision int8 reads for that bundle's weights."""
    import importlib.util

    from monai_nad.bundle import bundle_network

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("calibrate_int8_script", root / "scripts" / "calibrate_int8.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--bundle", str(tiny_bundle), "--slices", "1"]) == 0
    path = tiny_bundle / "models" / "int8_ranges.json"
    net = bundle_network(tiny_bundle, ["inference.json"], tiny_bundle / "models" / "model.pt")
    ranges = load_int8_ranges(path, net, "2d")
    assert ranges and load_int8_ranges(path, net, "3d") is None
    assert set(ranges) == {n for n, m in net.named_modules() if isinstance(m, nn.Conv2d)} - float_layers(net)
