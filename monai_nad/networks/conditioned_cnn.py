"""Learned CNN baselines given exactly what the noise-conditioned Neural PDE is given.

:class:`NoiseConditionedCNN` reads the same three inputs as :class:`~monai_nad.networks.NoiseConditionedPDE`: the
noisy image, its second-moment bias-corrected version ``sqrt(max(x^2 - 2 N sigma^2, 0))`` and the noise-level map,
all divided by the image's robust intensity scale; the noise level is given (estimated first by the caller when it is
not known, :func:`~monai_nad.transforms.blind_noise_std`). A
backbone predicts a residual added to the bias-corrected image, and the result is clamped to ``[0, max x]`` as the
Neural PDE's is. Only the backbone differs, so a comparison trained with the same recipe compares architectures:

- ``"dncnn"``: a DnCNN-style plain stack of 3x3(x3) convolutions with ReLU (MONAI ``Convolution`` blocks, no
  normalisation: the inputs are already scale-normalised and batches mix scales and contrasts);
- ``"unet"``: MONAI's ``BasicUNet`` (instance normalisation off: it would remove the intensity level that the
  residual must keep).

References:
    K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang, "Beyond a Gaussian denoiser: residual learning of deep CNN for
    image denoising", IEEE TIP 2017 (DnCNN).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from monai.networks.blocks import Convolution
from monai.networks.nets import BasicUNet

from monai_nad.networks.conditioned_pde import SQUARED_FLOOR, denormalised_output, normalised_inputs
from monai_nad.networks.layout import use_channels_last
from monai_nad.networks.padding import pad_to_multiple
from monai_nad.networks.unrolled import check_image_batch
from monai_nad.transforms.noise import remove_magnitude_bias

__all__ = ["CNN_BACKBONES", "NoiseConditionedCNN"]

#: The backbones :class:`NoiseConditionedCNN` can build.
CNN_BACKBONES = ("dncnn", "unet")


def _dncnn(spatial_dims: int, in_channels: int, out_channels: int, features: int, layers: int) -> nn.Sequential:
    blocks: list[nn.Module] = [Convolution(spatial_dims, in_channels, features, kernel_size=3, act="relu", norm=None)]
    blocks += [Convolution(spatial_dims, features, features, kernel_size=3, act="relu", norm=None) for _ in range(layers - 2)]
    blocks.append(Convolution(spatial_dims, features, out_channels, kernel_size=3, conv_only=True))
    return nn.Sequential(*blocks)


class NoiseConditionedCNN(nn.Module):
    """A residual CNN denoiser with the Neural PDE's inputs, noise handling and output range.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels ``C``. Defaults to 1.
        backbone: ``"dncnn"`` or ``"unet"``. Defaults to ``"dncnn"``.
        features: DnCNN width, or the U-Net's first-level width (levels ``f, f, 2f, 4f, 8f``). Defaults to 48.
        layers: DnCNN depth (convolutions, >= 2); unused by the U-Net. Defaults to 11 (about the Neural PDE's
            parameter count at 48 features).
        scale_quantile: quantile of ``|x|`` used as the intensity scale. Defaults to 0.99.

    Raises:
        ValueError: an unknown backbone or a bad size.

    Example::

        net = NoiseConditionedCNN(backbone="dncnn")
        noisy = torch.rand(2, 1, 64, 64)
        denoised = net(noisy, noise_std=0.05)
        denoised = net(noisy, noise_std=blind_noise_std(noisy))  # the level not known: estimated first
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        backbone: str = "dncnn",
        features: int = 48,
        layers: int = 11,
        scale_quantile: float = 0.99,
    ) -> None:
        super().__init__()
        if backbone not in CNN_BACKBONES:
            raise ValueError(f"backbone must be one of {CNN_BACKBONES}, got {backbone!r}.")
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        if int(features) != features or features < 1 or int(layers) != layers or layers < 2:
            raise ValueError(f"features must be >= 1 and layers >= 2, got {features!r} and {layers!r}.")
        self.spatial_dims, self.in_channels, self.backbone, self.scale_quantile = spatial_dims, in_channels, backbone, scale_quantile
        self.min_spatial_size = 3
        if backbone == "dncnn":
            self.network: nn.Module = _dncnn(spatial_dims, 3 * in_channels, in_channels, features, layers)
            last = self.network[-1].conv
            self.size_divisor = 1
        else:
            widths: Sequence[int] = (features, features, 2 * features, 4 * features, 8 * features, features)
            self.network = BasicUNet(spatial_dims, 3 * in_channels, in_channels, features=widths, norm=None)
            last = self.network.final_conv
            self.size_divisor = 16
        for module in self.network.modules():  # no normalisation layers: He initialisation keeps deep ReLU stacks trainable
            if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.zeros_(last.weight)  # starts as the bias-corrected input
        nn.init.zeros_(last.bias)
        use_channels_last(self, spatial_dims)

    def forward(self, x: torch.Tensor, noise_std: float | torch.Tensor, coils: int | torch.Tensor = 1) -> torch.Tensor:
        """Denoise a batch of magnitude images ``(B, C, H, W[, D])`` (arguments as the Neural PDE's; ``noise_std`` is
        required).

        Returns:
            denoised images of ``x``'s shape, in ``[0, max x]``.
        """
        check_image_batch(x, self.spatial_dims, self.in_channels, self.min_spatial_size)
        xn, sn, coils_t, scale = normalised_inputs(x, noise_std, coils, self.scale_quantile)
        corrected = remove_magnitude_bias(xn * xn, 2.0 * coils_t * sn * sn, floor=SQUARED_FLOOR)
        inputs, crop = pad_to_multiple(torch.cat([xn, corrected, sn], dim=1), self.size_divisor)
        v = corrected + self.network(inputs)[crop]
        return denormalised_output(v, torch.amax(xn, dim=list(range(2, xn.ndim)), keepdim=True), scale)

    def flops_per_pixel(self) -> float:
        """Multiply-adds of the convolutions per input pixel (the U-Net's are weighted by their resolution)."""
        total = 0.0
        for name, module in self.network.named_modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
                level = 0
                if self.backbone == "unet":
                    head = name.split(".")[0]
                    level = {"down_1": 1, "down_2": 2, "down_3": 3, "down_4": 4, "upcat_4": 3, "upcat_3": 2, "upcat_2": 1}.get(head, 0)
                total += module.weight.numel() / (2 ** (self.spatial_dims * level))
        return 2.0 * total
