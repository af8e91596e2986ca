"""The shipped MONAI bundle and the reproductions beside it: layout, metadata, end-to-end runs on tiny budgets through
``python -m monai.bundle`` as users run them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_nad.bundle import bundle_network, default_bundle, find_reproduction
from monai_nad.transforms import blind_noise_std, second_difference_noise_std

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = default_bundle()
CONFIGS = BUNDLE / "configs"
#: the v0.2 recipe (a reproduction): the tiny training runs below train it, as they did before v1.0 shipped
V02 = find_reproduction("neural_pde_v0.2")
V02_CONFIGS = V02 / "configs"
SCHEMA = ROOT / "tests" / "resources" / "meta_schema_20240725.json"
TINY = [
    "--max_epochs", "1", "--val_interval", "1", "--patches_per_slice", "2", "--network_def#steps", "2",
    "--train#datalist", "$monai_nad.data.mni_slices('train')[:8]", "--val_noise_stds", "[0.1]",
]


def bundle(*args: str, config: str | list[str] = "train.json", cwd: Path | None = None, torchrun: bool = False, timeout: int = 300,
           folder: Path = V02_CONFIGS):
    """Run ``python -m monai.bundle run`` over ``config`` (names in ``folder``, the v0.2 recipe's by default, or paths)."""
    files = [str(folder / c) for c in ([config] if isinstance(config, str) else config)]
    config_arg = files[0] if len(files) == 1 else json.dumps(files)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", "29561"] if torchrun else [sys.executable]
    command = launcher + ["-m", "monai.bundle", "run", "--config_file", config_arg, "--meta_file", str(folder / "metadata.json"),
                          "--logging_file", str(folder / "logging.conf")] + list(args)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny training run of the v0.2 recipe with MLflow tracking, in a copy of its bundle (its files stay untouched)."""
    root = tmp_path_factory.mktemp("bundle")
    shutil.copytree(V02_CONFIGS, root / "configs")
    log = bundle("--bundle_root", str(root), "--tracking", "mlflow", "--experiment_name", "tiny", *TINY, cwd=root)
    return root, log


@pytest.mark.slow
def test_train_one_epoch_writes_checkpoints_and_shows_progress(trained):
    root, log = trained
    ckpts = root / "runs" / "checkpoints"
    assert (ckpts / "best_model.pt").is_file()
    assert (ckpts / "resume_checkpoint_epoch=1.pt").is_file()
    assert "Epoch: 1/1, Iter: 1/" in log and "train_loss" in log and "val_psnr" in log


@pytest.mark.slow
def test_mlflow_run_has_params_metrics_config_and_checkpoint(trained):
    from mlflow.tracking import MlflowClient

    root, _ = trained
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'runs' / 'mlruns.db'}")
    experiment = client.get_experiment_by_name("tiny")
    run = client.search_runs([experiment.experiment_id])[0]
    assert run.data.params["network.steps"] == "2" and "learning_rate" in run.data.params
    assert "train_loss" in run.data.metrics and "val_psnr" in run.data.metrics
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) >= 1
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "best_model.pt" in artifacts and any(a.startswith("config_") for a in artifacts)


@pytest.mark.slow
def test_resume_continues_from_the_last_epoch(trained):
    root, _ = trained
    log = bundle("--bundle_root", str(root), *TINY[2:], "--max_epochs", "2", cwd=root)
    assert "resuming training from" in log and "Epoch: 2/2" in log and "Epoch: 1/2" not in log
    ckpt = torch.load(root / "runs" / "checkpoints" / "resume_checkpoint_epoch=2.pt", weights_only=False)
    assert ckpt["validation"]["best_metric_epoch"] >= 1  # the best score survives the interruption
    assert (root / "runs" / "checkpoints" / "resume_checkpoint_epoch=2.pt").is_file()
    assert not (root / "runs" / "checkpoints" / "resume_checkpoint_epoch=1.pt").exists()


@pytest.mark.slow
def test_evaluate_and_infer_with_the_trained_weights(trained):
    root, _ = trained
    (root / "models").mkdir(exist_ok=True)
    shutil.copyfile(root / "runs" / "checkpoints" / "best_model.pt", root / "models" / "model.pt")
    bundle("--bundle_root", str(root), "--network_def#steps", "2", "--val_noise_stds", "[0.1]", config=["train.json", "evaluate.json"], cwd=root)
    summary = (root / "eval" / "val_psnr_summary.csv").read_text()
    assert "mean" in summary
    # inference.json runs the shipped real-scan model; run twice: each run writes a new folder and says where
    shutil.copyfile(BUNDLE / "models" / "model.pt", root / "models" / "model.pt")
    logs = [bundle("--bundle_root", str(root), "--tracking", "mlflow", config=["common.json", "inference.json"], cwd=root, folder=CONFIGS)
            for _ in range(2)]
    assert all("wrote 1 result(s) to" in log for log in logs)
    outputs = sorted((root / "inference_output").glob("denoised-*/mni_test_slab_noisy_denoised.nii.gz"))
    assert len(outputs) >= 1
    source = nib.load(str(root / "inference_output" / "sample" / "mni_test_slab_noisy.nii.gz"))
    result = nib.load(str(outputs[-1]))
    np.testing.assert_allclose(result.affine, source.affine)
    assert result.shape == source.shape and np.isfinite(result.get_fdata()).all()


@pytest.mark.slow
def test_checkpoint_mismatch_is_reported(trained, tmp_path):
    root, _ = trained
    from monai_nad.engines import load_network_weights
    from monai_nad.networks import NeuralPDE

    with pytest.raises(ValueError, match="does not match the network configuration"):
        load_network_weights(NeuralPDE(2, steps=4, guidance=False), root / "runs" / "checkpoints" / "best_model.pt")
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_network_weights(NeuralPDE(2), tmp_path / "nothing.pt")


@pytest.mark.slow
def test_two_process_gloo_ddp(tmp_path):
    shutil.copytree(V02_CONFIGS, tmp_path / "configs")
    log = bundle("--bundle_root", str(tmp_path), *TINY, config=["train.json", "multi_gpu_train.json"], torchrun=True, cwd=tmp_path)
    assert (tmp_path / "runs" / "checkpoints" / "best_model.pt").is_file()
    assert log.count("Epoch: 1/1, Iter: 1/") == 1  # progress printed by rank 0 only


def test_metadata_is_valid_offline(tmp_path):
    from monai.bundle import verify_metadata

    schema = tmp_path / "schema.json"
    shutil.copyfile(SCHEMA, schema)
    verify_metadata(meta_file=str(CONFIGS / "metadata.json"), filepath=str(schema))


def test_the_shipped_bundle_is_laid_out_as_the_model_zoo_does():
    """The shipped model's configs (its recipe is train.json), its two weights, their int8 calibration and nothing else;
    metadata describes both inputs and the volume model."""
    assert {p.name for p in CONFIGS.iterdir()} == {
        "common.json", "inference.json", "multi_gpu_inference.json", "train.json", "evaluate.json", "multi_gpu_train.json",
        "volume.json", "train_volume.json", "metadata.json", "logging.conf",
    }
    assert {p.name for p in (BUNDLE / "models").iterdir()} == {"model.pt", "model_3d.pt", "int8_ranges.json"}
    metadata = json.loads((CONFIGS / "metadata.json").read_text())
    assert set(metadata["network_data_format"]["inputs"]) == {"image", "noise_std"}
    assert metadata["volume_network_data_format"]["inputs"]["image"]["spatial_shape"] == ["*", "*", "*"]


@pytest.mark.parametrize("name", ["neural_pde_v0.2", "diffusion_only", "self_supervised", "diffusivity", "baselines", "br35h"])
def test_each_reproduction_is_a_bundle_with_valid_metadata_and_a_card(name, tmp_path):
    from monai.bundle import verify_metadata

    folder = find_reproduction(name)
    schema = tmp_path / "schema.json"
    shutil.copyfile(SCHEMA, schema)
    verify_metadata(meta_file=str(folder / "configs" / "metadata.json"), filepath=str(schema))
    assert (folder / "configs" / "logging.conf").is_file()
    card = (folder / "docs" / "README.md").read_text()
    assert "docs/results/" in card  # the page it reproduces
    for path in (folder / "configs").glob("*.json"):
        if path.name != "metadata.json":
            assert "monai_nad.engines.reject_unknown_overrides()" in path.read_text() or "initialize" not in json.loads(path.read_text())


@pytest.mark.slow  # an end-to-end bundle run in a subprocess
def test_evaluate_json_scores_the_shipped_model_through_the_bundle(tmp_path):
    """common.json + train.json + evaluate.json, as users run it: the shipped weights on (a few of) the validation sets."""
    bundle("--bundle_root", str(BUNDLE), "--output_dir", str(tmp_path / "eval"), "--val_limit", "1", "--volumes", "['mni']",
           config=["common.json", "train.json", "evaluate.json"], folder=CONFIGS, cwd=tmp_path)
    summary = (tmp_path / "eval" / "val_psnr_summary.csv").read_text()
    assert "mean" in summary
    mean = float(summary.splitlines()[-1].split(",")[1])  # the mean PSNR over the slices
    assert mean > 30  # the shipped model, told the noise level, on MNI validation slices
    assert not (BUNDLE / "eval").exists()


_MULTI_GPU_CHECK = """
import sys, torch, torch.distributed as dist
from monai.bundle import ConfigParser
configs, root = sys.argv[1:-1], sys.argv[-1]
parser = ConfigParser()
parser.read_config(configs)
parser["bundle_root"], parser["output_dir"] = root, root + "/runs"
parser["volumes"], parser["patch_size"], parser["val_limit"] = ["mni"], 32, 1
handlers = parser.get("train#handlers")
assert [h["_target_"].split(".")[-1] for h in handlers[3:6]] == ["ResumeHandler", "StatsHandler", "MLflowRunExtras"]
assert [h["_target_"] for h in parser.get("validate#handlers")] == ["StatsHandler", "CheckpointSaver"]
dist.init_process_group("gloo")
assert parser.get_parsed_content("is_not_rank0") is False
trainer = parser.get_parsed_content("train#trainer")
assert isinstance(trainer.network, torch.nn.parallel.DistributedDataParallel)
assert type(trainer.data_loader.sampler).__name__ == "DistributedSampler"
assert type(parser.get_parsed_content("validate#dataloader").sampler).__name__ == "DistributedSampler"
assert parser.get_parsed_content("train#handlers#3").save is True  # rank 0 keeps the checkpoints
dist.destroy_process_group()
print("ok")
"""


@pytest.mark.slow  # an end-to-end bundle run in a subprocess
def test_multi_gpu_train_json_builds_the_distributed_trainer(tmp_path):
    """common.json + train.json + multi_gpu_train.json in a one-process gloo group (a process of its own): the network
    is wrapped in DDP, the loaders use distributed samplers and the rank-0 handlers are those of train.json (nothing is
    trained)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1", MASTER_PORT="29563", RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
    files = [str(CONFIGS / n) for n in ("common.json", "train.json", "multi_gpu_train.json")]
    result = subprocess.run([sys.executable, "-c", _MULTI_GPU_CHECK, *files, str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stdout[-3000:] + result.stderr[-3000:]


def test_verify_net_in_out_and_ckpt_export(tmp_path):
    from monai.bundle import ConfigParser, ckpt_export, verify_net_in_out

    # the shipped network maps a noisy batch and its noise level (the metadata's two inputs) to the denoised batch
    verify_net_in_out(net_id="network_def", meta_file=str(CONFIGS / "metadata.json"), config_file=[str(CONFIGS / "common.json"), str(CONFIGS / "inference.json")],
                      n=4, any=16, device="cpu", bundle_root=str(BUNDLE), extra_forward_args={"noise_std": 0.05})
    # the v0.2 diffusion network (its train.json) exports to TorchScript
    parser = ConfigParser()
    parser.read_config(str(V02_CONFIGS / "train.json"))
    net = parser.get_parsed_content("network_def")
    ckpt = tmp_path / "model.pt"
    torch.save(net.state_dict(), ckpt)
    out = tmp_path / "model.ts"
    ckpt_export(net_id="network_def", filepath=str(out), meta_file=str(V02_CONFIGS / "metadata.json"),
                config_file=str(V02_CONFIGS / "train.json"), ckpt_file=str(ckpt), bundle_root=str(V02))
    exported = torch.jit.load(str(out))
    x = torch.rand(1, 1, 32, 40)
    level = second_difference_noise_std(x)  # the level it is told: the blind estimate it was trained with
    torch.testing.assert_close(exported(x, level), net.eval()(x, level))


def test_shipped_checkpoint_is_small_and_loads_safely():
    model = BUNDLE / "models" / "model.pt"
    if not model.is_file():
        pytest.fail(f"the bundle ships no weights at {model}")
    assert model.stat().st_size < 1_000_000
    from monai_nad.data import mni_eval_arrays
    from monai_nad.bundle import bundle_network

    net = bundle_network(BUNDLE, ["inference.json"], model)  # loads with weights_only=True
    noisy, clean = mni_eval_arrays("validation", 0.1, limit=1)
    x = torch.as_tensor(noisy[:1]).float().reshape(1, 1, *noisy.shape[-2:])
    y_clean = torch.as_tensor(clean[:1]).float().reshape(x.shape)
    with torch.no_grad():
        for y in (net(x, noise_std=blind_noise_std(x)), net(x, noise_std=0.1)):  # blind and with the known noise level
            assert y.shape == x.shape and y.min() >= 0
            assert (y - y_clean).pow(2).mean() < 0.1 * (x - y_clean).pow(2).mean()


def test_reproduced_checkpoints_load_with_their_configurations():
    """The v0.2 model, its diffusion-only first stage and the self-supervised model (reproductions) load from their own
    bundles' ``models/model.pt`` with the configs they were trained with."""
    v02_train, diffusion_only = V02_CONFIGS / "train.json", find_reproduction("diffusion_only") / "configs" / "diffusion_only.json"
    for name, configs, refine in (
        ("neural_pde_v0.2", ["train.json"], True),
        ("diffusion_only", [v02_train, "diffusion_only.json"], False),
        ("self_supervised", [v02_train, diffusion_only, "self_supervised.json"], False),
    ):
        model = find_reproduction(name) / "models" / "model.pt"
        assert model.is_file() and model.stat().st_size < 1_000_000, model
        assert bundle_network(find_reproduction(name), configs).use_refine == refine


def test_misspelt_override_is_rejected_with_a_suggestion(tmp_path):
    from monai_nad.engines import check_override_keys

    config = str(V02_CONFIGS / "train.json")
    check_override_keys(["run", "--config_file", config, "--max_epochs", "2", "--network_def#steps", "4", "--tracking", "mlflow", "--experiment_name", "x"])
    with pytest.raises(ValueError, match=r"unknown config key '--max_epoch'.*train.json.*'max_epochs'"):
        check_override_keys(["run", "--config_file", config, "--max_epoch", "2"])
    with pytest.raises(ValueError, match="network_def#stepz"):
        check_override_keys(["run", "--config_file", config, "--network_def#stepz", "2"])
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", config, "--bundle_root", str(tmp_path), "--max_epoch", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("monai.bundle run: error: unknown config key '--max_epoch'")
    assert not (tmp_path / "runs" / "checkpoints").exists() or not any((tmp_path / "runs" / "checkpoints").iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["foe_d", "ka"])
def test_diffusivity_family_trains_and_evaluates_through_the_bundle(tmp_path, variant):
    """A seed-003 variant trains (Gaussian sigma 25, MSE), is recorded in MLflow and evaluates, through the bundle."""
    from mlflow.tracking import MlflowClient

    root = tmp_path / "bundle"
    shutil.copytree(V02_CONFIGS, root / "configs")
    configs = ["train.json", str(find_reproduction("diffusivity") / "configs" / "diffusivity.json")]
    network = ["--bundle_root", str(root), "--diffusivity", variant, "--network_def#steps", "2"]
    if variant == "foe_d":
        network += ["--diffusivity_kwargs", "{'kernel_size': 4, 'num_experts': 3}"]
    log = bundle(*network, *TINY, "--tracking", "mlflow", "--experiment_name", "family", config=configs, cwd=root)
    assert "val_psnr" in log
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'runs' / 'mlruns.db'}")
    run = client.search_runs([client.get_experiment_by_name("family").experiment_id])[0]
    assert run.data.params["network.diffusivity"] == variant and run.data.params["noise"] == "gaussian"
    assert "val_psnr" in run.data.metrics
    if variant == "foe_d":  # the sizes arrive in the network: 2 step sizes, 3 experts of 4x4, 20 spline bins
        assert int(run.data.params["parameters"]) == 2 + 3 * 16 + 3 + 3 * 20
    best = root / "runs" / "checkpoints" / "best_model.pt"
    bundle(*network, "--val_noise_stds", "[0.1]", "--ckpt_path", str(best), config=configs + ["evaluate.json"], cwd=root)
    assert "mean" in (root / "eval" / "val_psnr_summary.csv").read_text()


@pytest.mark.slow
def test_smoke_training_of_the_real_scan_model_ends_with_a_checkpoint_and_an_mlflow_run(tmp_path):
    """The documented smoke-training command (README): one short epoch, validated, tracked, nothing installed."""
    models_before = {p.name: p.stat().st_mtime for p in (BUNDLE / "models").iterdir()}
    command = [sys.executable, str(ROOT / "scripts" / "train_real_scan.py"), "--max-epochs", "1", "--epoch-length", "3",
               "--output-dir", str(tmp_path / "smoke"), "--no-install", "--volumes", "mni"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "smoke" / "checkpoints" / "best_model.pt").is_file()
    assert "artifact does not exist" not in result.stdout + result.stderr
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'smoke' / 'mlruns.db'}")
    runs = client.search_runs([client.get_experiment_by_name("real_scan").experiment_id])
    assert len(runs) == 1 and "val_psnr" in runs[0].data.metrics and runs[0].data.metrics["val_psnr"] > 10
    assert {p.name: p.stat().st_mtime for p in (BUNDLE / "models").iterdir()} == models_before


@pytest.mark.slow
def test_smoke_training_of_the_volume_model_fine_tunes_the_2d_model_on_3d_patches(tmp_path):
    """The volume model's recipe: 3D patches, warm start from the shipped volume model, validated on validation volumes,
    nothing installed; its checkpoint loads into the network volume.json defines (with a volumetric head too)."""
    from monai_nad.bundle import bundle_network

    models_before = {p.name: p.stat().st_mtime for p in (BUNDLE / "models").iterdir()}
    command = [sys.executable, str(ROOT / "scripts" / "train_real_scan.py"), "--network", "volume", "--volume-layers", "2",
               "--max-epochs", "1", "--epoch-length", "2", "--output-dir", str(tmp_path / "volume"), "--no-install", "--volumes", "mni"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    best = tmp_path / "volume" / "checkpoints" / "best_model.pt"
    record = json.loads((tmp_path / "volume" / "training_info.json").read_text())
    assert record["invocations"][0]["init_checkpoint"].endswith("model_3d.pt") and record["started_from"] is not None
    net = bundle_network(BUNDLE, ["volume.json"], best, {"volume_layers": 2})
    assert net.volume_head is not None and net.context_slices == 2
    assert {p.name: p.stat().st_mtime for p in (BUNDLE / "models").iterdir()} == models_before


def test_an_init_checkpoint_that_cannot_start_the_network_is_a_one_line_error(tmp_path, capsys):
    """The shipped 2D model (64 features) is wider than a volume model built with 32: given as its start it is refused
    in one line before any bundle run (it was a MONAI traceback from inside the run). A short budget keeps a regression
    from starting a long training run."""
    import runpy

    main = runpy.run_path(str(ROOT / "scripts" / "train_real_scan.py"))["main"]
    code = main(["--network", "volume", "--features", "32", "--detail-features", "16", "--init-checkpoint", str(BUNDLE / "models" / "model.pt"),
                 "--output-dir", str(tmp_path / "run"), "--volumes", "mni", "--max-epochs", "1", "--epoch-length", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cannot initialise this network" in err[0] and "model.pt" in err[0]
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_the_shipped_volume_model_loads_into_volume_json():
    from monai_nad.bundle import bundle_network

    net = bundle_network(BUNDLE, ["volume.json"], BUNDLE / "models" / "model_3d.pt")
    assert type(net).__name__ == "SliceContextPDE" and (BUNDLE / "models" / "model_3d.pt").stat().st_size < 1_000_000


def test_inference_network_is_the_one_train_json_trains():
    """common.json defines the network once: no other config of the shipped bundle redefines it, and the shipped
    weights load into what the training recipe builds."""
    from monai.bundle import ConfigParser

    for path in CONFIGS.glob("*.json"):
        if path.name != "common.json":
            assert "network_def" not in json.loads(path.read_text()), path.name
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / "common.json"), str(CONFIGS / "train.json")])
    net = parser.get_parsed_content("network_def")
    net.load_state_dict(torch.load(BUNDLE / "models" / "model.pt", weights_only=True))


@pytest.mark.parametrize("flags, message", [
    (["--volume-weights", "2"], "--volume-weights needs one positive number per volume (mni colin27)"),
    (["--volume-weights", "1", "0"], "--volume-weights needs one positive number per volume (mni colin27)"),
    (["--volume-weights", "1", "inf"], "--volume-weights needs one positive number per volume (mni colin27)"),
    (["--noise-std-jitter", "-0.1"], "--noise-std-jitter must lie in [0, 1]"),
    (["--sigma-jitter", "-0.1"], "--noise-std-jitter must lie in [0, 1]"),  # the old spelling, kept as an alias
    (["--scanner-prob", "1.5"], "--scanner-prob must lie in [0, 1]"),
    (["--partial-fourier-share", "1"], "--partial-fourier-share must lie in [0, 1)"),
    (["--white-gain", "0"], "--white-gain must be a positive number"),
    (["--noise-std-range", "0.2", "0.1"], "--noise-std-range needs 0 < LOW <= HIGH"),
    (["--noise-levels", "0.2", "0.1"], "--noise-std-range needs 0 < LOW <= HIGH"),  # the old spelling, kept as an alias
])
def test_train_real_scan_refuses_bad_sampling_settings_in_one_line(flags, message, tmp_path, capsys):
    import runpy

    main = runpy.run_path(str(ROOT / "scripts" / "train_real_scan.py"))["main"]  # in-process: argparse refuses before any work
    with pytest.raises(SystemExit) as done:
        main(["--network", "volume", *flags, "--output-dir", str(tmp_path / "run")])
    assert done.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "run").exists()


