"""The notebooks in notebooks/ run top to bottom on a real kernel, and say what they claim."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_tour_runs_on_a_real_kernel_and_both_engines_agree():
    jupytext = pytest.importorskip("jupytext")
    from nbclient import NotebookClient

    nb = jupytext.read(ROOT / "notebooks" / "tour.py")
    for cell in nb.cells:  # a smaller bank than the tour's default keeps the test quick
        if "parameters" in cell.metadata.get("tags", []):
            cell.source = "customers = 12_000\nseed = 3"
    NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(ROOT)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "SRM p-value" in text and "schema 1.0" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("in memory"))
    memory, duck = line.replace("in memory ", "").split(", DuckDB ")
    assert float(memory) == pytest.approx(float(duck), rel=1e-9, abs=1e-12)
