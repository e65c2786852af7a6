"""``table``: rows aligned in columns for a terminal, counting Chinese characters as two columns."""

from __future__ import annotations

import unicodedata


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(head: list[str], rows: list[list[str]], right: set[int] | frozenset[int] = frozenset()) -> str:
    """``head`` and ``rows`` in aligned columns (the columns in ``right`` aligned right)."""
    cols = [max(width(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(r: list[str]) -> str:
        cells = []
        for i, (cell, w) in enumerate(zip(r, cols, strict=True)):
            pad = " " * (w - width(cell))
            cells.append(pad + cell if i in right else cell + pad)
        return "  ".join(cells).rstrip()

    return "\n".join([line(head), *(line(r) for r in rows)])