def test_real_scan_recipe_builds_each_loss_and_the_weighted_volume_data(tmp_path):
    """The volume recipe as train_real_scan.py composes it: the log-MSE loss is the per-patch mean of ln MSE (low-noise
    patches weigh by their relative error), and --volume-weights reach the training dataset."""
    from monai.bundle import ConfigParser

    from monai_nad.engines.bundle_training import RealScanOptions, real_scan_command

    options = RealScanOptions(network="volume", volume_weights=(1.0, 2.0), loss="log_mse", noise_std_jitter=0.12)
    command, _ = real_scan_command(BUNDLE, tmp_path, options)
    assert command[command.index("--volume_weights") + 1] == "[1.0, 2.0]" and command[command.index("--noise_std_jitter") + 1] == "0.12"
    assert "--noise_std_jitter" not in real_scan_command(BUNDLE, tmp_path, RealScanOptions(network="volume"))[0]  # the config's 0.03
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / n) for n in ("common.json", "train.json", "volume.json", "train_volume.json")])
    parser["volume_weights"], parser["loss_name"], parser["patch_size"], parser["noise_std_jitter"] = [1.0, 2.0], "log_mse", 32, 0.12
    assert parser.get_parsed_content("train#prepare_batch").jitter == 0.12
    loss = parser.get_parsed_content("loss")
    pred, ref = torch.zeros(2, 1, 8, 8, 4), torch.zeros(2, 1, 8, 8, 4)
    pred[0] += 0.1  # MSE 1e-2
    pred[1] += 0.001  # MSE 1e-6
    expected = 0.5 * (torch.log(torch.tensor(1e-2 + 1e-8)) + torch.log(torch.tensor(1e-6 + 1e-8)))
    torch.testing.assert_close(loss(pred, ref), expected)
    data = parser.get_parsed_content("train#dataset").data
    per_volume = {v: sum(d["volume"] == v for d in data) for v in ("mni", "colin27")}
    blocks = {v: per_volume[v] / (2.0 if v == "colin27" else 1.0) for v in per_volume}
    assert per_volume["colin27"] > per_volume["mni"] and blocks["colin27"] < blocks["mni"]  # Colin27 has fewer blocks, twice the draws
    for name, kind in (("l1", torch.nn.L1Loss), ("mse", torch.nn.MSELoss)):
        parser["loss_name"] = name
        assert isinstance(parser.get_parsed_content("loss", lazy=False), kind)


