"""The JSON records behind the benchmark pages: a run's command, its settings and its rows.

A benchmark script writes its record beside its page and can render the page again from it (``--render-only``), or
re-run some methods and merge their rows into it (``--update``): the record's command becomes the chain of the
commands (``"<first>, then <second>"``), and every row made since this module exists carries ``"run"``, the place in
that chain of the command that made it (:func:`row_run`), so that a page compares times only between rows of one run
(:func:`same_run`). Records written before the tag stay readable: an untagged row counts as run 0.

The scripts that run a benchmark on some of its cells share their selection flags too: ``--limit`` and ``--cells``
(:func:`add_cell_arguments`, :func:`check_limit`, :func:`selected_cells`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "RecordError",
    "add_cell_arguments",
    "add_record_arguments",
    "check_limit",
    "earlier_record",
    "invocation",
    "merge_rows",
    "merge_update",
    "read_record",
    "row_run",
    "same_run",
    "selected_cells",
    "write_record",
]

#: what joins the commands of a record's chain
THEN = ", then "


class RecordError(ValueError):
    """No readable record where one is needed; the message says which flag needed it and where."""


def add_record_arguments(parser: argparse.ArgumentParser, update_keeps: str) -> None:
    """The flags of a script that keeps a record: ``--note`` (repeatable), ``--render-only`` and ``--update``.

    Args:
        parser: the script's parser.
        update_keeps: what an ``--update`` leaves as it was, for its help (e.g. ``"the other methods' rows"``).
    """
    parser.add_argument("--note", action="append", default=[], help="a line for the page's notes (repeatable)")
    parser.add_argument("--render-only", action="store_true", help="re-render the page from the JSON of an earlier run")
    parser.add_argument("--update", action="store_true",
                        help=f"re-run only --methods and replace their rows in the record of an earlier run ({update_keeps} stay; "
                             "the page names both commands)")


def add_cell_arguments(parser: argparse.ArgumentParser, limit_help: str, cells_example: str) -> None:
    """The flags of a script that runs a benchmark on some of its cells: ``--limit`` and ``--cells`` (patterns).

    Args:
        parser: the script's parser.
        limit_help: what ``--limit`` counts, for its help (e.g. ``"slices per split (test and validation): a quick run"``).
        cells_example: a pattern for the help of ``--cells`` (e.g. ``"'sos4_*'"``).
    """
    parser.add_argument("--limit", type=int, default=None, help=limit_help)
    parser.add_argument("--cells", nargs="+", default=None, metavar="PATTERN", help=f"cell names or shell patterns, e.g. {cells_example}")


def check_limit(parser: argparse.ArgumentParser, limit: int | None) -> None:
    """Exit through ``parser.error`` (status 2, ``--limit must be at least 1``) unless ``limit`` is None or at least 1."""
    if limit is not None and limit < 1:
        parser.error("--limit must be at least 1")


def selected_cells(parser: argparse.ArgumentParser, limit: int | None, select: Callable[[], list]) -> list:
    """The cells a run takes: :func:`check_limit`, then ``select()`` (e.g. the benchmark's ``select_cells`` told
    ``--cells``); a ``ValueError`` of ``select`` (a pattern that matches no cell) exits through ``parser.error`` with its
    message."""
    check_limit(parser, limit)
    try:
        return select()
    except ValueError as err:
        parser.error(str(err))


def invocation(script: str, argv: Sequence[str] | None = None) -> str:
    """The command line that ran ``script`` (e.g. ``"scripts/benchmark_diffusion.py"``), as a record names it:
    ``python <script> <arguments>``, quoted for a shell; ``argv`` as given, or this process's arguments."""
    return shlex.join(["python", script, *(sys.argv[1:] if argv is None else argv)])


def read_record(store: str | Path, flag: str = "--render-only", keys: Sequence[str] = ("command", "settings", "rows")) -> dict[str, Any]:
    """The record in ``store``, which must hold ``keys``.

    Args:
        store: the record's JSON file.
        flag: the flag that needs it, for the message (``--render-only``, ``--update``).
        keys: the entries it must have.

    Raises:
        RecordError: ``"<flag> needs the record of an earlier run in <store> (<why>)"``.
    """
    try:
        record = json.loads(Path(store).read_text())
        for key in keys:
            record[key]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RecordError(f"{flag} needs the record of an earlier run in {store} ({err!r})") from err
    return record


def earlier_record(store: str | Path, args: argparse.Namespace) -> dict[str, Any] | None:
    """The record that a run with the flags of :func:`add_record_arguments` starts from: with ``--render-only`` or
    ``--update`` the one in ``store`` (:func:`read_record`), else None (a run of its own).

    Raises:
        RecordError: ``store`` holds no readable record where one is needed.
    """
    if args.render_only or args.update:
        return read_record(store, "--render-only" if args.render_only else "--update")
    return None


def write_record(store: str | Path, record: dict[str, Any], indent: int = 1, default: Callable[[Any], Any] | None = None) -> None:
    """Write ``record`` to ``store`` as JSON (its folder made where missing); ``default`` as :func:`json.dumps` takes it
    (e.g. ``str`` for values JSON lacks)."""
    store = Path(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(record, indent=indent, default=default) + "\n")


def row_run(row: dict[str, Any]) -> int:
    """Which command of its record's chain made ``row`` (0, the first, for a row written before rows were tagged)."""
    return int(row.get("run", 0))


def same_run(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether one command made both rows, so that their times compare (rows of a record written before rows were
    tagged count as one run, as their pages always compared them)."""
    return row_run(a) == row_run(b)


def merge_rows(earlier: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], known: Collection[str] | None = None) -> list[dict[str, Any]]:
    """``earlier``'s rows, less those that ``rows`` replace (same cell and method) and, given ``known``, those of methods
    not in it (renamed or dropped since), then ``rows``."""
    replaced = {(r["cell"], r["method"]) for r in rows}
    return [r for r in earlier if (r["cell"], r["method"]) not in replaced and (known is None or r["method"] in known)] + list(rows)


def merge_update(earlier: dict[str, Any] | None, rows: Sequence[dict[str, Any]], command: str, settings: dict[str, Any],
                 known: Collection[str] | None = None) -> dict[str, Any]:
    """The record after a run: ``rows`` tagged with their run, alone (``earlier`` None) or merged into ``earlier``
    (an ``--update``).

    Args:
        earlier: the record the run updates (:func:`read_record`), or None for a run of its own.
        rows: the run's rows (``cell``, ``method``, ...).
        command: the run's command line (:func:`invocation`).
        settings: the run's settings; its ``methods`` and ``notes`` (lines for the page) are the ones an update adds.
        known: the methods the benchmark has now: with ``earlier``, rows of other methods are dropped.

    Returns:
        ``{"command", "settings", "rows"}``: for an update, the command chain ``"<earlier>, then <command>"``, the
        earlier settings with ``updated_methods`` and the notes of both, and :func:`merge_rows`.
    """
    run = 0 if earlier is None else earlier["command"].count(THEN) + 1
    rows = [{**r, "run": run} for r in rows]
    if earlier is None:
        return {"command": command, "settings": settings, "rows": rows}
    settings = {**earlier["settings"], "updated_methods": settings["methods"], "notes": earlier["settings"].get("notes", []) + settings.get("notes", [])}
    return {"command": f"{earlier['command']}{THEN}{command}", "settings": settings, "rows": merge_rows(earlier["rows"], rows, known)}
