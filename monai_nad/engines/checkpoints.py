"""Finding and loading checkpoints."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from monai_nad.engines.config_check import exit_bundle_run

__all__ = ["LatestWeightsSaver", "average_weights", "half_precision", "latest_checkpoint", "load_network_weights", "read_state_dict", "save_weights", "warm_start"]

_STEP = re.compile(r"=(\d+)\.pt$")


def latest_checkpoint(folder: str | Path, prefix: str = "resume") -> str | None:
    """The most recent resumable checkpoint written by ``CheckpointSaver(file_prefix=prefix, save_interval=...)``.

    Args:
        folder: the checkpoint folder (it may not exist yet).
        prefix: the saver's ``file_prefix``. Defaults to ``"resume"``.

    Returns:
        the path of the checkpoint with the highest epoch/iteration number, or None if there is none.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    best: tuple[int, str] | None = None
    for path in folder.glob(f"{prefix}*.pt"):
        match = _STEP.search(path.name)
        step = int(match.group(1)) if match else -1
        if best is None or step > best[0]:
            best = (step, str(path))
    return None if best is None else best[1]


def read_state_dict(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a bundle checkpoint's state dict safely (``weights_only=True``).

    Accepts a raw state dict or one nested under ``"model"``/``"network"``; strips DistributedDataParallel's
    ``module.`` prefix.

    Args:
        path: the checkpoint file.
        map_location: where to load tensors.

    Returns:
        the state dict.

    Raises:
        FileNotFoundError: the checkpoint does not exist.
        ValueError: the file is not a loadable checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for bad files; report them uniformly
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            # never pass on PyTorch's advice to load with weights_only=False: that would run code from the file
            first = "it holds Python objects besides tensors, which are not loaded for safety (not a plain state dict)"
        raise ValueError(f"cannot load checkpoint {path}: {first}") from None
    if isinstance(state, dict) and set(state) & {"model", "network"} and not any(torch.is_tensor(v) for v in state.values()):
        state = state.get("model", state.get("network"))
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} does not hold a state dict (got {type(state).__name__}).")
    state = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}
    return state


