"""Plain text: the aligned tables the ``summary()`` methods print, one-line terminal messages and chart labels.

Names, labels and values come from user data (arm and segment names, column names) and are
shown as they are, except where a display would read them as something else:

* :func:`one_line` - a message for stderr: one line, control characters (e.g. a terminal escape
  sequence ``\x1b[2J`` in a column name) shown escaped, never sent to the terminal;
* :func:`chart_label` - text for a matplotlib label, with ``$`` escaped so it is never read as
  mathtext (an arm called ``off$^$er`` would otherwise abort the chart);
* :func:`t` - the page's words in the reader's language: the English text is the message id, the
  translations live in gettext catalogues (``uplift/locale/<lang>/LC_MESSAGES/uplift.po``, package
  data), and :func:`use_language` chooses the language for a render.

Adding text to a page: write it in English inside ``t("...")`` (fields as ``{name}``, given as
keywords: ``t("look {look} of {looks}", look=2, looks=4)``); English needs nothing more. Until the
msgid is added to each ``.po`` file, other languages show the English (tests/test_language.py lists
such msgids so they can be translated).

Sentences the analysis writes (a method line, an assumption, a note) are :class:`Msg` values: the
English text, which results.json stores, carrying its msgid and fields, so the page shows them in
its language with :func:`localize`.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import io
import struct
from pathlib import Path
from typing import Iterator, Sequence

__all__ = ["chart_label", "one_line", "text_table", "t", "N_", "Msg", "localize", "use_language", "set_language", "current_language", "catalogue",
           "SOURCE_LANGUAGE", "LOCALE_DIR", "messages", "po_entries", "compile_mo"]

SOURCE_LANGUAGE = "en"
"""The language of the message ids: the text written in the code, shown as it is."""
LOCALE_DIR = Path(__file__).resolve().parent / "locale"  # package data: <lang>/LC_MESSAGES/uplift.po
_STATE = {"language": SOURCE_LANGUAGE}  # a plain global: a notebook's cells run in copied contexts


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


# --------------------------------------------------------------------------- languages


def current_language() -> str:
    """The language :func:`t` translates into (the source language, English, unless set)."""
    return _STATE["language"]


def set_language(language: str) -> None:
    """From now on :func:`t` translates into ``language`` (a catalogue must exist for it); the readout
    notebook sets it once, other callers use :func:`use_language`."""
    if language != SOURCE_LANGUAGE:
        catalogue(language)  # fail here, before any page text is made
    _STATE["language"] = language


@contextlib.contextmanager
def use_language(language: str) -> Iterator[None]:
    """Within the block, :func:`t` translates into ``language``; the previous language after it."""
    previous = _STATE["language"]
    set_language(language)
    try:
        yield
    finally:
        _STATE["language"] = previous


def N_(msgid: str) -> str:
    """Marks ``msgid`` for the catalogue without translating it (gettext's ``N_``): for English words
    that arrive as data (a verdict in results.json) and are translated where shown, with ``t(value)``."""
    return msgid


def t(msgid: str, ctx: str | None = None, **fields: object) -> str:
    """``msgid`` (English) in the current language, its ``{name}`` fields filled from ``fields``
    with :meth:`str.format` (so ``{n:,}`` formats as in an f-string). A msgid the catalogue lacks,
    or leaves untranslated, comes back in English. ``ctx`` (gettext's msgctxt) tells apart one
    English word with two translations: ``t("Arm")`` (the arm's name) and ``t("Arm", ctx="mean")``
    (its mean), both "Arm" in English.

    >>> t("look {look} of {looks}", look=2, looks=4)
    'look 2 of 4'
    """
    language = _STATE["language"]
    if language == SOURCE_LANGUAGE:
        text = msgid
    elif ctx is None:
        text = catalogue(language).gettext(msgid)
    else:
        text = catalogue(language).pgettext(ctx, msgid)
    return text.format(**fields) if fields else text


class Msg(str):
    """A catalogued sentence the analysis writes into its results: the English text (this ``str``'s
    value, so results.json, ``summary()`` and every reader of a plain string get English, the same in
    every language) plus its ``msgid`` and ``fields``, from which :func:`localize` writes it in the
    page's language. The msgid is a literal ``Msg("...")`` first argument (the catalogue test finds it
    there, as it finds ``t("...")``); fields are filled with :meth:`str.format` as in :func:`t`, and
    a field that is itself a ``Msg`` is localized with it. Numbers are formatted before they become
    fields (or by a format spec in the msgid), so they read the same in every language.

    >>> m = Msg("scaled to N = {n:,} customers", n=11999)
    >>> m, m.msgid, m.fields
    ('scaled to N = 11,999 customers', 'scaled to N = {n:,} customers', {'n': 11999})
    """

    msgid: str
    fields: dict[str, object]

    def __new__(cls, msgid: str, /, **fields: object) -> "Msg":
        self = super().__new__(cls, msgid.format(**fields) if fields else msgid)
        self.msgid, self.fields = msgid, dict(fields)
        return self

    def __reduce__(self) -> tuple[object, ...]:  # copy.deepcopy keeps the msgid and fields
        return (_msg, (self.msgid, self.fields))


def _msg(msgid: str, fields: dict[str, object]) -> Msg:
    return Msg(msgid, **fields)


def localize(value: object) -> str:
    """``value`` as the page shows it in the current language: a :class:`Msg` translated with its
    fields (each field localized in turn); any other value as ``str(value)`` (user data and numbers,
    or English read back from an earlier results.json)."""
    if isinstance(value, Msg):
        if not value.fields:
            return t(value.msgid)
        return t(value.msgid, **{k: localize(v) if isinstance(v, Msg) else v for k, v in value.fields.items()})
    return str(value)


@functools.lru_cache(maxsize=None)
def messages(language: str) -> dict[str, str]:
    """The ``msgid -> msgstr`` pairs of ``language``'s catalogue (:func:`po_entries` of its ``.po``;
    the header under ``""``, an untranslated msgid under ``""`` too). ``ValueError`` if there is none."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / "uplift.po"
    if not po.is_file():
        known = sorted(p.name for p in LOCALE_DIR.iterdir() if (p / "LC_MESSAGES" / "uplift.po").is_file())
        raise ValueError(f"no catalogue for language {language!r}; known: {', '.join([SOURCE_LANGUAGE, *known])}")
    return po_entries(po.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def catalogue(language: str) -> gettext.GNUTranslations:
    """The gettext catalogue of ``language``: its ``.po`` source compiled in memory (:func:`compile_mo`)
    and read by the standard library's :class:`gettext.GNUTranslations`, so the ``.mo`` never drifts
    from the ``.po``. A language without a catalogue raises ``ValueError``."""
    return gettext.GNUTranslations(io.BytesIO(compile_mo(messages(language))))


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}


def _unquote(line: str) -> str:
    """The text of one quoted .po string (``"..."``), its C escapes (\\n, \\t, \\\\, \\") resolved."""
    body, out, i = line.strip()[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def po_entries(text: str) -> dict[str, str]:
    """The ``msgid -> msgstr`` pairs of a gettext ``.po`` file (the header under the empty msgid;
    comments and fuzzy flags ignored; an untranslated entry maps to ``""``). An entry with a
    ``msgctxt`` is keyed ``context + "\\x04" + msgid``, as in a ``.mo`` file. Plural entries are not
    used by this package and are refused."""
    entries: dict[str, str] = {}
    key: str | None = None
    current: list[str] = []
    msgid: str | None = None
    context: str | None = None

    def close() -> None:
        nonlocal msgid, context
        if key == "msgstr" and msgid is not None:
            entries[msgid if context is None else f"{context}\x04{msgid}"] = "".join(current)
            msgid = context = None

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):
            current.append(_unquote(line))
            continue
        word, _, rest = line.partition(" ")
        if word not in ("msgctxt", "msgid", "msgstr"):
            raise ValueError(f"line {number}: {word} is not supported in this catalogue")
        if word == "msgctxt":
            close()
        elif word == "msgid":
            if key != "msgctxt":
                close()
            else:
                context = "".join(current)
        else:
            msgid = "".join(current)
        key, current = word, [_unquote(rest)]
    close()
    return entries


def compile_mo(entries: dict[str, str]) -> bytes:
    """The GNU ``.mo`` bytes of ``entries`` (what ``msgfmt`` writes): magic 0x950412de, revision 0,
    the count, the offsets of the sorted msgid and msgstr tables, no hash table, then the strings,
    each NUL-terminated (GNU gettext manual, "The Format of GNU MO Files"). Untranslated entries are
    left out, so gettext falls back to the msgid."""
    pairs = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in entries.items() if v or not k)
    n = len(pairs)
    ids_start = 7 * 4
    strs_start = ids_start + 8 * n
    data_start = strs_start + 8 * n
    blob, id_table, str_table = b"", [], []
    for k, _ in pairs:
        id_table.append((len(k), data_start + len(blob)))
        blob += k + b"\0"
    for _, v in pairs:
        str_table.append((len(v), data_start + len(blob)))
        blob += v + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, n, ids_start, strs_start, 0, data_start)
    tables = b"".join(struct.pack("<2I", *x) for x in id_table + str_table)
    return head + tables + blob
