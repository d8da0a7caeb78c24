"""Plain text for terminals: the aligned tables the ``summary()`` methods print."""

from __future__ import annotations

from typing import Sequence

__all__ = ["text_table"]


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of text cells as an aligned table: the first row is the header, underlined with dashes;
    the first column is left-aligned and the others right-aligned (numbers line up).

    >>> print(text_table([("arm", "units"), ("control", "1,013"), ("offer", "8,987")]))
    arm      units
    -------  -----
    control  1,013
    offer    8,987
    """
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for j, r in enumerate(rows):
        cells = [r[i].ljust(widths[i]) if i == 0 else r[i].rjust(widths[i]) for i in range(len(r))]
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
