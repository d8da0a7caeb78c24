"""``uplift target --json`` for a next-best-offer list: the printed dict validates against
``uplift/targeting/next_best_offer.schema.json``, agrees with the list and page written beside it, and
the schema refuses the dict with a key missing (so the check can fail)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from uplift.cli import main
from uplift.errors import DataError
from uplift.simulate import simulate
from uplift.targeting.offers import NO_OFFER, validate_output

pytestmark = pytest.mark.slow  # fits two uplift models


@pytest.fixture(scope="module")
def printed(tmp_path_factory, repo_root):
    d = tmp_path_factory.mktemp("nbo")
    sim = simulate(8000, seed=5, arms={"control": 0.34, "offer": 0.33, "fee_free": 0.33})
    sim.population.to_parquet(d / "population.parquet")
    sim.outcomes.to_parquet(d / "outcomes.parquet")
    return d, str(repo_root / "experiments" / "nbo.toml")


def _target(printed, out_name: str, *more: str) -> dict:
    """``uplift target --json`` on the module's data: the dict it printed."""
    import contextlib
    import io

    d, spec = printed
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["target", spec, "--outcomes", str(d / "outcomes.parquet"), "--population", str(d / "population.parquet"),
                     "--out", str(d / out_name), "--json", "--bootstrap", "1", "--quiet", *more])
    assert code == 0
    return json.loads(buf.getvalue())


@pytest.fixture(scope="module")
def english(printed):
    """One English run (the default language of experiments/nbo.toml), shared by the tests below."""
    return _target(printed, "wave.csv")


def test_json_validates_and_agrees_with_the_list_and_page(printed, english):
    d, spec = printed
    out = d / "wave.csv"
    got = dict(english)
    validate_output(got)
    wave = pd.read_csv(out)
    counts = wave.loc[wave["offer"] != NO_OFFER, "offer"].value_counts().to_dict()
    assert {o: n for o, n in got["contacts"].items() if n} == counts
    assert got["selected"] == sum(counts.values()) and got["eligible"] == len(wave)
    assert got["expected_incremental_profit"] == pytest.approx(wave.loc[wave["selected"], "expected_incremental_value"].sum())
    assert got["expected_cost"] <= got["budget"] + 1e-9
    assert set(got["shadow_prices"]) <= {"budget", "capacity:fee_free"}
    f = got["frontier"]
    assert len(f["budget"]) == len(f["profit"]) == len(f["upper_bound"]) == 11
    assert (np.array(f["upper_bound"]) >= np.array(f["profit"]) - 1e-6).all()
    assert (np.array(f["cost"]) <= np.array(f["budget"]) + 1e-6).all()
    assert f["max_gap"][0] == pytest.approx(max(u - p for u, p in zip(f["upper_bound"], f["profit"])))
    assert got["upper_bound"] >= got["expected_incremental_profit"] - 1e-6
    page = (d / "wave.html").read_text(encoding="utf-8")
    assert "Profit against budget" in page and "upper bound of the optimum" in page
    for key in ("frontier", "shadow_prices"):
        broken = {k: v for k, v in got.items() if k != key}
        with pytest.raises(DataError, match=key):
            validate_output(broken)
    with pytest.raises(DataError, match="shadow_prices"):
        validate_output({**got, "shadow_prices": {"budgets": 1.0}})


def test_the_page_in_chinese_has_the_same_numbers(printed, english):
    """``--lang zh``: the next-best-offer page is written in Chinese (its headings, captions, solver status and
    methods catalogued), from the same allocation: the JSON printed is the English run's, word for word."""
    d, _ = printed
    zh_json = _target(printed, "wave_zh.csv", "--lang", "zh")
    assert {k: v for k, v in zh_json.items() if k not in ("next_wave", "page")} == \
        {k: v for k, v in english.items() if k not in ("next_wave", "page")}
    en, zh = ((d / name).read_text(encoding="utf-8") for name in ("wave.html", "wave_zh.html"))
    assert '<html lang="zh-CN"' in zh and '<html lang="en"' in en
    for eng, chinese in (("Profit against budget", "利润与预算"), ("Shadow prices", "影子价格"),
                         ("What drives the predicted uplift", "预测增量的驱动因素"),
                         ("eligible customers get an offer", "符合条件的客户")):
        assert eng in en and eng not in zh and chinese in zh
    status = english["status"]
    assert status in en and (status == "optimal") == ("求解状态：最优" in zh)
