"""Committed pages and records name paths relative to the repository, never a machine's absolute path."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MACHINE_PATH = re.compile(r"(?<![\w.])(/work|/home|/Users|/root|/mnt|/private)/[\w.-]+")


def test_pages_and_records_hold_no_machine_path():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "docs").rglob("*.json"))]
    files += sorted((ROOT / "bundles").glob("*/docs/*.json")) + sorted((ROOT / "bundles").glob("*/docs/*.md"))
    found = {str(f.relative_to(ROOT)): MACHINE_PATH.search(f.read_text()).group(0) for f in files if MACHINE_PATH.search(f.read_text())}
    assert not found, f"absolute machine paths in committed pages: {found}"
    assert len(files) > 5
