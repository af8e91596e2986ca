"""The research command of ``monai-nad``: ``monai-nad compare``, tables and figures of the experiments.

The command line (:mod:`monai_nad.cli`) names this module in :data:`monai_nad.cli.RESEARCH_COMMANDS` and loads it
only when ``compare`` runs, so the denoising command line never imports the experiments.
"""

from __future__ import annotations

from monai_nad.experiments.compare import PAGES, compare_suite, render_saved_page

__all__ = ["compare"]


def compare(suite: str, store: str, output_dir: str, command: str) -> int:
    """``monai-nad compare``: render ``suite``'s page into ``output_dir`` and print where it went.

    Args:
        suite: a suite read back from MLflow (:data:`~monai_nad.experiments.SUITES`), or a page rendered again from the
            record its benchmark wrote (:data:`~monai_nad.experiments.compare.PAGES`).
        store: the suites' MLflow SQLite store.
        output_dir: where ``<suite>.md`` and its figures go.
        command: the command line, recorded on the page.

    Returns:
        the exit status, 0.
    """
    if suite in PAGES:
        print(f"wrote {render_saved_page(suite, output_dir)}")
        return 0
    print(f"wrote {compare_suite(suite, store, output_dir, command)}")
    return 0
