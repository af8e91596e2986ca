"""Training-side pieces of DiffDenoise: the diffusion model's data, its Ignite batch preparation, distillation pairs, and
the bundle's three training stages (:func:`train_diffdenoise`, :func:`install_diffdenoise`)."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from monai.bundle import ConfigParser
from monai.config import KeysCollection, NdarrayOrTensor
from monai.engines.utils import DiffusionPrepareBatch
from monai.transforms import MapTransform
from monai.utils import convert_to_tensor
from tqdm import tqdm

from monai_nad.data import noisy_pairs, noisy_slices
from monai_nad.diffdenoise.pipeline import diffusion_inputs
from monai_nad.engines.checkpoints import half_precision, load_network_weights, read_state_dict
from monai_nad.engines.training_record import cpu_name, recorded_path
from monai_nad.engines.user_values import bundle_command

__all__ = [
    "BlindSpotConditiond",
    "ConcatConditionPrepareBatch",
    "INSTALLED_NAMES",
    "PAIRINGS",
    "StageFailed",
    "TRAINING_EPOCHS",
    "STAGE_RECORD",
    "TRAINING_STAGES",
    "check_stage_weights",
    "diffusion_training_items",
    "distillation_pairs",
    "install_diffdenoise",
    "pairing_target_key",
    "stage_command",
    "stage_epochs",
    "state_fingerprint",
    "train_diffdenoise",
]

#: the bundle's training stages, in order: the blind-spot network, the diffusion model conditioned on it, the student
TRAINING_STAGES = ("bsn", "diffusion", "student")
#: the file in ``<output_dir>/<stage>`` where a trained stage records its wall time and epochs
STAGE_RECORD = "stage_record.json"
#: epochs per stage for the shipped weights
TRAINING_EPOCHS = {"bsn": 20, "diffusion": 45, "student": 120}
#: the file each stage is installed as in the bundle's ``models/``
INSTALLED_NAMES = {"bsn": "bsn.pt", "diffusion": "diffusion.pt", "student": "model.pt"}
#: the stages installed in float16 (half the bytes; the networks still compute in float32)
HALF_PRECISION_STAGES = ("diffusion", "student")
#: the diffusion stage's training pairs -> the item key of the target copy: ``"same"``, the shipped recipe (target
#: ``y``, condition ``BSN(y)`` of the same ``y``); ``"independent"``, Noise2Noise pairs (target ``y_b``, condition
#: ``BSN(y_a)``, two copies of one clean slice under one noise condition with independent noise)
PAIRINGS: dict[str, str | None] = {"same": None, "independent": "image_b"}
#: the overrides of a quick run: tiny data and budgets that check the pipeline end to end
QUICK_OVERRIDES = ["--train_limit", "3", "--val_limit", "1", "--val_interval", "1", "--inference_steps", "2", "--patches_per_slice", "2"]


class StageFailed(RuntimeError):
    """A training stage's ``monai.bundle run`` failed: ``stage`` and the subprocess's ``returncode``."""

    def __init__(self, stage: str, returncode: int) -> None:
        super().__init__(f"stage {stage} failed with exit code {returncode}")
        self.stage, self.returncode = stage, returncode


class BlindSpotConditiond(MapTransform):
    """Make the diffusion model's training item from a noisy image: target and blind-spot condition.

    ``condition_key`` becomes the blind-spot estimate of the noisy ``image`` in the diffusion range, and ``image`` the
    target in the same range: the scale-normalised noisy image itself, or, with ``target_key``, an independent noisy
    copy of the same clean image (Noise2Noise pairs, :func:`~monai_nad.data.noisy_pairs`), which is then removed
    from the item (:func:`~monai_nad.diffdenoise.diffusion_inputs`). Deterministic, so it can sit before a cache;
    crop both keys together afterwards.

    Args:
        keys: the noisy image key (a single key). Defaults to ``"image"``.
        network: the trained blind-spot network (evaluated without gradient, on the CPU).
        condition_key: where to store the condition. Defaults to ``"condition"``.
        quantile: intensity-scale quantile. Defaults to 0.99.
        target_key: the key of the independent copy that becomes the target. Defaults to None (the image itself).
        with_noisy: the condition also holds the noisy image (``2 C`` channels, :func:`diffusion_inputs`); use it with
            ``target_key`` only, as a network conditioned on its own target learns to copy it. Defaults to False.

    Raises:
        ValueError: no network, or ``with_noisy`` without ``target_key``.
        KeyError: an item without ``target_key``.
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        network: nn.Module | None = None,
        condition_key: str = "condition",
        quantile: float = 0.99,
        target_key: str | None = None,
        with_noisy: bool = False,
    ) -> None:
        super().__init__(keys)
        if network is None:
            raise ValueError("BlindSpotConditiond needs the trained blind-spot network.")
        if with_noisy and target_key is None:
            raise ValueError("BlindSpotConditiond: a condition holding the noisy image needs an independent target copy "
                             "(target_key); conditioned on its own target the network learns to copy it.")
        self.with_noisy = with_noisy
        self.network = network.cpu().eval()
        self.condition_key = condition_key
        self.quantile = quantile
        self.target_key = target_key

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            x = convert_to_tensor(d[key], track_meta=False, dtype=torch.float32)[None]
            copy = None
            if self.target_key is not None:
                if self.target_key not in d:
                    raise KeyError(f"BlindSpotConditiond: the item has no independent copy {self.target_key!r} (keys {sorted(map(str, d))}).")
                copy = convert_to_tensor(d.pop(self.target_key), track_meta=False, dtype=torch.float32)[None]
            target, condition, _ = diffusion_inputs(x, self.network, self.quantile, target=copy, with_noisy=self.with_noisy)
            d[key], d[self.condition_key] = target[0], condition[0]
        return d