def test_ssim_weight_adds_a_term_that_sees_a_faint_floor_in_the_air(tmp_path, capsys):
    """--ssim-weight reaches the 2D recipe's log-MSE loss as W x (1 - SSIM): a faint noise floor over an empty (air)
    patch costs that term far more than its share of the MSE, and the weight is refused without --loss log_mse."""
    import runpy

    from monai.bundle import ConfigParser

    from monai_nad.engines.bundle_training import RealScanOptions, real_scan_command

    command, _ = real_scan_command(BUNDLE, tmp_path, RealScanOptions(loss="log_mse", ssim_weight=0.5))
    assert command[command.index("--ssim_loss_weight") + 1] == "0.5"
    assert "--ssim_loss_weight" not in real_scan_command(BUNDLE, tmp_path, RealScanOptions(loss="log_mse"))[0]  # the config's 0
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / n) for n in ("common.json", "train.json")])
    parser["loss_name"] = "log_mse"
    plain = parser.get_parsed_content("loss", lazy=False)
    parser["ssim_loss_weight"] = 0.5
    weighted = parser.get_parsed_content("loss", lazy=False)
    ref = torch.zeros(2, 1, 32, 32)
    ref[1, :, 8:24, 8:24] = 0.8  # one patch of air, one with tissue
    floor = ref + 0.02 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(0))
    extra = float(weighted(floor, ref) - plain(floor, ref))
    assert float(weighted(ref, ref) - plain(ref, ref)) == pytest.approx(0.0, abs=1e-4)  # a perfect estimate adds nothing
    assert 0.1 < extra <= 0.5  # 0.5 x (1 - SSIM): the floor in the air halves its SSIM and more
    main = runpy.run_path(str(ROOT / "scripts" / "train_real_scan.py"))["main"]
    with pytest.raises(SystemExit) as done:
        main(["--ssim-weight", "0.5", "--output-dir", str(tmp_path / "run")])  # the default loss is l1
    assert done.value.code == 2 and "--ssim-weight needs --loss log_mse" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("network", ["pde", "volume", "dncnn", "unet", "ka"])
