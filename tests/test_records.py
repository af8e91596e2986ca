"""The benchmarks' JSON records (monai_nad.experiments.records): read, merge an --update run, tag rows with their run."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from monai_nad.experiments import diffusion_benchmark as db
from monai_nad.experiments.records import (
    RecordError,
    add_cell_arguments,
    add_record_arguments,
    check_limit,
    earlier_record,
    invocation,
    merge_update,
    read_record,
    row_run,
    same_run,
    selected_cells,
    write_record,
)

ROOT = Path(__file__).resolve().parents[1]


def _row(cell: str, method: str, ms: float = 100.0) -> dict:
    return {"cell": cell, "method": method, "ms": ms}


def test_a_run_of_its_own_tags_its_rows_with_run_0():
    settings = {"limit": None, "methods": ["a", "b"], "notes": ["first"]}
    record = merge_update(None, [_row("c1", "a"), _row("c1", "b")], "python scripts/x.py", settings)
    assert record == {"command": "python scripts/x.py", "settings": settings,
                      "rows": [_row("c1", "a") | {"run": 0}, _row("c1", "b") | {"run": 0}]}


def test_an_update_replaces_its_rows_chains_the_commands_and_tags_the_new_rows():
    earlier = {"command": "first, then second", "settings": {"limit": None, "methods": ["a", "b", "old"], "notes": ["n1"]},
               "rows": [_row("c1", "a"), _row("c1", "b"), _row("c2", "a"), _row("c1", "old")]}  # untagged: written before the tag
    update = merge_update(earlier, [_row("c1", "a", 5.0)], "third --update", {"limit": 1, "methods": ["a"], "notes": ["n2"]}, known=("a", "b"))
    assert update["command"] == "first, then second, then third --update"
    assert update["settings"] == {"limit": None, "methods": ["a", "b", "old"], "notes": ["n1", "n2"], "updated_methods": ["a"]}
    assert update["rows"] == [_row("c1", "b"), _row("c2", "a"), _row("c1", "a", 5.0) | {"run": 2}]  # "old" is no longer a method
    assert [row_run(r) for r in update["rows"]] == [0, 0, 2]
    kept_all = merge_update(earlier, [], "third", {"methods": []})
    assert [r["method"] for r in kept_all["rows"]] == ["a", "b", "a", "old"]


def test_rows_compare_times_only_within_one_run():
    assert same_run(_row("c", "a"), _row("c", "b"))  # an untagged record: as its pages always compared them
    assert same_run(_row("c", "a") | {"run": 1}, _row("c", "b") | {"run": 1})
    assert not same_run(_row("c", "a") | {"run": 1}, _row("c", "b"))
    assert not same_run(_row("c", "a") | {"run": 1}, _row("c", "b") | {"run": 2})


def test_read_record_names_the_flag_and_the_file(tmp_path):
    store = tmp_path / "bench.json"
    with pytest.raises(RecordError, match=r"--update needs the record of an earlier run in .*bench.json \(FileNotFoundError"):
        read_record(store, "--update")
    write_record(store, {"command": "c", "rows": []})
    assert read_record(store, keys=("command", "rows")) == {"command": "c", "rows": []}
    with pytest.raises(RecordError, match=r"--render-only needs .*KeyError\('settings'\)"):
        read_record(store)
    assert earlier_record(tmp_path / "absent.json", argparse.Namespace(render_only=False, update=False)) is None  # a run of its own
    with pytest.raises(RecordError, match="--update needs"):
        earlier_record(tmp_path / "absent.json", argparse.Namespace(render_only=False, update=True))
    write_record(tmp_path / "new" / "deeper.json", {"command": "c"}, indent=2)
    assert (tmp_path / "new" / "deeper.json").read_text() == json.dumps({"command": "c"}, indent=2) + "\n"


def test_the_flags_and_the_command_line():
    parser = argparse.ArgumentParser()
    add_record_arguments(parser, "the other rows")
    args = parser.parse_args(["--update", "--note", "a", "--note", "b"])
    assert args.update and not args.render_only and args.note == ["a", "b"]
    assert "the other rows stay" in parser.format_help().replace("\n", " ").replace("  ", " ")
    assert invocation("scripts/x.py", ["--cells", "sos4_*", "--note", "it's"]) == "python scripts/x.py --cells 'sos4_*' --note 'it'\"'\"'s'"


def test_the_cell_selection_flags_in_one_place(tmp_path, capsys):
    """--limit and --cells of the benchmark scripts: a limit below 1 and a pattern that matches no cell are usage errors."""
    parser = argparse.ArgumentParser(prog="bench")
    add_cell_arguments(parser, "slices per split", "'sos4_*'")
    args = parser.parse_args(["--limit", "2", "--cells", "a_*"])
    assert args.limit == 2 and args.cells == ["a_*"] and "e.g. 'sos4_*'" in parser.format_help()
    check_limit(parser, None)
    assert selected_cells(parser, 2, lambda: ["a_1"]) == ["a_1"]
    for limit, select, message in [(0, lambda: [], "--limit must be at least 1"),
                                   (None, lambda: (_ for _ in ()).throw(ValueError("no cell matches 'b_*'")), "no cell matches 'b_*'")]:
        with pytest.raises(SystemExit) as exited:
            selected_cells(parser, limit, select)
        assert exited.value.code == 2 and f"bench: error: {message}" in capsys.readouterr().err
    write_record(tmp_path / "r.json", {"path": tmp_path}, default=str)
    assert read_record(tmp_path / "r.json", keys=("path",)) == {"path": str(tmp_path)}


def _diffusion_rows(series_run: int | None) -> list[dict]:
    scores = {"psnr_b0": 30.0, "psnr_b1000": 28.0, "psnr_b2000": 26.0, "fa_mae": 0.1, "md_mae": 0.1, "input_psnr_b0": 20.0,
              "input_psnr_b1000": 20.0, "input_psnr_b2000": 20.0, "input_fa_mae": 0.3, "input_md_mae": 0.3}
    rows = [{"cell": "rician_snr10", "method": m, **scores, "ms": 1000.0} for m in ("dipy_mppca", "dipy_patch2self", "dipy_localpca")]
    series = {"cell": "rician_snr10", "method": "neural_pde_series", **scores, "ms": 250.0}
    return rows + [series if series_run is None else series | {"run": series_run}]


def test_the_diffusion_page_compares_times_only_within_one_run():
    untagged = db.render_diffusion_page(_diffusion_rows(None), "cmd")  # a record written before the tag: as before
    assert "| 0.25 |" in untagged and "not compared" not in untagged
    assert db.summarise_diffusion(_diffusion_rows(None), "neural_pde_series")["time_vs_mppca"] == {"rician_snr10": 0.25}
    later = db.render_diffusion_page(_diffusion_rows(1), "cmd, then cmd --update")  # the series timed by a later command
    assert "| 0.25 |" not in later and later.count("which are not compared") == 2
    summary = db.summarise_diffusion(_diffusion_rows(1), "neural_pde_series")
    assert summary["time_vs_mppca"] == {} and summary["other_run"] == ["rician_snr10"]


@pytest.mark.parametrize("name", ["diffusion", "scanner_noise"])
def test_render_only_gives_the_committed_page_back(name, tmp_path):
    """Each committed record renders its committed page again, through the script's --render-only."""
    import importlib.util

    results = ROOT / "docs" / "results"
    for path in results.glob(f"{name}*"):
        if path.suffix in (".json", ".png") and (path.stem == name or path.stem == "diffusion_real"):
            shutil.copy(path, tmp_path)
    script = ROOT / "scripts" / f"benchmark_{name}.py"
    spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--render-only", "--output-dir", str(tmp_path)]) == 0
    assert (tmp_path / f"{name}.md").read_text() == (results / f"{name}.md").read_text()
