"""8-bit integer convolutions for CPU inference: a copy of a network whose inner convolutions run in int8.

On a CPU with 8-bit dot-product instructions (AVX512-VNNI or AVX-VNNI) an int8 convolution does about four times the
multiply-adds of a float32 one per cycle. :func:`int8_network` copies a network and replaces its convolutions, except
those that read the images or write the full-resolution result (:func:`float_layers`), by PyTorch's quantized
convolutions (weights per output channel, activations per tensor); the activation ranges come from a calibration
(:class:`ActivationRanges`, run on representative inputs) and are stored beside the weights with a fingerprint of
them, so that ranges calibrated for other weights are refused.

References:
    B. Jacob et al., "Quantization and training of neural networks for efficient integer-arithmetic-only inference",
    CVPR 2018 (affine 8-bit quantization).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import json
import math
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
import torch.nn as nn

from monai_nad.networks.conditioned_pde import NoiseConditionedPDE

__all__ = [
    "INT8_QUANTILE", "ActivationRanges", "Int8Convolution", "float_layers", "int8_network", "int8_supported", "load_int8_ranges",
    "weights_fingerprint",
]

#: the quantile of a convolution's input (and output) values, per calibration call, that sets the top of its int8 range
#: (the largest values of a few pixels are clipped, which keeps the step fine for all the others)
INT8_QUANTILE = 0.99999
#: most values of one tensor read per calibration call (an even subsample of larger tensors)
_SAMPLE = 1 << 20


@functools.lru_cache(maxsize=1)
def int8_supported() -> bool:
    """Whether this PyTorch build has what :class:`Int8Convolution` uses: a quantized CPU engine for x86 (``x86``,
    ``fbgemm`` or ``onednn``), quantized tensors and the quantized convolution modules (PyTorch marks them deprecated;
    a release without them answers False, and ``--precision int8`` says so)."""
    if not hasattr(torch, "quantize_per_tensor") or not hasattr(torch, "quantize_per_channel"):
        return False
    try:
        for module in ("torch.ao.nn.intrinsic.quantized", "torch.ao.nn.quantized"):
            importlib.import_module(module)
    except ImportError:
        return False
    return any(e in torch.backends.quantized.supported_engines for e in ("x86", "fbgemm", "onednn"))


@functools.lru_cache(maxsize=1)
def _has_vnni() -> bool:
    """Whether the CPU has 8-bit dot products (without them, activations use 7 bits, the engines' rule against
    overflow of 16-bit intermediate sums)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def _convolutions(network: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in network.named_modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))}


def weights_fingerprint(network: nn.Module) -> str:
    """A short hash of a network's convolution weights and biases (what calibrated int8 ranges belong to)."""
    digest = hashlib.sha256()
    for name, conv in sorted(_convolutions(network).items()):
        digest.update(name.encode())
        for tensor in (conv.weight, conv.bias):
            if tensor is not None:
                digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def float_layers(network: nn.Module) -> set[str]:
    """The convolutions that stay in float32: in each :class:`~monai_nad.networks.NoiseConditionedPDE` inside
    ``network``, the first convolution of the encoder, the refinement head and the detail head (they read the images,
    whose 8-bit steps would be a noise of their own) and the last one of both heads (they write the corrections added
    to the result); every convolution with a padding mode other than zeros (the quantized ones pad with zeros only).
    Chosen on the scanner-noise validation slabs, where the heads' last convolutions in int8 cost the partial-Fourier
    cells most (a one-off probe; the shipped choice is scored in docs/results/int8_validation.md)."""
    keep = {n for n, m in _convolutions(network).items() if m.padding_mode != "zeros"}
    for prefix, module in network.named_modules():
        if not isinstance(module, NoiseConditionedPDE):
            continue
        dot = f"{prefix}." if prefix else ""
        for stack in ("encoder", "refine", "detail"):
            convs = sorted(_convolutions(getattr(module, stack) or nn.Identity()), key=lambda n: int(n))
            if convs:
                keep.add(f"{dot}{stack}.{convs[0]}")
                if stack != "encoder":
                    keep.add(f"{dot}{stack}.{convs[-1]}")
    return keep


def _followed_by_relu(network: nn.Module) -> dict[str, bool]:
    """For each convolution, whether the next module of its ``nn.Sequential`` is a ReLU (fused into the int8 one)."""
    relu: dict[str, bool] = {}
    for prefix, module in network.named_modules():
        if isinstance(module, nn.Sequential):
            items = list(module.named_children())
            for i, (name, child) in enumerate(items):
                if isinstance(child, (nn.Conv2d, nn.Conv3d)):
                    relu[f"{prefix}.{name}" if prefix else name] = i + 1 < len(items) and isinstance(items[i + 1][1], nn.ReLU)
    return relu