def pairing_target_key(pairing: str) -> str | None:
    """The item key of the target copy for a :data:`PAIRINGS` name (None: the image itself).

    Raises:
        ValueError: unknown pairing.
    """
    if pairing not in PAIRINGS:
        raise ValueError(f"unknown pairing {pairing!r}; choose one of {sorted(PAIRINGS)}.")
    return PAIRINGS[pairing]


def diffusion_training_items(
    pairing: str, split: str, conditions: Sequence[str], per_slice: int = 1, seed: int = 0, limit: int | None = None,
    volumes: Sequence[str] = ("mni",),
) -> list[dict]:
    """The diffusion stage's noisy training items for a :data:`PAIRINGS` name: :func:`~monai_nad.data.noisy_slices`
    (``"same"``) or :func:`~monai_nad.data.noisy_pairs` (``"independent"``, the second copy under
    :func:`pairing_target_key`), of the named volumes' slabs (``"mni"``, ``"colin27"``). No clean image is returned.

    Raises:
        ValueError: unknown pairing, split, condition or volume.
    """
    key = pairing_target_key(pairing)
    if key is None:
        return noisy_slices(split, conditions, per_slice=per_slice, seed=seed, limit=limit, volumes=volumes)
    return noisy_pairs(split, conditions, per_slice=per_slice, seed=seed, limit=limit, pair_key=key, volumes=volumes)


class ConcatConditionPrepareBatch(DiffusionPrepareBatch):
    """MONAI's :class:`~monai.engines.utils.DiffusionPrepareBatch` for a condition concatenated as input channels.

    The trainer then calls ``DiffusionInferer(inputs, network, noise=..., timesteps=..., condition=..., mode="concat")``
    and the loss compares the predicted and the true noise.

    Args:
        num_train_timesteps: the scheduler's number of training steps.
        condition_name: the batch key of the condition. Defaults to ``"condition"``.
        min_timestep: draw the training steps uniformly from ``[min_timestep, num_train_timesteps)``; with a noisy
            target the steps whose added noise is below the data's teach nothing. Defaults to 0 (all steps).

    Raises:
        ValueError: ``min_timestep`` outside ``[0, num_train_timesteps)``.
    """

    def __init__(self, num_train_timesteps: int, condition_name: str = "condition", min_timestep: int = 0) -> None:
        super().__init__(num_train_timesteps, condition_name)
        if not 0 <= min_timestep < num_train_timesteps:
            raise ValueError(f"min_timestep must be in [0, {num_train_timesteps}), got {min_timestep!r}.")
        self.min_timestep = int(min_timestep)

    def get_timesteps(self, images: torch.Tensor) -> torch.Tensor:
        """Training steps drawn uniformly from ``[min_timestep, num_train_timesteps)``, one per image."""
        return torch.randint(self.min_timestep, self.num_train_timesteps, (images.shape[0],), device=images.device).long()

    def __call__(self, batchdata: dict[str, torch.Tensor], device: str | torch.device | None = None, non_blocking: bool = False, **kwargs: Any):
        images, target, args, infer_kwargs = super().__call__(batchdata, device, non_blocking, **kwargs)
        infer_kwargs["mode"] = "concat"
        return images, target, args, infer_kwargs