def _mismatches(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> tuple[list[str], list[str], list[str]]:
    """Keys ``own`` has and ``state`` lacks, keys ``state`` has and ``own`` lacks, and shape mismatches (as text)."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs network {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    return missing, unexpected, shapes


def half_precision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with its floating-point tensors in float16 (half the bytes on disk; ``load_state_dict`` casts them back
    to the network's float32), the others (integer buffers) unchanged."""
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def load_network_weights(
    network: torch.nn.Module, path: str | Path | Sequence[str | Path], map_location: str | torch.device = "cpu"
) -> torch.nn.Module:
    """Load a state dict saved by the bundle into ``network`` (safely: ``weights_only=True``).

    Accepts a raw state dict or one nested under ``"model"``/``"network"``. Several checkpoints (the snapshots of one
    run) load the mean of their weights (:func:`average_weights`), what ``--install-snapshot`` with several epochs
    installs.

    Args:
        network: the network to fill.
        path: the checkpoint file, or several checkpoints of one network whose mean is loaded.
        map_location: where to load tensors.

    Returns:
        ``network``, with the weights loaded.

    Raises:
        FileNotFoundError: the checkpoint does not exist.
        ValueError: the file is not a loadable checkpoint, its weights do not fit the network (the message
            lists missing/unexpected keys and shape mismatches), or some are NaN or infinite (a diverged training).
    """
    if not isinstance(path, (str, Path)):
        paths = list(path)
        if len(paths) != 1:
            state = {k: v.to(map_location) for k, v in average_weights(paths).items()}
            return _load_checked(network, state, f"the mean of {len(paths)} checkpoints ({', '.join(map(str, paths))})")
        path = paths[0]
    return _load_checked(network, read_state_dict(path, map_location), f"checkpoint {path}")


def _load_checked(network: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> torch.nn.Module:
    """``network.load_state_dict(state)`` after refusing non-finite weights and a state that does not fit (``source``
    names the weights in the message)."""
    bad = [k for k, v in state.items() if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(f"{source} holds NaN or infinite weights ({', '.join(bad[:3])}{'...' if len(bad) > 3 else ''}); was its training diverging?")
    missing, unexpected, shapes = _mismatches(state, network.state_dict())
    if missing or unexpected or shapes:
        raise ValueError(
            f"{source} does not match the network configuration: missing keys {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}, "
            f"shape mismatches {shapes[:5]}. Was it trained with different network_def settings?"
        )
    network.load_state_dict(state)
    return network


def average_weights(paths: Sequence[str | Path]) -> dict[str, torch.Tensor]:
    """The mean of several checkpoints' weights (the snapshots of one run: stochastic weight averaging), computed in
    float64 and returned in each tensor's dtype; integer tensors (counters) are taken from the first.

    Args:
        paths: checkpoints of the same network (at least one).

    Returns:
        the averaged state dict.

    Raises:
        ValueError: no paths, checkpoints with different keys or shapes, or non-finite weights.
        FileNotFoundError: a checkpoint does not exist.
    """
    if not paths:
        raise ValueError("average_weights needs at least one checkpoint.")
    states = [read_state_dict(p) for p in paths]
    first = states[0]
    for path, state in zip(paths[1:], states[1:]):
        if state.keys() != first.keys() or any(state[k].shape != first[k].shape for k in first):
            raise ValueError(f"checkpoint {path} holds other weights than {paths[0]}; only snapshots of one network can be averaged.")
    out = {}
    for key, value in first.items():
        if value.is_floating_point():
            mean = sum(s[key].double() for s in states) / len(states)
            if not bool(torch.isfinite(mean).all()):
                raise ValueError(f"the mean of {key} over {', '.join(map(str, paths))} is NaN or infinite; was a training diverging?")
            out[key] = mean.to(value.dtype)
        else:
            out[key] = value
    return out


def save_weights(network: torch.nn.Module | Mapping[str, torch.Tensor], path: str | Path) -> Path:
    """Save ``network``'s ``state_dict`` (or a state dict itself) to ``path`` through a temporary file beside it, so
    that the file is never half written (its folder is created).

    Returns:
        the saved file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(dict(network) if isinstance(network, Mapping) else network.state_dict(), tmp)
    tmp.replace(path)
    return path


class LatestWeightsSaver:
    """Save a network's weights each time an engine completes a run (e.g. after every validation).

    For training without clean references, where no validation score may choose the model: attached to the
    validator, it keeps the weights validated last (the final epoch's when ``val_interval`` divides ``max_epochs``).
    The file is replaced atomically.

    Args:
        network: the network whose ``state_dict`` is saved.
        path: the output file.
        enabled: set False on all but one distributed rank. Defaults to True.
    """

    def __init__(self, network: torch.nn.Module, path: str | Path, enabled: bool = True) -> None:
        self.network = network
        self.path = Path(path)
        self.enabled = enabled

    def attach(self, engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine=None) -> None:
        if self.enabled:
            save_weights(self.network, self.path)


def warm_start(network: torch.nn.Module, path: str | Path, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Initialise ``network`` from the checkpoint of a smaller configuration of the same network.

    For fine-tuning after enlarging a trained network (e.g. the Neural PDE's diffusion, trained with
    ``refine=False``, then the same network with a refinement head): every tensor of the checkpoint must exist in
    the network and is copied; the tensors the checkpoint lacks (the new head) keep their initialisation. A new head
    that starts as the identity (the Neural PDE's refinement does) leaves the network's output unchanged at the start
    of fine-tuning. These enlargements keep the function too:

    - a convolution with more input channels (a network given extra guiding inputs, such as the context slices of
      :class:`~monai_nad.networks.SliceContextPDE`): the checkpoint's weights fill the first input channels and the
      new ones start at zero (:func:`widen_input_channels`);
    - wider hidden layers (more ``features``): the old channels keep their weights, the new ones start from the
      network's initialisation and are read with zero weights (:func:`widen_input_channels`);
    - a network that wraps the checkpoint's network as one submodule: the checkpoint's keys are matched under that
      submodule's prefix (e.g. ``slice_network.``);
    - a network with an ``adapt_checkpoint(state)`` method rearranges the checkpoint first (a
      :class:`~monai_nad.networks.SliceContextPDE` with more context slices than its checkpoint).

    Args:
        network: the (larger) network to initialise.
        path: the checkpoint of the smaller network.
        map_location: where to load tensors.

    Returns:
        ``network``, initialised.

    Raises:
        FileNotFoundError: the checkpoint does not exist.
        ValueError: the checkpoint has a tensor the network lacks or one of another shape that is not a widening of
            the input channels (another network, or other ``network_def`` settings).
    """
    state = read_state_dict(path, map_location)
    target = network.state_dict()
    if state and not set(state) & set(target):
        for prefix in sorted({key.rsplit(".", k)[0] + "." for key in target for k in range(1, key.count(".") + 1)}, key=len):
            if all(prefix + key in target for key in state):
                state = {prefix + key: value for key, value in state.items()}
                break
    if hasattr(network, "adapt_checkpoint"):  # a network that knows how its own inputs grew (more context slices)
        state = network.adapt_checkpoint(state)
    state = widen_input_channels(state, target)
    _, unexpected, shapes = _mismatches(state, target)  # missing tensors (a new head) are expected
    if unexpected or shapes:
        raise ValueError(
            f"checkpoint {path} cannot initialise this network: weights the network lacks {unexpected[:5]}, "
            f"shape mismatches {shapes[:5]}. Was it trained with other network_def settings?"
        )
    network.load_state_dict(state, strict=False)
    return network


def widen_input_channels(state: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Widen the convolutions (and their biases) that ``target`` has wider, so that the widened network computes what
    the checkpoint did.

    Args:
        state: a checkpoint's state dict.
        target: the state dict of the network to load it into (its values initialise the new output channels).

    Returns:
        ``state`` with each convolution weight ``(O, I, k...)`` whose target is ``(O', I', k...)`` with ``O' >= O``,
        ``I' >= I`` (one of them larger) replaced by the target's tensor holding the old weights in its first ``O``
        output and ``I`` input channels and zeros for the new input channels of the old outputs: new inputs (extra
        guiding maps, or the new channels of a widened layer before it) start unread, and new output channels keep the
        target's initialisation (random, so they learn; what reads them starts at zero). A bias ``(O,)`` whose target
        is ``(O',)`` keeps its first ``O`` values. Every other tensor is unchanged.
    """
    out = dict(state)
    for key, value in state.items():
        wanted = target.get(key)
        if wanted is None or wanted.shape == value.shape or wanted.ndim != value.ndim:
            continue
        if value.ndim == 1 and wanted.shape[0] > value.shape[0] and key.endswith("bias"):
            wide = wanted.detach().clone().to(value.dtype)
            wide[: value.shape[0]] = value
            out[key] = wide
        elif value.ndim >= 3 and wanted.shape[2:] == value.shape[2:] and wanted.shape[0] >= value.shape[0] and wanted.shape[1] >= value.shape[1]:
            wide = wanted.detach().clone().to(value.dtype)
            wide[: value.shape[0]] = 0.0
            wide[: value.shape[0], : value.shape[1]] = value
            out[key] = wide
    return out


def load_bundle_weights(network: torch.nn.Module, path: str | Path, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """:func:`load_network_weights` for a bundle config: a missing or bad checkpoint ends a ``monai.bundle run`` with
    our one-line message (see :func:`~monai_nad.engines.config_check.exit_bundle_run`) and raises elsewhere.

    Raises:
        FileNotFoundError, ValueError: as :func:`load_network_weights` (outside the bundle command line).
    """
    try:
        return load_network_weights(network, path, map_location)
    except (FileNotFoundError, ValueError) as err:
        exit_bundle_run(err)
        raise
