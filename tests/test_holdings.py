"""Cross-sell measures only under a holdings declaration ([experiment] primary_product)."""

from __future__ import annotations

import json

from uplift.demo import DEMO_SPEC
from uplift.readout import report
from uplift.readout.analysis import analyse
from uplift.simulate import simulate
from uplift.spec import load_spec, parse_spec

CROSS_SELL_WORDING = ("hold the primary product", "holds the primary product", "bought at least one more product",
                      "Cross-sell rate", "Attach rate")


def test_hillstrom_page_and_results_make_no_cross_sell_claim(tmp_path, hillstrom_spec_path):
    """Hillstrom's `visit` is a site visit, and nobody declared what the customers hold."""
    from uplift.readout.render import render_readout

    spec = load_spec(hillstrom_spec_path)
    assert spec.experiment.primary_product == ""
    paths = render_readout(spec, tmp_path / "r")
    text = paths.results.read_text()
    page = paths.html.read_text()
    r = json.loads(text)
    assert r["catalogue"] == {}
    for phrase in CROSS_SELL_WORDING:
        assert phrase not in text, phrase
        assert phrase not in page, phrase
    # the metric keeps its own description, and the reader is told why the measures are absent
    visit = next(x for x in r["metrics"] if x["metric"] == "visit")
    assert visit["description"] == "Visited the website in the two weeks after the e-mail."
    assert any("[experiment] primary_product" in n for n in r["notes"])
    assert "set [experiment] primary_product" in page
    assert "visit: Visited the website in the two weeks after the e-mail." in page


def _demo_text(primary_product: str | None) -> str:
    text = DEMO_SPEC.read_text()
    line = 'primary_product = "current account"'
    assert line in text
    return text if primary_product is None else text.replace(line, f'primary_product = "{primary_product}"')


def test_the_demo_declares_its_holdings_and_keeps_its_catalogue():
    spec = parse_spec(_demo_text(None), path=DEMO_SPEC)
    assert spec.experiment.primary_product == "current account"
    sim = simulate(4000, seed=3)
    r = analyse(spec, sim.outcomes).to_results()
    cat = r["catalogue"]
    assert {"cross_sell_rate", "attach_rate", "apc"} <= set(cat)
    assert "all holding current account" in cat["cross_sell_rate"]["definition"]
    assert "mortgage" in cat["cross_sell_rate"]["definition"]
    assert cat["cross_sell_rate"]["per_arm"]["offer"] == sim.outcomes.converted[sim.outcomes.arm == "offer"].mean()
    assert "Cross-sell rate" in report.catalogue(r)


def test_without_the_declaration_the_catalogue_is_left_out():
    spec = parse_spec(_demo_text(""), path=DEMO_SPEC)
    r = analyse(spec, simulate(4000, seed=3).outcomes).to_results()
    assert r["catalogue"] == {} and report.catalogue(r) == ""
    assert "hold the primary product" not in json.dumps(r)