def state_fingerprint(network: nn.Module) -> str:
    """A short hash of a network's weights (to key caches of its outputs)."""
    digest = hashlib.sha256()
    for name, value in sorted(network.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def distillation_pairs(
    teacher: nn.Module,
    items: Sequence[Mapping[str, Any]],
    cache_dir: str | Path | None = None,
    batch_size: int = 4,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """The student's training pairs: each noisy image and the teacher's (DiffDenoise's) output for it.

    Args:
        teacher: the full pipeline, e.g. :class:`~monai_nad.diffdenoise.DiffDenoise`.
        items: ``{"image": noisy (C, H, W[, D]), "id": ...}`` dictionaries; consecutive items of one image shape are
            batched together (the slices of different volumes may differ in size).
        cache_dir: if given, the targets are stored in ``<cache_dir>/teacher_<fingerprint>.npz`` and reused while
            the teacher's weights, settings and item ids are unchanged.
        batch_size: images per teacher call (at most). Defaults to 4.
        device: where the teacher runs. Defaults to CPU.
        progress: show a progress bar. Defaults to True.

    Returns:
        ``[{"image": noisy, "label": teacher output, "id"}, ...]`` as float32 arrays.
    """
    ids = [str(it["id"]) for it in items]
    settings = f"{getattr(teacher, 'inference_steps', '')}|{getattr(teacher, 'symmetric', '')}|{getattr(teacher, 'seed', '')}"
    key = hashlib.sha256(("|".join(ids) + settings + state_fingerprint(teacher)).encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"teacher_{key}.npz" if cache_dir is not None else None
    if cache is not None and cache.is_file():
        with np.load(cache) as stored:  # one stacked array (caches of equal-size items) or one array per item
            targets = list(stored["targets"]) if "targets" in stored.files else [stored[f"target_{i}"] for i in range(len(items))]
    else:
        teacher = teacher.to(device).eval()
        targets = []
        for start, stop in tqdm(_same_shape_batches(items, batch_size), desc="teacher outputs", disable=not progress):
            batch = torch.stack([torch.as_tensor(np.asarray(it["image"], dtype=np.float32)) for it in items[start:stop]])
            with torch.no_grad():
                targets.extend(teacher(batch.to(device)).cpu().numpy().astype(np.float32))
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, **{f"target_{i}": t for i, t in enumerate(targets)})
            tmp.replace(cache)
    return [{"image": np.asarray(it["image"], dtype=np.float32), "label": np.asarray(targets[i], dtype=np.float32), "id": ids[i]}
            for i, it in enumerate(items)]


def _same_shape_batches(items: Sequence[Mapping[str, Any]], batch_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` index ranges of at most ``batch_size`` consecutive items of one image shape."""
    ranges, start = [], 0
    while start < len(items):
        shape, stop = np.shape(items[start]["image"]), start + 1
        while stop < len(items) and stop - start < batch_size and np.shape(items[stop]["image"]) == shape:
            stop += 1
        ranges.append((start, stop))
        start = stop
    return ranges


def stage_command(
    bundle: Path, stage: str, output_dir: Path, epochs: int, quick: bool, extra: Sequence[str], weights: Mapping[str, Path] | None = None
) -> tuple[list[str], dict[str, str]]:
    """The ``python -m monai.bundle run`` command line and environment of one stage (``configs/common.json`` +
    ``configs/train_<stage>.json``, MLflow experiment ``diffdenoise``; paths passed as data).

    Args:
        bundle: the DiffDenoise bundle folder.
        stage: one of :data:`TRAINING_STAGES`.
        output_dir: the folder of the stage folders.
        epochs: the stage's epochs.
        quick: add :data:`QUICK_OVERRIDES`.
        extra: further ``--key value`` pairs for ``monai.bundle run``.
        weights: stage -> weights an earlier stage is read from instead of ``<output_dir>/<stage>/model.pt`` (the
            config's ``<stage>_ckpt``).
    """
    configs = bundle / "configs"
    run_args = [
        "--meta_file", str(configs / "metadata.json"), "--logging_file", str(configs / "logging.conf"),
        "--tracking", "mlflow", "--experiment_name", "diffdenoise", "--run_name", stage,
    ]
    ours = ["--max_epochs", str(epochs)] + (QUICK_OVERRIDES if quick else []) + list(extra)
    values = {"bundle_root": str(bundle), "output_dir": str(output_dir)}
    values.update({f"{name}_ckpt": str(Path(path).resolve()) for name, path in (weights or {}).items()})
    return bundle_command([configs / "common.json", configs / f"train_{stage}.json"], values, ours, run_args)


def train_diffdenoise(
    bundle: Path, output_dir: Path, stages: Sequence[str] = TRAINING_STAGES, quick: bool = False, extra: Sequence[str] = (),
    weights: Mapping[str, Path] | None = None,
) -> dict[str, float]:
    """Train the stages in ``<output_dir>/<stage>``, in the order given, each through ``python -m monai.bundle run``
    (:func:`stage_command`; :data:`TRAINING_EPOCHS`, or one epoch each with ``quick``).

    A stage resumes from its last epoch when started again with the same ``output_dir``; a finished stage (its
    ``model.pt`` exists) is skipped, and so is a stage given its ``weights``, which the later stages then read (for
    example a retrained diffusion network, whose SRDS outputs the student is distilled from).

    Args:
        bundle: the DiffDenoise bundle folder.
        output_dir: the folder of the stage folders.
        stages: the stages to run.
        quick: tiny data and budgets (:data:`QUICK_OVERRIDES`): checks the pipeline end to end.
        extra: further ``--key value`` pairs for every stage.
        weights: stage -> weights file of a stage that is not trained here (see :func:`check_stage_weights`).

    Returns:
        Stage name -> wall time in seconds, for the stages trained.

    Raises:
        StageFailed: a stage failed (its name and exit code); the stages before it are kept.
        ValueError, FileNotFoundError: bad ``weights`` (:func:`check_stage_weights`).
    """
    weights = check_stage_weights(weights)
    seconds: dict[str, float] = {}
    for stage in stages:
        if stage in weights:
            print(f"stage {stage}: weights given ({weights[stage]}), not trained", flush=True)
            continue
        if (output_dir / stage / "model.pt").is_file():
            print(f"stage {stage}: {output_dir / stage / 'model.pt'} exists, skipped", flush=True)
            continue
        command, env = stage_command(bundle, stage, output_dir, stage_epochs(stage, quick), quick, extra, weights)
        print(f"stage {stage}: running", " ".join(command), flush=True)
        start = time.time()
        result = subprocess.run(command, check=False, env=env)
        seconds[stage] = time.time() - start
        if result.returncode != 0:
            raise StageFailed(stage, result.returncode)
        print(f"stage {stage}: done in {seconds[stage] / 60:.1f} min", flush=True)
        # the stage's own record, which a later --install of this folder reads when it does not train the stage again
        record = {"seconds": round(seconds[stage], 1), "epochs": stage_epochs(stage, quick, extra)}
        (output_dir / stage / STAGE_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return seconds


def check_stage_weights(
    weights: Mapping[str, str | Path] | None, bundle: Path | None = None, extra: Sequence[str] = ()
) -> dict[str, Path]:
    """Validate the weights given for stages that are not trained (``{"diffusion": "docs/.../diffusion.pt"}``).

    Args:
        weights: stage -> weights file.
        bundle: the DiffDenoise bundle: each file must also fit its stage's network as the bundle defines it
            (``bsn_def``, ``diffusion_def`` of ``configs/common.json``); None: not checked. Defaults to None.
        extra: the bundle overrides of the run: the top-level settings they give (``--condition_on_noisy True``) hold
            for the check too; a stage whose network they change directly (``--<stage>_def...``) is left to the bundle
            run to check. Defaults to none.

    Returns:
        stage -> path.

    Raises:
        ValueError: a name that is not a stage, or the student (it is what the other stages are distilled into); a
            file that is not a loadable checkpoint (:func:`~monai_nad.engines.read_state_dict`), or (with ``bundle``)
            whose weights do not fit the stage's network.
        FileNotFoundError: a file that does not exist.
    """
    out: dict[str, Path] = {}
    for stage, path in (weights or {}).items():
        if stage not in TRAINING_STAGES[:-1]:
            raise ValueError(f"weights can be given for the stages {list(TRAINING_STAGES[:-1])}, not {stage!r}.")
        if not Path(path).is_file():
            raise FileNotFoundError(f"the {stage} weights {path} do not exist.")
        read_state_dict(path)  # an empty or corrupt file: one line now, not a traceback in a later stage
        if bundle is not None and not any(str(item).startswith(f"--{stage}_def") for item in extra):
            parser = ConfigParser()
            parser.read_config(str(Path(bundle) / "configs" / "common.json"))
            for key, value in _top_level_overrides(extra).items():
                if key in parser.config:
                    parser[key] = value
            network = parser.get_parsed_content(f"{stage}_def", instantiate=True)
            try:
                load_network_weights(network, path)
            except ValueError as err:  # another stage's or another network's weights: one line before any stage runs
                raise ValueError(f"the {stage} weights {path} do not fit the bundle's {stage} network: {err}") from err
        out[stage] = Path(path)
    return out


def _top_level_overrides(extra: Sequence[str]) -> dict[str, Any]:
    """The ``--key value`` pairs of bundle overrides whose key names a top-level setting (no ``#``), each value read as
    a Python literal where it is one (``True``, ``12``, ``['mni']``), as ``monai.bundle run`` reads it, else as text.
    Expressions and references (``$...``, ``@...``, ``%...``) are left to the bundle run: the check evaluates nothing."""
    out: dict[str, Any] = {}
    for flag, value in zip(extra[:-1], extra[1:]):
        if flag.startswith("--") and not value.startswith(("--", "$", "@", "%")) and "#" not in flag:
            try:
                out[flag[2:]] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                out[flag[2:]] = value
    return out


def stage_epochs(stage: str, quick: bool = False, extra: Sequence[str] = ()) -> int:
    """The epochs :func:`train_diffdenoise` trains ``stage`` for: the last ``--max_epochs`` of ``extra`` (it overrides
    the default, as the bundle run reads it last), else 1 for a quick run, else :data:`TRAINING_EPOCHS`."""
    values = [extra[i + 1] for i, item in enumerate(extra[:-1]) if item == "--max_epochs"]
    return int(values[-1]) if values else (1 if quick else TRAINING_EPOCHS[stage])


def install_diffdenoise(
    bundle: Path, output_dir: Path, seconds: Mapping[str, float], quick: bool, command: str, weights: Mapping[str, Path] | None = None,
    epochs: Mapping[str, int] | None = None,
) -> None:
    """Copy the three stages' weights from ``<output_dir>/<stage>/model.pt`` (or the ``weights`` given for a stage) into
    ``<bundle>/models`` (``bsn.pt``, ``diffusion.pt`` and the student as ``model.pt``, the last two in float16 to keep the bundle small)
    and record the times and the hardware in ``<bundle>/docs/training_info.json``.

    A stage trained now records its time and epochs; one trained by an earlier run of ``output_dir`` those of its
    ``<output_dir>/<stage>/stage_record.json`` (:data:`STAGE_RECORD`); one whose installed weights do not change keeps
    the bundle's record; any other has no time or epochs in the record (they are not known). A stage installed from
    given weights records the file as ``weights_from`` instead of a time.

    Args:
        bundle: the DiffDenoise bundle folder.
        output_dir: the folder of the stage folders.
        seconds: wall time per stage trained now (:func:`train_diffdenoise`).
        quick: a quick run: the record starts afresh.
        command: the command line recorded as the weights' origin.
        weights: stage -> weights file installed for that stage (see :func:`check_stage_weights`).
        epochs: epochs of the stages trained now (:func:`stage_epochs`); defaults to :data:`TRAINING_EPOCHS`.

    Raises:
        FileNotFoundError: a stage has no trained weights (nothing is installed).
        ValueError: a weights file that is not a loadable checkpoint (nothing is installed).
    """
    weights = check_stage_weights(weights)
    models = bundle / "models"
    models.mkdir(exist_ok=True)
    sources = {stage: weights.get(stage, output_dir / stage / "model.pt") for stage in TRAINING_STAGES}
    missing = [stage for stage, path in sources.items() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"cannot install: no trained weights for stage(s) {missing} in {output_dir}; train them first "
                                f"(python scripts/train_diffdenoise.py --stages {' '.join(missing)} --output-dir {output_dir}).")
    states = {stage: read_state_dict(sources[stage]) for stage in TRAINING_STAGES}  # all read before any is written
    unchanged = {stage for stage, name in INSTALLED_NAMES.items() if _same_weights(states[stage], models / name)}
    for stage, name in INSTALLED_NAMES.items():
        if stage in unchanged:  # the same weights: the file stays as it is
            print(f"kept {models / name} (the same weights)")
            continue
        state = states[stage]
        if stage in HALF_PRECISION_STAGES:
            state = half_precision(state)
        torch.save(state, models / name)
        print(f"installed {models / name} ({(models / name).stat().st_size / 1024:.0f} KB)")
    info_path = bundle / "docs" / "training_info.json"
    previous = json.loads(info_path.read_text()) if info_path.is_file() and not quick else {}
    # given weights that are not the installed file itself replace that stage's record; the installed file keeps it
    fresh = {k: p for k, p in weights.items() if p.resolve() != (models / INSTALLED_NAMES[k]).resolve()}
    recorded = {k: json.loads((output_dir / k / STAGE_RECORD).read_text()) for k in TRAINING_STAGES
                if k not in seconds and k not in weights and (output_dir / k / STAGE_RECORD).is_file()}
    kept = {k for k in unchanged if k not in seconds and k not in fresh and k not in recorded}  # the bundle's record holds
    timed = {**{k: v for k, v in previous.get("seconds_per_stage", {}).items() if k in kept}, **{k: r["seconds"] for k, r in recorded.items()}}
    given = {**{k: v for k, v in previous.get("weights_from", {}).items() if k in kept or (k in weights and k not in fresh)},
             **{k: recorded_path(p, bundle) for k, p in fresh.items()}}
    info = {
        "command": command,
        # stages kept from an earlier install keep their epochs; given weights have their own record
        "epochs": {**{k: v for k, v in previous.get("epochs", TRAINING_EPOCHS).items() if k in kept and k in timed},
                   **{k: int(r["epochs"]) for k, r in recorded.items()},
                   **{k: int((epochs or {}).get(k, TRAINING_EPOCHS[k])) for k in seconds}},
        "seconds_per_stage": {**timed, **{k: round(v, 1) for k, v in seconds.items()}},
        **({"weights_from": given} if given else {}),
        "hardware": f"{cpu_name()}, {os.cpu_count()} CPU cores, "
        + (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"),
        "torch": torch.__version__,
    }
    info_path.parent.mkdir(exist_ok=True)
    info_path.write_text(json.dumps(info, indent=2) + "\n")


def _same_weights(state: Mapping[str, torch.Tensor], installed: Path) -> bool:
    """Whether ``installed`` (an installed weights file, perhaps in float16) holds ``state`` (to float16's precision)."""
    if not installed.is_file():
        return False
    try:
        old = read_state_dict(installed)
    except ValueError:
        return False
    return old.keys() == state.keys() and all(
        old[k].shape == v.shape and torch.allclose(old[k].float(), v.float().half().float() if old[k].dtype == torch.float16 else v.float())
        for k, v in state.items()
    )
