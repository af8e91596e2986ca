"""Keep generated tables in a model card up to date: each lives between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["replace_card_section"]


def replace_card_section(card: str | Path, name: str, text: str) -> bool:
    """Replace the section ``name`` of the Markdown file ``card`` with ``text``.

    Args:
        card: the model card.
        name: the section's marker name, e.g. ``"benchmark"``.
        text: the new content (Markdown).

    Returns:
        True if the card had both markers and was rewritten, False otherwise (the card is left untouched).
    """
    card = Path(card)
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    content = card.read_text() if card.is_file() else ""
    if start not in content or end not in content:
        return False
    head, rest = content.split(start, 1)
    tail = rest.split(end, 1)[1]
    card.write_text(f"{head}{start}\n{text.rstrip()}\n{end}{tail}")
    return True
