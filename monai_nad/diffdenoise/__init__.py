"""DiffDenoise (arXiv 2504.00264, reproduced) on MONAI's generative components: blind-spot network, conditional diffusion, SRDS, distillation."""

from __future__ import annotations

from monai_nad.diffdenoise.pipeline import (
    STAGES,
    BlindSpotStage,
    DiffDenoise,
    aligned_timesteps,
    diffusion_inputs,
    from_diffusion_range,
    select_stage,
    to_diffusion_range,
)
from monai_nad.diffdenoise.student import GuidedStudent
from monai_nad.diffdenoise.training import (
    PAIRINGS,
    BlindSpotConditiond,
    ConcatConditionPrepareBatch,
    diffusion_training_items,
    distillation_pairs,
    pairing_target_key,
    state_fingerprint,
)
from monai_nad.diffdenoise.variance import sampling_variance

__all__ = [
    "DiffDenoise",
    "aligned_timesteps",
    "BlindSpotStage",
    "GuidedStudent",
    "STAGES",
    "select_stage",
    "diffusion_inputs",
    "to_diffusion_range",
    "from_diffusion_range",
    "BlindSpotConditiond",
    "ConcatConditionPrepareBatch",
    "PAIRINGS",
    "diffusion_training_items",
    "pairing_target_key",
    "distillation_pairs",
    "state_fingerprint",
    "sampling_variance",
]
