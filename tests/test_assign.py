"""Eligibility waterfall, deterministic salted-hash assignment, and the append-only ledger."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from uplift.experiment.assign import assign, assign_to_ledger, largest_remainder
from uplift.experiment.exclusions import apply_exclusions, exclusions_path
from uplift.cli import main
from uplift.errors import DataError, UserError
from uplift.data.hashing import assign_by_weights
from uplift.experiment.ledger import read_ledger
from uplift.simulate import simulate_population
from uplift.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "experiments" / "demo.toml"
DEMO_TEXT = DEMO.read_text()


def spec_from(text: str = DEMO_TEXT, **replace: str):
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return parse_spec(text, label="spec.toml")


def write_spec(tmp_path: Path, text: str = DEMO_TEXT, name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def new_customers(n: int, seed: int, offset: int = 5_000_000) -> pd.DataFrame:
    extra = simulate_population(n, seed=seed)
    extra["customer_id"] += offset
    return extra


@pytest.fixture
def pop(demo_population):
    """The shared simulated population (20,000 customers, conftest.py); never changed in place."""
    return demo_population


# --------------------------------------------------------------------------- exclusions

SMALL_SPEC = """
[experiment]
name = "t"
unit = "id"
[[exclude]]
reason = "opt_out"
column = "opt_out"
op = "=="
value = 1
[[exclude]]
reason = "complaint"
column = "complaints"
op = ">"
value = 0
[[exclude]]
reason = "region"
column = "region"
op = "in"
value = ["x", "y"]
[[exclude]]
reason = "no_email"
column = "email"
op = "is_null"
[[exclude]]
reason = "contact_cap"
column = "days_since_contact"
op = "<"
value = 30
[assignment]
salt = "s"
arms = { control = 0.5, offer = 0.5 }
control = "control"
"""


def small_population() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            "opt_out": [1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            "complaints": [2, 0, 1, np.nan, 0, 0, 0, 0, 0, 0],
            "region": ["a", "x", "a", "a", "y", "a", "a", "b", "a", None],
            "email": ["e", "e", "e", "e", "e", None, "e", "e", "e", "e"],
            "days_since_contact": [5, 5, 5, 5, 5, 5, 10, 40, 400, 100],
        }
    )


def test_waterfall_first_matching_reason_wins():
    spec = parse_spec(SMALL_SPEC)
    e = apply_exclusions(spec, small_population())
    # worked by hand: 1,2 opt_out; 3 complaint; 4 complaint (missing counts as a match);
    # 5 region y; 10 region missing -> region; 6 no email; 7 contacted 10 days ago
    assert e.reasons.to_dict() == {
        1: "opt_out", 2: "opt_out", 3: "complaint", 4: "complaint", 5: "region", 10: "region",
        6: "no_email", 7: "contact_cap",
    }
    assert sorted(e.eligible["id"]) == [8, 9]
    steps = [(r["step"], r["excluded"], r["remaining"]) for r in e.waterfall]
    assert steps == [
        ("population", 0, 10), ("opt_out", 2, 8), ("complaint", 2, 6), ("region", 2, 4),
        ("no_email", 1, 3), ("contact_cap", 1, 2),
    ]
    assert [r.get("missing") for r in e.waterfall[1:]] == [0, 1, 1, 0, 0]
    d = e.to_dict()
    assert d["population"] == 10 and d["eligible"] == 2 and d["excluded"] == 8
    # aggregates only: no unit ids anywhere in to_dict
    assert "reasons" not in d and "eligible_units" not in d
    assert "Exclusion waterfall" in e.summary()


def test_text_rules_and_categoricals():
    text = SMALL_SPEC.replace('op = "in"\nvalue = ["x", "y"]', 'op = "not_in"\nvalue = ["a", "b"]')
    spec = parse_spec(text)
    df = small_population()
    df["region"] = df["region"].astype("category")
    e = apply_exclusions(spec, df)
    # region not in {a, b}: 5 (y) and 10 (missing); 2 has x but was already opted out
    assert (e.reasons == "region").sum() == 2
    assert set(e.reasons[e.reasons == "region"].index) == {5, 10}


def test_reasons_add_up_to_the_waterfall(demo_spec, pop):
    spec = demo_spec
    e = apply_exclusions(spec, pop)
    counts = e.reasons.value_counts()
    for row in e.waterfall[1:]:
        assert counts.get(row["step"], 0) == row["excluded"]
    assert len(e.reasons) + len(e.eligible) == len(pop)
    assert e.waterfall[-1]["remaining"] == len(e.eligible)
    # the demo rules by hand on the raw columns
    manual = (
        (pop.marketing_opt_out == 1) | (pop.complaints_90d > 0) | (pop.financial_stress == 1)
        | (pop.holds_mortgage == 1) | (pop.days_since_last_contact < 30)
    )
    assert len(e.eligible) == int((~manual).sum())


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.drop(columns=["customer_id"]), "has no unit column 'customer_id'"),
        (lambda d: pd.concat([d, d.iloc[:3]]), "3 duplicate id(s)"),
        (lambda d: d.assign(customer_id=d.customer_id.astype(float).where(d.index != 5)), "1 of 20,000 rows have no customer_id"),
        (lambda d: d.drop(columns=["complaints_90d"]), "no column 'complaints_90d' used by [[exclude]] rule 'recent_complaint'"),
        (lambda d: d.assign(financial_stress="no"), "holds text, not numbers"),
    ],
)
def test_bad_population_is_a_one_line_data_error(demo_spec, pop, mutate, message):
    spec = demo_spec
    with pytest.raises(DataError) as exc:
        apply_exclusions(spec, mutate(pop.copy()))
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


# --------------------------------------------------------------------------- assignment


def test_largest_remainder_by_hand():
    assert largest_remainder(10, [0.1, 0.9]).tolist() == [1, 9]
    assert largest_remainder(7, [1, 1, 1]).tolist() == [3, 2, 2]
    assert largest_remainder(5, [0.5, 0.5]).tolist() == [3, 2]  # tie to the arm listed first
    assert largest_remainder(13, [0.2, 0.3, 0.5]).tolist() == [3, 4, 6]  # 2.6, 3.9, 6.5 -> 2,3,6 + 1,1
    assert largest_remainder(0, [0.5, 0.5]).tolist() == [0, 0]


def test_unstratified_is_the_pure_hash(pop):
    spec = spec_from(**{'stratify = ["segment"]': "stratify = []"})
    res = assign(spec, pop)
    ids = res.ledger["customer_id"].to_numpy()
    expected = assign_by_weights(ids, "demo-mortgage-2026q1", {"control": 0.10, "offer": 0.90})
    assert (res.ledger["arm"].astype(str).to_numpy() == expected).all()
    assert set(res.ledger["stratum"].astype(str)) == {"all"}


def test_stratified_counts_are_exact_and_order_free(demo_spec, pop):
    spec = demo_spec
    res = assign(spec, pop)
    elig = res.eligibility.eligible
    for seg, grp in elig.groupby("segment", observed=True):
        got = res.ledger[res.ledger["stratum"] == f"segment={seg}"]["arm"].value_counts()
        want = largest_remainder(len(grp), [0.1, 0.9])
        assert [got["control"], got["offer"]] == want.tolist()
    # same arms whatever the population's row order
    shuffled = pop.sample(frac=1.0, random_state=3)
    res2 = assign(spec, shuffled)
    pd.testing.assert_frame_equal(res.ledger, res2.ledger)
    # control = the lowest hashes within each stratum
    from uplift.data.hashing import buckets

    led = res.ledger
    b = buckets(led["customer_id"], "demo-mortgage-2026q1")
    for s in led["stratum"].cat.categories:
        m = (led["stratum"] == s).to_numpy()
        c = (led["arm"] == "control").to_numpy() & m
        assert b[c].max() < b[m & ~c].min()


@pytest.mark.parametrize("stratify", ['["segment"]', "[]", '["segment", "region"]'])
def test_new_customers_never_move_earlier_ones(pop, stratify):
    spec = spec_from(**{'stratify = ["segment"]': f"stratify = {stratify}"})
    first = assign(spec, pop)
    grown = pd.concat([pop, new_customers(len(pop) // 10, seed=99)], ignore_index=True)
    second = assign(spec, grown, ledger=first.ledger)
    n_old = len(first.ledger)
    pd.testing.assert_frame_equal(second.ledger.iloc[:n_old].reset_index(drop=True), first.ledger, check_categorical=False)
    assert second.added == len(second.ledger) - n_old > 0
    assert second.already_assigned == n_old
    if stratify != "[]":
        # the stratum totals stay within one unit of the exact split
        for s, counts in second.counts_by_stratum().items():
            want = largest_remainder(sum(counts.values()), [0.1, 0.9])
            assert abs(counts["control"] - want[0]) <= 1, s
    # a third run on the same grown population adds nothing
    third = assign(spec, grown, ledger=second.ledger)
    assert third.added == 0
    pd.testing.assert_frame_equal(third.ledger, second.ledger)


def test_assignment_changes_are_refused(demo_spec, pop):
    spec = demo_spec
    led = assign(spec, pop.iloc[:2000]).ledger
    for old, new, what in [
        ('salt = "demo-mortgage-2026q1"', 'salt = "other"', "salt"),
        ("arms = { control = 0.10, offer = 0.90 }", "arms = { control = 0.20, offer = 0.80 }", "arms"),
        ("arms = { control = 0.10, offer = 0.90 }", "arms = { control = 0.10, offer = 0.45, offer_b = 0.45 }", "arms"),
        ('stratify = ["segment"]', "stratify = []", "stratify"),
    ]:
        with pytest.raises(UserError) as exc:
            assign(spec_from(**{old: new}), pop, ledger=led)
        assert "different [assignment]" in str(exc.value) and what in str(exc.value)
    with pytest.raises(UserError, match="holds experiment 'demo', not 'other'"):
        assign(spec_from(**{'name = "demo"': 'name = "other"'}), pop, ledger=led)


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_ledger_files_byte_identical_and_append_only(demo_spec, tmp_path, pop, suffix):
    spec = demo_spec
    pop_path = tmp_path / "pop.parquet"
    pop.to_parquet(pop_path)
    a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    assign_to_ledger(spec, pop_path, a)
    assign_to_ledger(spec, pop_path, b)
    assert a.read_bytes() == b.read_bytes()
    before = a.read_bytes()
    mtime = a.stat().st_mtime_ns
    again = assign_to_ledger(spec, pop_path, a)
    assert again.added == 0 and a.read_bytes() == before and a.stat().st_mtime_ns == mtime
    # exclusion log: one row per excluded unit, reasons add up to the waterfall
    log = pd.read_csv(exclusions_path(a)) if suffix == ".csv" else pd.read_parquet(exclusions_path(a))
    wf = {r["step"]: r["excluded"] for r in again.eligibility.waterfall[1:]}
    assert log["reason"].value_counts().to_dict() == {k: v for k, v in wf.items() if v}
    # grow by 10%: earlier rows unchanged, byte-for-byte in CSV
    grown = pd.concat([pop, new_customers(len(pop) // 10, seed=5)], ignore_index=True)
    grown_path = tmp_path / "grown.parquet"
    grown.to_parquet(grown_path)
    res = assign_to_ledger(spec, grown_path, a, assigned_at="2026-02-02")
    old = read_ledger(b, spec.unit)
    new = read_ledger(a, spec.unit)
    assert res.added > 0 and len(new) == len(old) + res.added
    head = new.iloc[: len(old)]
    for c in old.columns:
        assert (head[c].astype(str).to_numpy() == old[c].astype(str).to_numpy()).all(), c
    assert set(new.iloc[len(old):]["assigned_at"].astype(str)) == {"2026-02-02"}
    if suffix == ".csv":
        assert a.read_bytes().startswith(b.read_bytes())


def test_crash_mid_write_leaves_old_ledger(demo_spec, tmp_path, pop, monkeypatch):
    spec = demo_spec
    pop_path = tmp_path / "pop.parquet"
    pop.iloc[:5000].to_parquet(pop_path)
    led = tmp_path / "ledger.parquet"
    assign_to_ledger(spec, pop_path, led)
    before = led.read_bytes()
    pop.to_parquet(pop_path)  # more customers: the next run must write

    def crash(self, path, *a, **k):
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash)
    with pytest.raises(OSError):
        assign_to_ledger(spec, pop_path, led)
    assert led.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.exclusions.parquet", "ledger.parquet", "pop.parquet"]


def _cli(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, pop, capsys):
    pop_path = tmp_path / "pop.parquet"
    pop.to_parquet(pop_path)
    good = write_spec(tmp_path, DEMO_TEXT)
    cases = {
        "weight": (write_spec(tmp_path, DEMO_TEXT.replace("offer = 0.90", "offer = 1.2"), "w.toml"), pop_path, "arms.offer = 1.2"),
        "unit": (good, tmp_path / "nounit.parquet", "has no unit column 'customer_id'"),
        "dupes": (good, tmp_path / "dupes.parquet", "duplicate id"),
    }
    pop.drop(columns=["customer_id"]).to_parquet(tmp_path / "nounit.parquet")
    pd.concat([pop, pop.iloc[:10]]).to_parquet(tmp_path / "dupes.parquet")
    for name, (spec_path, population, message) in cases.items():
        led = tmp_path / f"ledger_{name}.parquet"
        code, out, err = _cli(["assign", str(spec_path), "--population", str(population), "--ledger", str(led)], capsys)
        assert code == 2, name
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
        assert not led.exists() and not exclusions_path(led).exists()
    # a ledger of another experiment
    other = tmp_path / "other.parquet"
    other_spec = write_spec(tmp_path, DEMO_TEXT.replace('name = "demo"', 'name = "other"'), "o.toml")
    assert _cli(["assign", str(other_spec), "--population", str(pop_path), "--ledger", str(other)], capsys)[0] == 0
    before = other.read_bytes(), exclusions_path(other).read_bytes()
    code, out, err = _cli(["assign", str(good), "--population", str(pop_path), "--ledger", str(other)], capsys)
    assert code == 2 and "holds experiment 'other', not 'demo'" in err and err.count("\n") == 1
    assert (other.read_bytes(), exclusions_path(other).read_bytes()) == before
    # a changed salt
    salty = write_spec(tmp_path, DEMO_TEXT.replace('name = "demo"', 'name = "other"').replace(
        'salt = "demo-mortgage-2026q1"', 'salt = "x"'), "s.toml")
    code, out, err = _cli(["assign", str(salty), "--population", str(pop_path), "--ledger", str(other)], capsys)
    assert code == 2 and "different [assignment] salt" in err
    assert (other.read_bytes(), exclusions_path(other).read_bytes()) == before
    # a good run prints the waterfall and --json parses
    code, out, err = _cli(["assign", str(good), "--population", str(pop_path), "--ledger", str(tmp_path / "ok.csv"), "--json"], capsys)
    import json

    assert code == 0 and json.loads(out)["counts"]["control"] > 0


# --------------------------------------------------------------------------- scale and randomness


def test_one_million_customers_pass_srm_and_reasons_add_up():
    pop = simulate_population(1_000_000, seed=2026)
    for stratify in ('["segment"]', "[]"):
        spec = spec_from(**{'stratify = ["segment"]': f"stratify = {stratify}"})
        res = assign(spec, pop)
        srm = res.srm()
        print(f"1M customers, stratify={stratify}: counts {srm.observed}, SRM p = {srm.p_value:.4f}")
        assert not srm.flagged
        e = res.eligibility
        assert sum(r["excluded"] for r in e.waterfall[1:]) == len(e.reasons) == len(pop) - len(res.ledger)
        vc = e.reasons.value_counts()
        assert all(vc[r["step"]] == r["excluded"] for r in e.waterfall[1:])


def test_aa_srm_p_values_are_uniform(full):
    """1,000 A/A splits (different salts) of 10,000 units: SRM p-values ~ U(0, 1) (Kolmogorov-Smirnov)."""
    from uplift.experiment.checks import sample_ratio_mismatch

    n_salts = 1000
    n_units = 40_000 if full else 10_000
    ids = np.arange(1, n_units + 1)
    p = []
    for i in range(n_salts):
        arms = assign_by_weights(ids, f"aa-{i}", {"a": 0.5, "b": 0.5})
        k = int((arms == "a").sum())
        p.append(sample_ratio_mismatch({"a": k, "b": n_units - k}, {"a": 0.5, "b": 0.5}).p_value)
    ks = stats.kstest(p, "uniform")
    print(f"A/A: {n_salts} salts x {n_units} units, KS statistic {ks.statistic:.4f}, p = {ks.pvalue:.3f}; "
          f"share of SRM p < 0.05: {np.mean(np.array(p) < 0.05):.3f}")
    assert ks.pvalue > 0.01
    assert abs(np.mean(np.array(p) < 0.05) - 0.05) < 0.025


def test_stratified_assignment_reproduced_in_sql(demo_spec, pop):
    """The same stratified arms computed entirely in DuckDB SQL: sha256, row_number() within the
    stratum ordered by the hash, and the largest-remainder control count."""
    import duckdb

    spec = demo_spec
    res = assign(spec, pop)
    eligible = res.eligibility.eligible[["customer_id", "segment"]].assign(segment=lambda d: d.segment.astype(str))
    con = duckdb.connect()
    con.register("eligible", eligible)
    sql = """
    WITH h AS (
        SELECT customer_id, segment,
               ('0x' || left(sha256('demo-mortgage-2026q1:' || CAST(customer_id AS VARCHAR)), 16))::UBIGINT AS h
        FROM eligible),
    r AS (
        SELECT *, row_number() OVER (PARTITION BY segment ORDER BY h) - 1 AS rk,
               count(*) OVER (PARTITION BY segment) AS n
        FROM h),
    c AS (
        SELECT *, floor(0.1 * n) AS f0, floor(0.9 * n) AS f1 FROM r)
    SELECT customer_id,
           CASE WHEN rk < f0 + CASE WHEN n - f0 - f1 = 1 AND (0.1 * n - f0) >= (0.9 * n - f1) THEN 1 ELSE 0 END
                THEN 'control' ELSE 'offer' END AS arm
    FROM c ORDER BY customer_id
    """
    got = con.execute(sql).df()
    led = res.ledger.sort_values("customer_id")
    assert (got["customer_id"].to_numpy() == led["customer_id"].to_numpy()).all()
    assert (got["arm"].to_numpy() == led["arm"].astype(str).to_numpy()).all()


def test_bad_id_late_in_the_file_is_a_data_error(demo_spec, pop):
    spec = demo_spec
    bad = pop.copy()
    bad["customer_id"] = bad["customer_id"].astype(float)
    bad.loc[len(bad) - 1, "customer_id"] = 2.5
    with pytest.raises(DataError, match="not a whole number"):
        assign(spec, bad)