def test_every_real_scan_network_merges_configs_that_exist(network, tmp_path):
    """train_real_scan.py's networks: the shipped common.json + train.json, then the network's configs (the volume
    model's in the shipped bundle, a baseline's in its reproduction)."""
    from monai_nad.engines.bundle_training import RealScanOptions, real_scan_command

    command, _ = real_scan_command(BUNDLE, tmp_path, RealScanOptions(network=network))
    files = [Path(f) for f in json.loads(command[command.index("--config_file") + 1])]
    assert files[:2] == [CONFIGS / "common.json", CONFIGS / "train.json"] and all(f.is_file() for f in files)


def test_the_shipped_bundle_stands_alone_and_the_reproductions_lie_in_one_folder():
    """``bundles/`` holds the shipped bundle and the reproductions' folder (monai_nad.engines.bundle_layout names both):
    every other bundle, DiffDenoise included, is a reproduction, found by ``find_reproduction``; the reproduction
    configs a real-scan run merges exist there."""
    from monai_nad.bundle import REPRODUCTIONS, SHIPPED_BUNDLE, reproduction_config
    from monai_nad.engines.bundle_layout import BASELINE_CNN_CONFIG, BR35H_CONFIG, DIFFUSIVITY_REAL_SCAN_CONFIG

    bundles = ROOT / "bundles"
    assert BUNDLE == bundles / SHIPPED_BUNDLE
    assert sorted(p.name for p in bundles.iterdir() if p.is_dir()) == sorted([REPRODUCTIONS, SHIPPED_BUNDLE])
    reproductions = {p.name for p in (bundles / REPRODUCTIONS).iterdir() if (p / "configs").is_dir()}
    assert {"diffdenoise", "neural_pde_v0.2", "diffusion_only", "baselines", "diffusivity"} <= reproductions
    assert all(find_reproduction(name) == bundles / REPRODUCTIONS / name for name in reproductions)
    for config in (BASELINE_CNN_CONFIG, BR35H_CONFIG, DIFFUSIVITY_REAL_SCAN_CONFIG):
        assert reproduction_config(config).is_file(), config


