"""Plain text: the aligned tables the ``summary()`` methods print, one-line terminal messages and chart labels.

Names, labels and values come from user data (arm and segment names, column names) and are
shown as they are, except where a display would read them as something else:

* :func:`one_line` - a message for stderr: one line, control characters (e.g. a terminal escape
  sequence ``\x1b[2J`` in a column name) shown escaped, never sent to the terminal;
* :func:`chart_label` - text for a matplotlib label, with ``$`` escaped so it is never read as
  mathtext (an arm called ``off$^$er`` would otherwise abort the chart).
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["chart_label", "one_line", "text_table"]


def one_line(message: object) -> str:
    r"""``message`` as one line of printable text: runs of whitespace (line breaks, tabs) become one
    space, and any other non-printable character its escaped form (``\x1b``, ``\x07``, ``\u202e``).

    >>> print(one_line("column 'rev\x1b[2J' is\nmissing"))
    column 'rev\x1b[2J' is missing
    """
    text = " ".join(str(message).split())
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def chart_label(text: object) -> str:
    r"""``text`` for a matplotlib label (tick, legend, title): ``$`` escaped as ``\$`` so matplotlib
    shows it literally instead of parsing ``$...$`` as mathtext.

    >>> print(chart_label("off$^$er"))
    off\$^\$er
    """
    return str(text).replace("$", r"\$")


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
