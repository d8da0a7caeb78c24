"""The readout and design pages in Simplified Chinese: the catalogue, the glossary, fonts, renders.

The catalogue is ``uplift/locale/zh/LC_MESSAGES/uplift.po``; its msgids are the English texts
the code passes to :func:`uplift.text.t` (and marks with ``N_``) plus the template's markdown
headings. ``test_every_msgid_of_the_code_is_in_the_catalogue`` lists the msgids still missing from
it (new English texts), so they can be translated; English pages need nothing from it.
"""

from __future__ import annotations

import ast
import gettext
import html
import io
import json
import re
import warnings
from pathlib import Path

import pytest

from uplift.text import (LOCALE_DIR, SOURCE_LANGUAGE, compile_mo, messages, po_entries, t, use_language)

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary-zh.md"
FIELD = re.compile(r"\{[^{}]*\}")


def code_msgids() -> dict[tuple[str | None, str], str]:
    """(context, msgid) -> where, for every ``t("...")``, ``tr("...")``, ``N_("...")`` and ``Msg("...")`` with a literal
    first argument in uplift/, and every markdown heading of the readout template."""
    found: dict[tuple[str | None, str], str] = {}
    for path in sorted((ROOT / "uplift").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("t", "tr", "N_", "Msg")
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                ctx = next((k.value.value for k in node.keywords if k.arg == "ctx" and isinstance(k.value, ast.Constant)), None)
                found.setdefault((ctx, node.args[0].value), f"{path.relative_to(ROOT)}:{node.lineno}")
    template = ROOT / "uplift" / "readout" / "templates" / "readout.py"
    for m in re.finditer(r"^# #+ (.+)$", template.read_text(encoding="utf-8"), re.M):
        found.setdefault((None, m.group(1)), str(template.relative_to(ROOT)))
    return found


def _key(ctx: str | None, msgid: str) -> str:
    return msgid if ctx is None else f"{ctx}\x04{msgid}"


def _languages() -> list[str]:
    return sorted(p.name for p in LOCALE_DIR.iterdir() if (p / "LC_MESSAGES" / "uplift.po").is_file())


# --------------------------------------------------------------------------- the catalogue


def test_the_spec_languages_are_english_and_the_catalogues():
    from uplift.spec.schema import LANGUAGES

    assert sorted(LANGUAGES) == sorted([SOURCE_LANGUAGE, *_languages()])


@pytest.mark.parametrize("language", _languages())
def test_every_message_in_the_catalogue_is_translated_with_its_fields(language):
    entries = {k: v for k, v in messages(language).items() if k}
    assert entries
    empty = [k for k, v in entries.items() if not v.strip() and k.split("\x04")[-1].strip()]
    assert not empty, f"untranslated in {language}: {empty}"
    wrong = {k: (sorted(set(FIELD.findall(k.split("\x04")[-1]))), sorted(set(FIELD.findall(v))))
             for k, v in entries.items() if set(FIELD.findall(k.split("\x04")[-1])) != set(FIELD.findall(v))}
    assert not wrong, f"fields ({{name}}) differ between msgid and msgstr: {wrong}"


@pytest.mark.parametrize("language", _languages())
def test_every_msgid_of_the_code_is_in_the_catalogue(language):
    """The list to translate: English texts added to the pages (``t("...")``) that the catalogue
    lacks; and catalogue entries no code uses any more (an English text changed or removed)."""
    used = code_msgids()
    catalogue = {k for k in messages(language) if k}
    missing = [f"{where}: {('[' + ctx + '] ') if ctx else ''}{msgid!r}" for (ctx, msgid), where in used.items()
               if _key(ctx, msgid) not in catalogue]
    assert not missing, (f"{len(missing)} msgid(s) not in uplift/locale/{language}/LC_MESSAGES/uplift.po "
                         "(add each with its translation):\n" + "\n".join(missing))
    stale = sorted(catalogue - {_key(c, m) for c, m in used})
    assert not stale, f"catalogue entries no code uses (remove them or restore the English text): {stale}"


def test_the_catalogue_uses_the_glossary_terms():
    """Each msgid containing a glossary term's English (at the start of a word; an abbreviation in
    capitals only) is translated with the glossary's Chinese term; each term is used somewhere."""
    rows = [line.strip().strip("|").split("|") for line in GLOSSARY.read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and not line.startswith(("| English", "| ---"))]
    terms = [(r[0].strip(), r[1].strip()) for r in rows]
    assert {"交叉销售率", "户均产品数", "产品渗透率", "客户生命周期价值", "对照组", "增量收入", "转化率", "置信区间", "显著",
            "护栏指标"} <= {zh for _, zh in terms}
    entries = {k.split("\x04")[-1]: v for k, v in messages("zh").items() if k}
    wrong, unused = [], []
    for en, zh in terms:
        pattern = re.compile(r"\b" + re.escape(en), 0 if en.isupper() else re.I)
        hits = [(m, s) for m, s in entries.items() if pattern.search(m)]
        if not hits:
            unused.append(en)
        wrong += [f"{en!r} -> {zh}: {m!r} is {s!r}" for m, s in hits if zh not in s]
    assert not wrong, "translations off the glossary:\n" + "\n".join(wrong)
    assert not unused, f"glossary terms no message uses: {unused}"


def test_the_po_reader_and_mo_writer_agree_with_the_standard_library():
    """The .po parsed and compiled here, read back by the standard library's GNUTranslations (the
    reference reader of .mo files): every msgid, with and without a context, gives its msgstr; an
    untranslated or unknown msgid falls back to English."""
    po = ('msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
          '# a comment\nmsgid "Arm"\nmsgstr "组别"\n\n'
          'msgctxt "mean"\nmsgid "Arm"\nmsgstr "实验组"\n\n'
          'msgid ""\n"a long "\n"line with \\"quotes\\"\\n"\nmsgstr ""\n"一行\\t文字"\n\n'
          'msgid "not yet"\nmsgstr ""\n')
    entries = po_entries(po)
    assert entries["Arm"] == "组别" and entries["mean\x04Arm"] == "实验组"
    assert entries['a long line with "quotes"\n'] == "一行\t文字" and entries["not yet"] == ""
    tr = gettext.GNUTranslations(io.BytesIO(compile_mo(entries)))
    assert tr.gettext("Arm") == "组别" and tr.pgettext("mean", "Arm") == "实验组"
    assert tr.gettext('a long line with "quotes"\n') == "一行\t文字"
    assert tr.gettext("not yet") == "not yet" and tr.gettext("unknown") == "unknown"
    with pytest.raises(ValueError, match="msgid_plural"):
        po_entries('msgid "a"\nmsgid_plural "as"\nmsgstr[0] ""\n')


def test_t_is_english_by_default_and_translates_within_a_language():
    assert t("{value} pp", value="+1.23") == "+1.23 pp"
    assert t("Arm", ctx="mean") == "Arm"
    with use_language("zh"):
        assert t("{value} pp", value="+1.23") == "+1.23 个百分点"
        assert (t("Arm"), t("Arm", ctx="mean")) == ("组别", "实验组")
        assert t("a text no catalogue has yet {n}", n=3) == "a text no catalogue has yet 3"
    assert t("Arm") == "Arm"
    with pytest.raises(ValueError, match="no catalogue for language 'xx'"):
        with use_language("xx"):
            pass


def test_a_catalogued_sentence_is_english_in_json_and_translated_where_shown():
    """A Msg is its English text for results.json (and any reader of a plain string); localize() writes it,
    and each Msg among its fields, in the page's language; numbers keep the English format."""
    import copy

    from uplift.text import Msg, localize

    inner = Msg("relative CI: delta method on log(arm/control)")
    m = Msg("scaled to N = {n} customers (the analysed customers), N treated as fixed", n=11999)
    joined = Msg("{how}; {relative}", how=Msg("abs CI and p: delta method for ratio of means (Welch t)"), relative=inner)
    assert json.dumps([m, joined]) == json.dumps([
        "scaled to N = 11999 customers (the analysed customers), N treated as fixed",
        "abs CI and p: delta method for ratio of means (Welch t); relative CI: delta method on log(arm/control)"])
    assert localize(joined) == str(joined) and localize("user text") == "user text"
    zh = messages("zh")
    with use_language("zh"):
        assert localize(m) == zh[m.msgid].replace("{n}", "11999") and "11999" in localize(m)
        assert localize(joined) == (zh["{how}; {relative}"].replace("{how}", zh[joined.fields["how"].msgid])
                                    .replace("{relative}", zh[inner.msgid]))
        assert localize(copy.deepcopy(joined)) == localize(joined), "a copy keeps its msgid and fields"
        assert localize("abs CI and p: delta method for ratio of means (Welch t)").startswith("abs CI"), \
            "a plain string (read back from results.json) is shown as it is"


def test_a_language_the_schema_does_not_know_is_refused_with_one_line(demo_spec_path, tmp_path, capsys):
    from uplift.cli import main
    from uplift.errors import SpecError
    from uplift.spec import load_spec

    bad = tmp_path / "fr.toml"
    bad.write_text(demo_spec_path.read_text(encoding="utf-8").replace("[experiment]\n", '[experiment]\nlanguage = "fr"\n', 1),
                   encoding="utf-8")
    with pytest.raises(SpecError, match="language"):
        load_spec(bad)
    assert main(["design", str(bad), "--no-population"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "language" in err


# --------------------------------------------------------------------------- fonts


def test_every_character_of_the_catalogue_has_a_glyph_in_the_chart_fonts(tmp_path):
    """Draw every translated text on a chart with warnings as errors: matplotlib warns 'Glyph ...
    missing from font(s)' for a character it would draw as a box."""
    import matplotlib.pyplot as plt

    from uplift.readout.charts import style

    texts = [v for k, v in messages("zh").items() if k]
    with use_language("zh"):
        style()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fig, ax = plt.subplots(figsize=(6, 2))
            chars = "".join(sorted({ch for s in texts for ch in s}))
            for i in range(0, len(chars), 60):
                ax.text(0, i / max(len(chars), 1), chars[i:i + 60].replace("$", r"\$"))
            ax.set_title("转化率 客户生命周期价值")
            fig.savefig(tmp_path / "glyphs.png")
            plt.close(fig)
    finally:
        with use_language(SOURCE_LANGUAGE):
            style()


def test_without_a_chinese_font_a_chinese_page_stops_with_what_to_install(monkeypatch, demo_spec_path, tmp_path, capsys):
    from matplotlib import font_manager

    from uplift.cli import main
    from uplift.readout import fonts

    fonts.chart_fonts.cache_clear()
    monkeypatch.setattr(fonts, "CJK_FAMILIES", ("No Such Font CJK",))
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [])
    try:
        out = tmp_path / "out"
        code = main(["design", str(demo_spec_path), "--no-population", "--out", str(out), "--lang", "zh"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1, err
        assert "fonts-noto-cjk" in err and "Traceback" not in err
        assert not out.exists(), "nothing may be written"
        code = main(["readout", str(demo_spec_path), "--outcomes", str(tmp_path / "none.parquet"), "--out", str(out),
                     "--lang", "zh"])
        assert code == 2 and not out.exists()
    finally:
        fonts.chart_fonts.cache_clear()


# --------------------------------------------------------------------------- the design page


def test_design_page_in_chinese_same_json_and_reruns_byte_identical(demo_population, demo_spec_path, tmp_path):
    from uplift.cli import main

    pop = tmp_path / "population.parquet"
    demo_population.to_parquet(pop)
    pages = {}
    for lang in ("en", "zh", "zh", "en"):
        out = tmp_path / f"{lang}-{len(pages)}"
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*missing from font")
            assert main(["design", str(demo_spec_path), "--population", str(pop), "--out", str(out), "--lang", lang]) == 0
        pages[out.name] = ((out / "design.json").read_bytes(), (out / "design.html").read_text(encoding="utf-8"))
    (en_json, en), (zh_json, zh), (zh_json2, zh2), (_, en2) = pages.values()
    assert en_json == zh_json == zh_json2, "design.json does not depend on the language"
    assert zh == zh2 and en == en2, "two renders of one input are byte-identical in each language"
    assert '<html lang="zh-CN">' in zh and '<html lang="en">' in en
    for heading in ("实验设计：", "各组样本量", "护栏指标", "统计功效曲线", "准入条件"):
        assert heading in zh
    d = json.loads(en_json)
    assert f"{d['n_total']:,}" in zh and f"{d['n_total']:,}" in en


# --------------------------------------------------------------------------- the readout


def test_chinese_readout_has_the_english_numbers_and_the_same_results(demo_readout, zh_readout):
    en_out, _ = demo_readout
    zh_out, paths = zh_readout
    en = json.loads((en_out / "results.json").read_text(encoding="utf-8"))
    zh = json.loads((zh_out / "results.json").read_text(encoding="utf-8"))
    assert (en.pop("language"), zh.pop("language")) == ("en", "zh")
    assert en == zh, "results.json is the same in both languages apart from its language field"
    page = paths.html.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page and "<title>实验读出报告：" in page
    row = next(x for x in zh["metrics"] if x["metric"] == "conversion")
    assert f"{100 * row['abs_effect']:+.2f} 个百分点" in page and f"{100 * row['mean_arm']:.2f}%" in page
    assert "pp</" not in page and "EUR " not in page and "&lt;span" not in page, "units translated, HTML not escaped twice"
    for heading in ("决策", "健康检查：分组是否可信？", "主要指标", "护栏指标", "财务：增量价值", "客户生命周期价值"):
        assert f">{heading}<" in page, heading
    verdict = {"ship": "上线", "do not ship": "不上线", "inconclusive": "尚无定论"}[zh["decision"]["verdict"]]
    assert verdict in page
    assert "missing from font" not in (zh_out / "readout.ipynb").read_text(encoding="utf-8"), "a chart lacks a glyph"


# the keys under which the analysis writes sentences into results.json (catalogued: uplift.text.Msg)
SENTENCE_KEYS = {"method", "assumptions", "assumption", "source", "units_basis", "note", "notes", "definition", "estimator",
                 "margin_definition", "value_source", "expected_incremental_profit_method"}


def _visible_text(page: str) -> str:
    """The text a reader sees: scripts and styles dropped, tags removed, entities resolved, whitespace runs as one space."""
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _sentences(results: object, key: str | None = None) -> set[str]:
    """The analysis' sentences in results.json: strings of 4+ words under :data:`SENTENCE_KEYS` (nested)."""
    if isinstance(results, dict):
        return set().union(*(_sentences(v, k) for k, v in results.items())) if results else set()
    if isinstance(results, list):
        return set().union(*(_sentences(v, key) for v in results)) if results else set()
    return {" ".join(results.split())} if isinstance(results, str) and key in SENTENCE_KEYS and len(results.split()) >= 4 else set()


def test_the_analysis_sentences_are_chinese_on_the_chinese_page(demo_readout, zh_readout):
    """Method lines, assumptions, priors, estimators, notes and the methods appendix: results.json keeps
    them in English (the same in both languages), the English page shows them as they are, and the
    Chinese page shows none of them in English but their catalogue translations."""
    en_out, en_paths = demo_readout
    zh_out, zh_paths = zh_readout
    r = json.loads((zh_out / "results.json").read_text(encoding="utf-8"))
    en_page = _visible_text(en_paths.html.read_text(encoding="utf-8"))
    zh_page = _visible_text(zh_paths.html.read_text(encoding="utf-8"))
    sentences = _sentences(r) | {r["sufficient_statistics"]["description"]}  # (the metrics' descriptions are the spec's)
    shown_in_english = {s for s in sentences if s in en_page}
    primary = next(x for x in r["metrics"] if x["primary"])
    for family in (primary["method"], r["roi"]["assumptions"][0], primary["bayes"]["prior"]["source"],
                   primary["always_valid"]["method"], r["sufficient_statistics"]["description"], r["clv"]["method"],
                   r["clv"]["margin_definition"], r["targeting"]["held_out_check"]["method"]):
        assert " ".join(family.split()) in shown_in_english, family
    left = sorted(s for s in shown_in_english if s in zh_page)
    assert not left, "English sentences of the analysis on the Chinese page:\n" + "\n".join(left)

    zh = messages("zh")

    def translated(msgid: str, **fields: object) -> str:
        return _visible_text(zh[msgid].format(**fields))

    assert primary["method"].startswith("abs CI: Wald") and "log(arm/control)" in primary["method"]
    for text in (translated("abs CI: Wald (unpooled, clipped to [-1, 1]; Newcombe hybrid-score CI also given, and used "
                            "when an arm has fewer than {n} successes or failures)", n=5),
                 translated("relative CI: delta method on log(arm/control)"),
                 translated("per treated customer: every customer in an offer arm is contacted (contact_cost each) and "
                            "each conversion in an offer arm earns the incentive (incentive_cost each); the control arm "
                            "costs nothing"),
                 translated("scaled to N = {n} customers (the analysed customers), N treated as fixed",
                            n=r["roi"]["eligible_population"]),
                 translated("per arm: n, column means, sample variances and covariances (n - 1); every estimate is a "
                            "closed-form function of these"),
                 translated("<h3>Days to each funnel stage</h3>")):
        assert text in zh_page, text
    appendix = translated("<li>Days to each funnel stage: Kaplan-Meier per arm of the days from the customer's start to "
                          "the stage, among the customers who reached the stage before, censored at the follow-up; the "
                          "median is the first day with S(t) &le; 1/2, its interval read off the pointwise log-log band "
                          "(Brookmeyer &amp; Crowley 1982); \"not reached\" when fewer than half get there within the "
                          "follow-up.</li>")
    assert appendix in zh_page


def test_two_chinese_renders_are_byte_identical(demo_readout, zh_readout, demo_spec_path, tmp_path):
    from uplift.cli import main

    data = demo_readout[0] / "data"
    zh_out, _ = zh_readout
    assert main(["readout", str(demo_spec_path), "--outcomes", str(data / "outcomes.parquet"), "--ledger",
                 str(data / "ledger.parquet"), "--population", str(data / "population.parquet"), "--out", str(tmp_path),
                 "--lang", "zh"]) == 0
    for name in ("readout.html", "results.json", "readout.ipynb"):
        assert (tmp_path / name).read_bytes() == (zh_out / name).read_bytes(), name


def test_chinese_decision_sentences_are_composed_from_the_typed_decision():
    """Two qualifying arms, one significantly better, a guardrail on watch: the Chinese headline names
    the arm to ship, the comparison with its numbers as the English one writes them, and the watch."""
    from uplift.readout.decision_text import decision_headline, watch_text

    r = {
        "metrics": [{"metric": "conversion", "arm": a, "primary": True} for a in ("a", "b")],
        "guardrails": [{"metric": "complaints", "arm": "a", "display": "rate", "status": "watch"}],
        "sequential": {"look": 1, "looks": 1, "boundary_z": None, "final_look": True},
        "decision": {
            "headline": "English", "recommended_arm": "a", "verdict": "ship",
            "per_arm": {"a": {"verdict": "ship", "success_metrics_improved": ["conversion"], "guardrails_watch": ["complaints"]},
                        "b": {"verdict": "ship", "success_metrics_improved": ["conversion"]}},
            "pairwise": [{"metric": "conversion", "arm": "a", "versus": "b", "display": "rate", "abs_effect": 0.0123,
                          "abs_ci": [0.002, 0.0226], "p_value_adjusted": 0.012, "better": True}],
        },
    }
    watch = {"metric": "complaints", "arm": "a", "abs_effect": 0.0027, "abs_ci": [0.0004, 0.0049], "margin": 0.005,
             "text": "English watch"}
    assert decision_headline(r) == "English" and watch_text(r, watch) == "English watch"
    with use_language("zh"):
        headline = decision_headline(r)
        assert headline.startswith("上线 a 组：主要指标 conversion 显著，护栏指标 complaints 需关注")
        assert "b 组同样合格，但 a 组显著更好（conversion 相对 b 组 +1.23 个百分点 [+0.20, +2.26]，Holm 校正 p = 0.0120）" in headline
        assert watch_text(r, watch) == "complaints +0.27 个百分点 [+0.04, +0.49]，显著，但在 0.5 个百分点的边际之内（a 组）"
