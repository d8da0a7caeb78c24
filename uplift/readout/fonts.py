"""Fonts for the charts' text in the page's language, found offline on this machine at run time.

English charts use DejaVu Sans (matplotlib's own). A Chinese chart needs a font with CJK glyphs:
:func:`chart_fonts` looks for one of the families in :data:`CJK_FAMILIES` among matplotlib's fonts
and, since matplotlib's font cache predates fonts installed after it was built, among the system's
font files (fontconfig's list, :func:`matplotlib.font_manager.findSystemFonts`). The chosen font
must have a glyph for every character of the language's catalogue, so no chart shows a box in
place of a character; when none is found, a one-line error says what to install.
"""

from __future__ import annotations

import functools
from pathlib import Path

from uplift.errors import UserError
from uplift.text import SOURCE_LANGUAGE, messages

__all__ = ["CJK_FAMILIES", "chart_fonts", "check_fonts", "page_fonts"]

CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
    "Noto Sans CJK JP", "Source Han Sans CN", "Droid Sans Fallback", "AR PL UMing CN",
)
"""Fonts with Simplified Chinese glyphs, best first (Debian: fonts-noto-cjk, fonts-wqy-microhei,
fonts-wqy-zenhei, fonts-droid-fallback, fonts-arphic-uming)."""
_FILE_HINTS = ("notosanscjk", "notoserifcjk", "notosanssc", "sourcehansans", "wqy", "droidsansfallback", "uming")
_INSTALL = {"zh": "no Chinese font found for the charts; install one, e.g. `apt-get install fonts-noto-cjk` "
                  "(or fonts-wqy-microhei) on Debian/Ubuntu, then run again"}
_BASE = "DejaVu Sans"


def _needed(language: str) -> set[str]:
    """The characters the language's catalogue writes, outside ASCII."""
    return {ch for text in messages(language).values() for ch in text if ord(ch) > 127}


def _charmap(path: str) -> set[int]:
    from matplotlib.ft2font import FT2Font

    return set(FT2Font(path).get_charmap())


@functools.lru_cache(maxsize=None)
def chart_fonts(language: str) -> tuple[str, ...]:
    """The matplotlib font families for charts in ``language``: DejaVu Sans alone for English; for
    another language DejaVu Sans then a CJK family (matplotlib falls back glyph by glyph, so Latin
    text and numbers look as in English). Raises :class:`~uplift.errors.UserError` naming what to
    install when no font has every character of the catalogue."""
    if language == SOURCE_LANGUAGE:
        return (_BASE,)
    from matplotlib import font_manager

    needed = {ord(ch) for ch in _needed(language)}
    base = set()
    try:
        base = _charmap(font_manager.findfont(_BASE, fallback_to_default=False))
    except ValueError:
        pass
    def usable(name: str) -> bool:
        paths = [f.fname for f in font_manager.fontManager.ttflist if f.name == name]
        return any(needed <= (_charmap(p) | base) for p in paths)

    for name in CJK_FAMILIES:
        if usable(name):
            return (_BASE, name)
    # matplotlib's cache may predate the font: add the system's CJK font files, then look again
    for path in font_manager.findSystemFonts():
        if any(h in Path(path).name.lower().replace("-", "").replace("_", "") for h in _FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    for name in CJK_FAMILIES:
        if usable(name):
            return (_BASE, name)
    raise UserError(_INSTALL.get(language, f"no font found with the characters of language {language!r}"))


def check_fonts(language: str) -> None:
    """Fail early (before anything is written) when the charts of ``language`` would lack a font."""
    chart_fonts(language)


def page_fonts(language: str) -> str:
    """CSS rules giving the page's text the CJK fonts a browser may have, and ``.nw`` (no line break
    inside, for a number with its unit: "+1.23 个百分点") ('' for English: the page's own CSS)."""
    if language == SOURCE_LANGUAGE:
        return ""
    stack = ", ".join(f'"{f}"' for f in ("DejaVu Sans", *CJK_FAMILIES))
    return f"body {{ font-family: {stack}, sans-serif; }} .nw {{ white-space: nowrap; }}"