def test_the_shipped_card_links_resolve_in_the_repository_and_it_says_where_they_live():
    """The model card's relative links resolve from its place in a checkout; a wheel ships the card without the
    repository's docs/results and scripts, and the card says so before its first link (pyproject's data-files)."""
    import re

    card = (BUNDLE / "docs" / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", card)
    relative = [link for link in links if "://" not in link]
    assert relative, "the card links no results page"
    assert all((BUNDLE / "docs" / link).resolve().is_file() for link in relative), relative
    outside = [link for link in relative if not (BUNDLE / "docs" / link).resolve().is_relative_to(BUNDLE)]
    flat = " ".join(card.split())
    note = "are in the monai_nad source repository, not in an installed wheel"
    assert note in flat and flat.index(note) < flat.index("](" + outside[0])
    assert "share/monai_nad/bundles/neural_pde_denoising/docs/README.md" in flat  # where a wheel puts the card


def test_shipped_model_gives_back_a_nearly_clean_image():
    """Near-clean input (s = 0.005 on a synthetic phantom with fine lines): the output is not worse than the input by more than 0.1 dB."""
    from monai_nad.bundle import bundle_network
    from monai_nad.metrics import psnr

    net = bundle_network(BUNDLE, ["inference.json"], BUNDLE / "models" / "model.pt")
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 160), torch.linspace(-1, 1, 144), indexing="ij")
    head = ((yy / 0.9) ** 2 + (xx / 0.75) ** 2 < 1).float()
    clean = head * (0.35 + 0.25 * torch.sin(9 * xx) * torch.cos(7 * yy) + 0.3 * ((yy * 40).round() % 7 == 0).float())
    clean = (clean.clamp(0, 1))[None, None]
    g = torch.Generator().manual_seed(0)
    s = 0.005
    noisy = torch.sqrt((clean + s * torch.randn(clean.shape, generator=g)) ** 2 + (s * torch.randn(clean.shape, generator=g)) ** 2)
    with torch.no_grad():
        out = net(noisy, noise_std=blind_noise_std(noisy))
    assert float(psnr(out, clean)) >= float(psnr(noisy, clean)) - 0.1


