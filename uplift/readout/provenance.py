"""The readout's manifest section: the input files, their sizes, rows and SHA-256, and how to check them.

A pure function of the ``results.json`` dict (its ``manifest`` block, built by
:func:`uplift.readout.render.manifest_of`), like :mod:`uplift.readout.report`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from uplift.readout.report import fmt_num, table
from uplift.text import t

__all__ = ["manifest_table"]

_E = html.escape


def manifest_table(r: Mapping[str, Any]) -> str:
    """The inputs' manifest: each file's name, size, rows and SHA-256 (as ``sha256sum`` prints it), the
    spec file's hash, the spec hash the ledger recorded, library versions, and how to check them."""
    m = r.get("manifest") or {}
    files = m.get("files") or []
    code = lambda x: f"<code>{_E(str(x))}</code>"
    rows = [(_E(t(str(f.get("role")))), code(f.get("name")), fmt_num(f.get("bytes")), fmt_num(f.get("rows")), code(f.get("sha256")))
            for f in files]
    spec_file = m.get("spec") or {}
    if spec_file:
        rows.append((t("spec"), code(spec_file.get("name")), fmt_num(spec_file.get("bytes")), "&mdash;", code(spec_file.get("sha256"))))
    out = t("<h3>Inputs (manifest)</h3>")
    out += (table([t("Input"), t("File"), t("Bytes"), t("Rows"), "SHA-256"], rows) if rows
            else t("<p>No input files (data passed in memory).</p>"))
    notes = []
    if files:
        lines = "".join(f"{f.get('sha256')}  {f.get('name')}\n" for f in files)
        notes.append(t("Check a file with <code>sha256sum &lt;file&gt;</code>: it must print the SHA-256 above. Or save "
                       "these lines as <code>SHA256SUMS</code> beside the files and run <code>sha256sum -c SHA256SUMS</code>:")
                     + f"<pre>{_E(lines)}</pre>")
    recorded = m.get("ledger_spec_sha256") or []
    if recorded:
        same = m.get("ledger_matches_spec")
        notes.append(t("The ledger records the spec hash {hashes} ", hashes=', '.join(code(x) for x in recorded))
                     + (t("(this spec file's SHA-256: the same spec assigned the customers).") if same else
                        t("<b>which is not this spec's</b> ({spec}): the customers were assigned under another version "
                          "of the spec.", spec=code(r.get('spec_sha256')))))
    libs = m.get("libraries") or {}
    if libs:
        notes.append(t("Libraries: ") + _E(", ".join(f"{k} {v}" for k, v in sorted(libs.items()))) + ".")
    return out + "".join(f"<p class=\"muted\">{x}</p>" for x in notes)
