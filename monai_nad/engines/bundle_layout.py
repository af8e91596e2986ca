"""Where the bundles lie and which reproduction configs the shipped recipe merges: the one definition.

The bundle loader (:mod:`monai_nad.bundle`, which finds the folders) and the training runs
(:mod:`monai_nad.engines.bundle_training`, which list the configs a run merges) both read these names; the loader sits
above the engines, so the names live here. ``bundles/<SHIPPED_BUNDLE>`` is the shipped bundle,
``bundles/<REPRODUCTIONS>/<name>`` a reproduction (an earlier model, a baseline, a reproduced method).
"""

from __future__ import annotations

from pathlib import PurePosixPath

__all__ = [
    "BASELINE_CNN_CONFIG",
    "BR35H_CONFIG",
    "DIFFUSIVITY_REAL_SCAN_CONFIG",
    "REPRODUCTIONS",
    "SHIPPED_BUNDLE",
]

#: the shipped bundle's name (the 2D and the volume model), ``bundles/neural_pde_denoising``
SHIPPED_BUNDLE = "neural_pde_denoising"
#: the folder of ``bundles/`` that holds the reproductions of earlier models, baselines and reproduced methods (one
#: bundle each), beside the shipped bundle
REPRODUCTIONS = "reproductions"

# the reproductions' configs a real-scan run merges after the shipped common.json + train.json, relative to the
# reproductions folder
#: the Br35H-like training data (``--root``)
BR35H_CONFIG = PurePosixPath("br35h", "configs", "train_br35h.json")
#: the learned CNN baselines (DnCNN-style, BasicUNet)
BASELINE_CNN_CONFIG = PurePosixPath("baselines", "configs", "baseline_cnn.json")
#: a member of the learned-diffusivity family
DIFFUSIVITY_REAL_SCAN_CONFIG = PurePosixPath("diffusivity", "configs", "diffusivity_real_scan.json")