class ActivationRanges:
    """Records the value ranges of a network's convolution inputs and outputs while it runs (a context manager).

    Each call of a convolution contributes the ``quantile`` and ``1 - quantile`` of its input and of its output (after
    the ReLU that follows it, where one does); a range is the widest over the calls, and always includes 0.

    Args:
        network: the network to watch.
        layers: the convolutions to record (names as ``network.named_modules()``); None: all.
        quantile: see :data:`INT8_QUANTILE`.

    Example::

        with ActivationRanges(net) as recorder:
            for batch in calibration:
                net(batch, noise_std=...)
        ranges = recorder.ranges()
    """

    def __init__(self, network: nn.Module, layers: Iterable[str] | None = None, quantile: float = INT8_QUANTILE) -> None:
        if not 0.5 < quantile <= 1.0:
            raise ValueError(f"quantile must be in (0.5, 1], got {quantile!r}.")
        convs = _convolutions(network)
        self.layers = sorted(convs if layers is None else layers)
        unknown = [n for n in self.layers if n not in convs]
        if unknown:
            raise ValueError(f"no convolution(s) {unknown} in this network.")
        self.network, self.quantile = network, float(quantile)
        self._relu = _followed_by_relu(network)
        self._seen: dict[str, list[float]] = {}
        self._hooks: list = []

    def _bounds(self, t: torch.Tensor) -> tuple[float, float]:
        v = t.detach().float().reshape(-1)
        if v.numel() > _SAMPLE:
            v = v[:: -(-v.numel() // _SAMPLE)]
        k = max(1, min(v.numel(), int(round(self.quantile * v.numel()))))
        hi = float(torch.kthvalue(v, k).values)
        lo = float(torch.kthvalue(v, max(1, v.numel() - k + 1)).values)
        return min(lo, 0.0), max(hi, 0.0)

    def _record(self, name: str, x: torch.Tensor, y: torch.Tensor) -> None:
        if self._relu.get(name, False):
            y = torch.clamp(y, min=0.0)
        (ilo, ihi), (olo, ohi) = self._bounds(x), self._bounds(y)
        old = self._seen.get(name)
        self._seen[name] = [ilo, ihi, olo, ohi] if old is None else [min(old[0], ilo), max(old[1], ihi), min(old[2], olo), max(old[3], ohi)]

    def __enter__(self) -> ActivationRanges:
        modules = _convolutions(self.network)
        for name in self.layers:
            self._hooks.append(modules[name].register_forward_hook(lambda _m, inp, out, name=name: self._record(name, inp[0], out)))
        return self

    def __exit__(self, *exc) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def ranges(self) -> dict[str, list[float]]:
        """``{layer: [input low, input high, output low, output high]}`` of the layers that ran.

        Raises:
            ValueError: a recorded layer never ran.
        """
        missing = [n for n in self.layers if n not in self._seen]
        if missing:
            raise ValueError(f"the calibration never ran the convolution(s) {missing}.")
        return {n: [float(v) for v in self._seen[n]] for n in self.layers}


def _affine(low: float, high: float, reduce_range: bool) -> tuple[float, int]:
    """Scale and zero point of unsigned 8-bit (7-bit with ``reduce_range``) values covering ``[low, high]``."""
    top = 127 if reduce_range else 255
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    scale = max((high - low) / top, 1e-8)
    return scale, int(min(max(round(-low / scale), 0), top))


class Int8Convolution(nn.Module):
    """A convolution (and the ReLU after it) in 8-bit integers: float32 in, float32 out.

    Args:
        conv: the float convolution (``nn.Conv2d`` or ``nn.Conv3d`` with zero padding).
        relu: whether a ReLU follows it (fused).
        ranges: ``[input low, input high, output low, output high]`` (:class:`ActivationRanges`).
        reduce_range: 7-bit activations (for CPUs without 8-bit dot products). Defaults to whether this CPU lacks them.

    Raises:
        ValueError: a padding mode other than zeros, or ranges that are not four finite numbers.
    """

    def __init__(self, conv: nn.Module, relu: bool, ranges: list[float], reduce_range: bool | None = None) -> None:
        super().__init__()
        import torch.ao.nn.intrinsic.quantized as nniq
        import torch.ao.nn.quantized as nnq

        if conv.padding_mode != "zeros":
            raise ValueError(f"int8 convolutions pad with zeros only, not {conv.padding_mode!r}.")
        if len(ranges) != 4 or not all(isinstance(v, (int, float)) and abs(v) < float("inf") for v in ranges):
            raise ValueError(f"ranges must be four finite numbers [in low, in high, out low, out high], got {ranges!r}.")
        reduce = (not _has_vnni()) if reduce_range is None else bool(reduce_range)
        three = isinstance(conv, nn.Conv3d)
        cls = (nniq.ConvReLU3d if three else nniq.ConvReLU2d) if relu else (nnq.Conv3d if three else nnq.Conv2d)
        weight = conv.weight.detach().float()
        scales = (weight.abs().amax(dim=tuple(range(1, weight.ndim))) / 127.0).clamp(min=1e-12).double()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # PyTorch's notice that its quantized tensors are deprecated
            self.conv = cls(
                conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None,
            )
            qweight = torch.quantize_per_channel(weight, scales, torch.zeros_like(scales, dtype=torch.long), 0, torch.qint8)
            self.conv.set_weight_bias(qweight, None if conv.bias is None else conv.bias.detach().float())
        self.conv.scale, self.conv.zero_point = _affine(ranges[2], ranges[3], reduce)
        self.input_scale, self.input_zero_point = _affine(ranges[0], ranges[1], reduce)
        self.memory_format = torch.channels_last_3d if three else torch.channels_last
        #: whether the input arrives as float (quantized here) or already quantized by the int8 convolution before it
        self.quantize_input = True
        #: whether the output leaves as float32 or stays quantized for the int8 convolution after it
        self.dequantize_output = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, C, H, W[, D])``, float (or quantized, see :attr:`quantize_input`), convolved; float32 out (or
        quantized, see :attr:`dequantize_output`)."""
        if self.quantize_input:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # PyTorch's notice that its quantized tensors are deprecated
                x = torch.quantize_per_tensor(x.float().contiguous(memory_format=self.memory_format), self.input_scale, self.input_zero_point, torch.quint8)
        y = self.conv(x)
        return y.dequantize() if self.dequantize_output else y


def int8_network(network: nn.Module, ranges: Mapping[str, list[float]], reduce_range: bool | None = None) -> nn.Module:
    """A copy of ``network`` whose convolutions named in ``ranges`` run in int8 (:class:`Int8Convolution`, with the
    ReLU that follows each fused); the others, and everything that is not a convolution, stay as they are.

    Args:
        network: a float network (not changed).
        ranges: ``{layer: [input low, input high, output low, output high]}`` (:meth:`ActivationRanges.ranges`).
        reduce_range: see :class:`Int8Convolution`.

    Returns:
        the copy, in eval mode, on the CPU.

    Raises:
        ValueError: a name in ``ranges`` that is not a convolution of ``network``; no int8 engine in this PyTorch.
    """
    if not int8_supported():
        raise ValueError("this PyTorch build has no quantized CPU engine (x86, fbgemm or onednn): int8 is not available.")
    copied = copy.deepcopy(network).cpu().eval()
    convs = _convolutions(copied)
    unknown = sorted(set(ranges) - set(convs))
    if unknown:
        raise ValueError(f"the int8 ranges name convolution(s) {unknown} that this network does not have.")
    relu = _followed_by_relu(copied)
    for name in ranges:
        fused = relu.get(name, False)
        int8 = Int8Convolution(convs[name], fused, list(ranges[name]), reduce_range)
        parent_name, _, child = name.rpartition(".")
        parent = copied.get_submodule(parent_name) if parent_name else copied
        setattr(parent, child, int8)
        if fused:  # the ReLU is in the int8 convolution now
            items = list(parent.named_children())
            position = [n for n, _ in items].index(child)
            setattr(parent, items[position + 1][0], nn.Identity())
    for module in copied.modules():  # int8 convolutions in a row pass their integers on (the ranges are the same values)
        if isinstance(module, nn.Sequential):
            chain = [m for m in module.children() if not isinstance(m, nn.Identity)]
            for first, second in zip(chain, chain[1:]):
                if isinstance(first, Int8Convolution) and isinstance(second, Int8Convolution):
                    first.dequantize_output, second.quantize_input = False, False
    return copied


def load_int8_ranges(path: str | Path, network: nn.Module, kind: str) -> dict[str, list[float]] | None:
    """The int8 ranges of one network from a calibration file, checked against the network's weights.

    The file is JSON ``{kind: {"fingerprint": ..., "ranges": {layer: [4 numbers]}}}`` (``kind`` ``"2d"`` or ``"3d"``;
    written by ``scripts/calibrate_int8.py``).

    Args:
        path: the file.
        network: the float network the ranges are for.
        kind: which entry.

    Returns:
        the ranges, or None when the file has no entry for ``kind``.

    Raises:
        ValueError: a missing or unreadable file, an entry of the wrong form, or one calibrated for other weights (each
            in one line naming the file).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no int8 calibration file (write one with scripts/calibrate_int8.py).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable int8 calibration ({type(err).__name__}).") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not an int8 calibration (expected a JSON object).")
    entry = data.get(kind)
    if entry is None:
        return None
    ranges = entry.get("ranges") if isinstance(entry, dict) else None
    if not isinstance(ranges, dict) or not all(
        isinstance(v, list) and len(v) == 4 and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
        for v in ranges.values()
    ):
        raise ValueError(f"{path}: the {kind!r} entry has no ranges of the form {{layer: [4 numbers]}}, all finite.")
    if entry.get("fingerprint") != weights_fingerprint(network):
        raise ValueError(f"{path}: the {kind!r} ranges were calibrated for other weights; calibrate again (scripts/calibrate_int8.py).")
    return ranges
