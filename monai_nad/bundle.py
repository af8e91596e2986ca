"""The one bundle loader: find a bundle, read its configs, build its network, load its weights.

A bundle is a MONAI bundle folder (``configs/``, ``models/``, ``docs/``). Its ``configs/common.json``, where the
bundle keeps the definitions its configs share (the network), is merged before the other configs. The command
line, the bundle's own ``inference.json``, the experiments and the tests all build a bundle's network here.

Example::

    from monai_nad.bundle import bundle_network, default_bundle

    net = bundle_network(default_bundle())  # the shipped 2D model, models/model.pt
    net3d = bundle_network(default_bundle(), ["volume.json"], default_bundle() / "models" / "model_3d.pt")
"""

from __future__ import annotations

import site
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

import torch
from monai.bundle import ConfigParser

from monai_nad.engines.bundle_layout import REPRODUCTIONS, SHIPPED_BUNDLE
from monai_nad.engines.checkpoints import load_network_weights

__all__ = [
    "SHIPPED_BUNDLE",
    "REPRODUCTIONS",
    "bundle_config_files",
    "bundle_network",
    "bundle_parser",
    "default_bundle",
    "int8_ranges_path",
    "find_bundle",
    "find_reproduction",
    "reproduction_config",
]

_CHECKOUT = Path(__file__).resolve().parents[1]


def find_bundle(name: str = SHIPPED_BUNDLE) -> Path:
    """The folder of bundle ``name`` (e.g. ``"neural_pde_denoising"`` or ``"reproductions/neural_pde_v0.2"``).

    In a checkout (or an editable install) the bundle is ``bundles/<name>`` beside the source tree; a wheel installs
    the shipped bundle under ``<prefix>/share/monai_nad/bundles`` (the environment's data path, ``sys.prefix``, or
    the user's base for ``pip install --user``). The first candidate with a ``configs`` folder is returned, else the
    one beside the source tree (whose absence the caller reports).
    """
    relative = Path("bundles") / name
    beside_source = _CHECKOUT / relative
    bases = (sysconfig.get_path("data"), sys.prefix, site.USER_BASE)
    candidates = [beside_source] + [Path(base) / "share" / "monai_nad" / relative for base in bases if base]
    for candidate in candidates:
        if (candidate / "configs").is_dir():
            return candidate
    return beside_source


def default_bundle() -> Path:
    """The shipped bundle, ``bundles/neural_pde_denoising`` (see :func:`find_bundle`)."""
    return find_bundle(SHIPPED_BUNDLE)


def int8_ranges_path(bundle: str | Path | None = None) -> Path:
    """Where a bundle keeps the int8 calibration of its models, ``models/int8_ranges.json`` (written by
    ``scripts/calibrate_int8.py``, read with ``--precision int8``); ``bundle`` None: the shipped one."""
    return Path(bundle if bundle is not None else default_bundle()) / "models" / "int8_ranges.json"


def find_reproduction(name: str) -> Path:
    """The folder of the reproduction bundle ``name`` (e.g. ``"neural_pde_v0.2"``), ``bundles/reproductions/<name>``.

    The reproductions (earlier models, baselines, the recipes of the reproduced methods) live in the repository only; a wheel
    carries the shipped bundle alone.
    """
    return find_bundle(f"{REPRODUCTIONS}/{name}")


def reproduction_config(config: str | PurePath) -> Path:
    """A reproduction's config file, ``config`` given relative to ``bundles/reproductions`` (e.g.
    :data:`monai_nad.engines.bundle_layout.BASELINE_CNN_CONFIG`, ``baselines/configs/baseline_cnn.json``): its
    first part names the bundle (:func:`find_reproduction`), the rest the file in it."""
    name, *rest = PurePath(config).parts
    return find_reproduction(name).joinpath(*rest)


def bundle_config_files(bundle: str | Path, configs: Sequence[str | Path] = ("inference.json",)) -> list[Path]:
    """The config files of ``bundle/configs`` in merge order: ``common.json`` first when the bundle has one, then
    ``configs``.

    Args:
        bundle: the bundle folder.
        configs: names of config files, e.g. ``["inference.json"]`` or ``["train.json", "volume.json"]``; an absolute
            path names a config of another bundle, e.g. the recipe a reproduction overrides
            (``[find_reproduction("neural_pde_v0.2") / "configs" / "train.json", "diffusivity.json"]``).
    """
    folder = Path(bundle) / "configs"
    names = (["common.json"] if (folder / "common.json").is_file() and "common.json" not in configs else []) + list(configs)
    return [folder / name for name in names]


def bundle_parser(
    bundle: str | Path, configs: Sequence[str | Path] = ("inference.json",), overrides: Mapping[str, Any] | None = None
) -> ConfigParser:
    """A ``ConfigParser`` over the bundle's configs (:func:`bundle_config_files`) with ``overrides`` set.

    Args:
        bundle: the bundle folder.
        configs: config files of ``bundle/configs`` merged in order after ``common.json``.
        overrides: config values to set, e.g. ``{"self_ensemble": 1}``.

    Raises:
        FileNotFoundError: a config file is missing.
    """
    files = bundle_config_files(bundle, configs)
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"no config {path.name} in {path.parent}: is {bundle} a monai_nad bundle?")
    parser = ConfigParser()
    parser.read_config([str(path) for path in files])
    for key, value in (overrides or {}).items():
        parser[key] = value
    return parser


def bundle_network(
    bundle: str | Path,
    configs: Sequence[str | Path] = ("inference.json",),
    checkpoint: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> torch.nn.Module:
    """Instantiate a bundle's ``network_def`` from its configs and load a checkpoint (``weights_only=True``), in
    evaluation mode.

    Args:
        bundle: the bundle folder.
        configs: config files of ``bundle/configs`` merged in order after ``common.json``, e.g. ``["inference.json"]``
            or ``["volume.json"]``. Defaults to ``["inference.json"]``.
        checkpoint: the weights. Defaults to the bundle's ``models/model.pt``.
        overrides: config values to set before the network is built, e.g. ``{"self_ensemble": 1}``.

    Raises:
        FileNotFoundError: a config or the checkpoint is missing.
        ValueError: the checkpoint does not fit the network.
    """
    checkpoint = Path(bundle) / "models" / "model.pt" if checkpoint is None else checkpoint
    network = bundle_parser(bundle, configs, overrides).get_parsed_content("network_def", instantiate=True)
    return load_network_weights(network, checkpoint).eval()
