"""The machine-readable report of a study run (``--report``) and the check that shard reports cover a study once.

A run of ``monai-nad denoise ... --report run.json`` writes one entry per input (input, output, status, error, model,
noise, coils, seconds) and says which study it belongs to: ``"study": {"inputs": n, "sha256": ...}`` (the number of
inputs of the whole study, before any ``--shard``, and a digest of their sorted names) and ``"shard": "K/N"`` (or
null). :func:`merge_reports` combines the reports of the N jobs of a job array into the report of one run and fails
in one line when an input appears twice, a shard is missing or given twice, the reports come from different studies,
or an input of the study is in none of them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["study_digest", "merge_reports", "write_report_file"]


def study_digest(names: Iterable[str]) -> str:
    """The SHA-256 of the sorted, newline-joined input names of a study: equal for every shard of the same study."""
    return hashlib.sha256("\n".join(sorted(names)).encode("utf-8", "surrogateescape")).hexdigest()


def write_report_file(path: str | Path, body: dict[str, Any]) -> Path:
    """Write a report as JSON, atomically (a reader never sees half a report); its folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(body, indent=1))
    os.replace(partial, path)
    return path


def _read(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such report") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable JSON report ({err})") from None
    if not isinstance(body, dict) or not isinstance(body.get("files"), list) or not all(
        isinstance(row, dict) and isinstance(row.get("input"), str) for row in body["files"]
    ):
        raise ValueError(f"{path}: not a monai-nad report (no list of files with their inputs)")
    return body


def _shard(path: Path, body: dict[str, Any]) -> tuple[int, int] | None:
    text = body.get("shard")
    if text is None:
        return None
    try:
        k, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ValueError(f"{path}: shard {text!r} is not K/N") from None
    return k, n


def merge_reports(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Combine the ``--report`` files of the shards of one study into the report of a single run, checking that every
    input of the study appears exactly once.

    Args:
        paths: the report files, e.g. of ``--shard 1/N`` ... ``--shard N/N`` (or of runs without ``--shard`` over
            disjoint inputs).

    Returns:
        the combined report: ``files`` (every entry, sorted by input), ``study``, ``shard`` (null), ``merged`` (the
        files combined), ``interrupted`` (any of them), ``seconds`` (their sum) and ``monai_nad_version``.

    Raises:
        FileNotFoundError: a report does not exist.
        ValueError: one line: a report that cannot be read; an input in two reports (or twice in one); reports of
            different studies or shardings; a shard missing or given twice; inputs of the study in no report.
    """
    if not paths:
        raise ValueError("no report to merge")
    paths = [Path(p) for p in paths]
    bodies = [_read(path) for path in paths]
    seen: dict[str, Path] = {}
    files: list[dict[str, Any]] = []
    for path, body in zip(paths, bodies):
        for row in body["files"]:
            name = row["input"]
            if name in seen:
                where = f"twice in {path}" if seen[name] == path else f"in {seen[name]} and in {path}"
                raise ValueError(f"input {name} appears {where}: the reports overlap")
            seen[name] = path
            files.append(row)
    studies = {(b.get("study") or {}).get("sha256") for b in bodies}
    shards = [_shard(path, body) for path, body in zip(paths, bodies)]
    if any(s is not None for s in shards):
        counts = {s[1] for s in shards if s is not None}
        if None in shards or len(counts) > 1:
            described = ", ".join(f"{p}: {'%d/%d' % s if s else 'no shard'}" for p, s in zip(paths, shards))
            raise ValueError(f"the reports are of different shardings ({described})")
        n = counts.pop()
        given: dict[int, Path] = {}
        for path, (k, _) in zip(paths, shards):
            if k in given:
                raise ValueError(f"shard {k}/{n} is given twice: {given[k]} and {path}")
            given[k] = path
        missing = [f"{k}/{n}" for k in range(1, n + 1) if k not in given]
        if missing:
            raise ValueError(f"shard {', '.join(missing)} missing: no report for {'it' if len(missing) == 1 else 'them'}")
    study = bodies[0].get("study")
    if None not in studies:
        if len(studies) > 1:
            raise ValueError(f"the reports are of different studies (their study digests differ): {', '.join(map(str, paths))}")
        expected = int(study.get("inputs", -1))
        if len(files) != expected or study_digest(seen) != study["sha256"]:
            raise ValueError(
                f"the reports hold {len(files)} input(s) where the study has {expected}: "
                f"{'inputs are missing' if len(files) <= expected else 'they are not the inputs of the study'}"
            )
    return {
        "monai_nad_version": bodies[0].get("monai_nad_version"),
        "interrupted": any(bool(b.get("interrupted")) for b in bodies),
        "seconds": round(sum(float(b.get("seconds") or 0.0) for b in bodies), 3),
        "shard": None,
        "study": study if None not in studies else {"inputs": len(files), "sha256": study_digest(seen)},
        "merged": [str(p) for p in paths],
        "files": sorted(files, key=lambda row: row["input"]),
    }