def test_bad_checkpoint_ends_a_bundle_run_with_our_message(tmp_path):
    corrupt = tmp_path / "model.pt"
    corrupt.write_bytes(b"not a checkpoint" * 10)
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", f"['{CONFIGS / 'common.json'}', '{CONFIGS / 'inference.json'}']",
               "--bundle_root", str(BUNDLE), "--output_dir", str(tmp_path / "out"), "--ckpt_path", str(corrupt)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("monai.bundle run: error: cannot load checkpoint") and str(corrupt) in last


@pytest.mark.parametrize("flag, value", [("--context-slices", "0"), pytest.param("--slice-axis-steps", "-1", marks=pytest.mark.slow),
                                         pytest.param("--volume-layers", "-2", marks=pytest.mark.slow)])  # subprocesses: one in the default tier
def test_train_real_scan_refuses_impossible_volume_settings_in_one_line(flag, value, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_real_scan.py"), "--network", "volume", flag, value,
                           "--output-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{flag} must be at least" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_scanner_noise_training_pairs_reach_the_recipe(tmp_path):
    """--scanner-prob reaches the training data: pairs through a simulated acquisition, whose label is the reference
    through the same noise-free pipeline (blurred by the k-space window, shaded by the coils), not the clean patch,
    whose noise std is a map and whose coil count is a whole number; the white pairs stay."""
    from monai.bundle import ConfigParser

    from monai_nad.data import realistic_transforms
    from monai_nad.engines.bundle_training import RealScanOptions, real_scan_command

    command, _ = real_scan_command(BUNDLE, tmp_path, RealScanOptions(scanner_prob=0.5))
    assert command[command.index("--scanner_prob") + 1] == "0.5"
    command, _ = real_scan_command(BUNDLE, tmp_path, RealScanOptions(scanner_prob=0.5, white_gain=0.7, noise_std_range=(0.01, 0.3)))
    assert command[command.index("--white_gain") + 1] == "0.7" and json.loads(command[command.index("--noise_std_range") + 1]) == [0.01, 0.3]
    command, _ = real_scan_command(BUNDLE, tmp_path, RealScanOptions(scanner_prob=0.5, partial_fourier_share=0.4))
    assert command[command.index("--partial_fourier_share") + 1] == "0.4"
    command, _ = real_scan_command(BUNDLE, tmp_path, RealScanOptions(scanner_prob=0.5, simulation_margin=32))
    assert command[command.index("--simulation_margin") + 1] == "32" and "--simulation_margin" not in real_scan_command(BUNDLE, tmp_path, RealScanOptions())[0]
    command, _ = real_scan_command(BUNDLE, tmp_path, RealScanOptions(snapshot_interval=2))
    assert command[command.index("--snapshot_interval") + 1] == "2" and "--snapshot_interval" not in real_scan_command(BUNDLE, tmp_path, RealScanOptions())[0]
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / n) for n in ("common.json", "train.json")])
    parser["scanner_prob"] = 0.5
    assert parser.get_parsed_content("train#dataset").transform is not None
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / n) for n in ("common.json", "train.json")])
    parser["scanner_prob"], parser["partial_fourier_share"] = 0.5, 1.0
    with pytest.raises(RuntimeError) as refused:  # the config's value reaches the mix (MONAI wraps the error)
        parser.get_parsed_content("train#dataset")
    assert "partial_fourier_share must lie in [0, 1), got 1.0" in str(refused.value.__cause__)
    with pytest.raises(ValueError, match="scanner_prob"):
        realistic_transforms(scanner_prob=1.5)
    rng = np.random.default_rng(0)
    clean = np.zeros((1, 96, 96), np.float32)
    clean[:, 20:76, 16:80] = 0.6
    clean[:, 40:56, 30:60] = 1.0
    items = []
    for seed in range(6):
        chain = realistic_transforms(48, scanner_prob=1.0).transforms[-4:]  # the noise pair, selection, coils, types
        from monai.transforms import Compose

        pairs = Compose(chain)
        pairs.set_random_state(seed)
        items.append(pairs({"image": clean[:, 24:72, 24:72].copy() + 0.0 * rng.random()}))
    for item in items:
        assert item["image"].shape == item["label"].shape == item["noise_std"].shape == (1, 48, 48)
        assert isinstance(item["coils"], int) and item["coils"] >= 1
        assert float(item["noise_std"].min()) > 0
    # the label is the acquisition's reference, not the clean patch (window blur or coil shading)
    assert any(float((item["label"] - torch.as_tensor(clean[:, 24:72, 24:72])).abs().max()) > 1e-3 for item in items)


def test_the_shipped_int8_calibration_fits_the_shipped_weights():
    """Installing new weights without calibrating again (scripts/calibrate_int8.py) would leave --precision int8 refusing
    to run: the bundle's ranges must carry the fingerprint of its own 2D and volume models."""
    from monai_nad.experiments.volume_benchmark import shipped_models
    from monai_nad.networks import load_int8_ranges

    net2d, net3d = shipped_models()
    path = default_bundle() / "models" / "int8_ranges.json"
    assert load_int8_ranges(path, net2d, "2d") and load_int8_ranges(path, net3d, "3d")
