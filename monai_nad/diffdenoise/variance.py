"""How much SRDS reduces the sampling variance: symmetric pairs ``(+eps, -eps)`` against independent pairs."""

from __future__ import annotations

import torch

from monai_nad.diffdenoise.pipeline import DiffDenoise

__all__ = ["sampling_variance"]


@torch.no_grad()
def sampling_variance(model: DiffDenoise, x: torch.Tensor, repeats: int = 4, seed: int = 100) -> dict[str, float]:
    """Per-pixel variance, over repeated draws, of the two-sample estimators.

    For ``r < repeats`` draws ``eps_r`` and an independent ``eps'_r``; the *independent* estimator averages the runs from
    ``eps_r`` and ``eps'_r``, the *symmetric* (SRDS) estimator the runs from ``eps_r`` and ``-eps_r``, and *single* is
    the run from ``eps_r`` alone. Variances are over ``r``, averaged over pixels, in squared image units.

    Args:
        model: a trained :class:`~monai_nad.diffdenoise.DiffDenoise`.
        x: noisy images ``(B, C, H, W[, D])``.
        repeats: number of draws (at least 2). Defaults to 4.
        seed: first seed of the draws. Defaults to 100.

    Returns:
        ``{"single": ..., "independent": ..., "symmetric": ..., "reduction": 1 - symmetric / independent}``.

    Raises:
        ValueError: ``repeats < 2``.
    """
    if repeats < 2:
        raise ValueError(f"a variance needs at least 2 repeats, got {repeats!r}.")
    shape = model.padded_shape(x)
    single, independent, symmetric = [], [], []
    for r in range(repeats):
        eps = model.initial_noise(shape, x.device, seed + 2 * r)
        other = model.initial_noise(shape, x.device, seed + 2 * r + 1)
        run_eps, run_neg, run_other = model.generate(x, [eps, -eps, other])
        single.append(run_eps)
        independent.append((run_eps + run_other) / 2)
        symmetric.append((run_eps + run_neg) / 2)
    var = {name: float(torch.stack(runs).var(dim=0).mean()) for name, runs in (("single", single), ("independent", independent), ("symmetric", symmetric))}
    var["reduction"] = 1.0 - var["symmetric"] / var["independent"] if var["independent"] > 0 else 0.0
    return var
