"""Score a noise-conditioned Neural PDE checkpoint beside BM3D+rc on the 18 cells of the real-anatomy benchmark (+ near-clean).

The network runs blind (its own noise estimate) and with the true noise level; BM3D gets the true level and a Rician
correction strength tuned per cell on validation. One thread, same run, same noisy slices, same metric code.

Usage:
    python scripts/benchmark_real_anatomy.py            # the shipped model (inference.json + models/model.pt)
    python scripts/benchmark_real_anatomy.py --checkpoint CKPT --quick      # 2 slices per cell, 4 cells
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch

from monai_nad.bundle import bundle_network, default_bundle, find_reproduction
from monai_nad.data.real_anatomy import NEAR_CLEAN_LEVEL, REAL_ANATOMY_LEVELS, REAL_ANATOMY_SHIFTS, REAL_ANATOMY_VOLUMES
from monai_nad.experiments.evaluation import benchmark_cells, network_slices
from monai_nad.experiments.model_card import replace_card_section
from monai_nad.experiments.quality_bar import render_markdown, summarise_bar
from monai_nad.experiments.records import RecordError, invocation, read_record, write_record

BUNDLE = default_bundle()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=BUNDLE / "models" / "model.pt")
    parser.add_argument("--config", default="inference.json", help="the bundle config whose network_def the checkpoint fits")
    parser.add_argument("--out", type=Path, default=Path("docs/results/real_scan_benchmark.json"))
    parser.add_argument("--quick", action="store_true", help="2 slices per cell and 4 cells: checks the pipeline")
    parser.add_argument("--no-bm3d", action="store_true")
    parser.add_argument("--no-v02", action="store_true", help="skip the v0.2 model (bundles/reproductions/neural_pde_v0.2)")
    parser.add_argument("--render-only", action="store_true", help="re-render the table, card and metadata from the rows in --out")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        net = bundle_network(BUNDLE, [args.config], args.checkpoint)
    except (FileNotFoundError, ValueError) as err:
        print(f"benchmark_real_anatomy: error: {err}", file=sys.stderr)
        return 2
    cells = [(v, s, lv) for v in REAL_ANATOMY_VOLUMES for s in REAL_ANATOMY_SHIFTS for lv in REAL_ANATOMY_LEVELS]
    cells += [(v, None, NEAR_CLEAN_LEVEL) for v in REAL_ANATOMY_VOLUMES]
    if args.quick:
        cells = [cells[0], cells[-3], cells[-2], cells[-1]]
    if args.render_only:
        try:
            recorded = read_record(args.out, keys=("rows", "command"))
        except RecordError as err:
            print(f"benchmark_real_anatomy: error: {err}", file=sys.stderr)
            return 2
        rows, command = recorded["rows"], recorded["command"]
    else:  # the networks run only when the rows are made
        methods = {
            "ours_blind": lambda noisy, noise_std: network_slices(net, noisy),
            "ours_true_sigma": lambda noisy, noise_std: network_slices(net, noisy, noise_std=noise_std),
        }
        if getattr(net, "self_ensemble", 1) > 1:  # the shipped setting averages orientations; also score one pass
            fast = copy.deepcopy(net)
            fast.self_ensemble = 1
            if hasattr(fast, "correlated_self_ensemble"):  # one pass whatever the noise
                fast.correlated_self_ensemble = None
            methods["ours_blind_one_pass"] = lambda noisy, noise_std: network_slices(fast, noisy)
        if not args.no_v02:
            v02 = bundle_network(find_reproduction("neural_pde_v0.2"), ["train.json"])
            methods["v0.2"] = lambda noisy, noise_std: network_slices(v02, noisy)
        rows = benchmark_cells(cells, methods, bm3d=not args.no_bm3d, limit=2 if args.quick else None)
        command = invocation("scripts/benchmark_real_anatomy.py", argv)
    summary = summarise_bar(rows, net)
    summary["checkpoint_bytes"] = args.checkpoint.stat().st_size
    write_record(args.out, {"command": command, "rows": rows, "summary": summary}, indent=2)
    table = args.out.with_suffix(".md")
    table.write_text(render_markdown(rows, summary, command))
    if not args.quick and args.checkpoint.resolve() == (BUNDLE / "models" / "model.pt").resolve():
        replace_card_section(BUNDLE / "docs" / "README.md", "real-anatomy", table.read_text())
        metadata_path = BUNDLE / "configs" / "metadata.json"
        metadata = json.loads(metadata_path.read_text())
        metadata["eval_metrics"] = {f"{r['cell']}_psnr": round(r["psnr"], 2) for r in rows if r["method"] == "ours_blind"}
        metadata_path.write_text(json.dumps(metadata, indent=4) + "\n")
    print(table.read_text())
    print(f"wrote {args.out} and {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
