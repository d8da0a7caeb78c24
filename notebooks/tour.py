# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A tour of the flow, from Python
#
# The same functions the `uplift` command and the readout call: a spec, a simulated bank,
# the design, the assignment, the analysis, and the figures of results.json. Open it with
# Jupyter (jupytext) and run all; `tests/test_notebooks.py` runs it with a real kernel.

# %% tags=["parameters"]
customers = 40_000
seed = 1

# %%
import uplift
from uplift.demo import DEMO_SPEC
from uplift.simulate import simulate_outcomes, simulate_population

spec = uplift.load_spec(DEMO_SPEC)
print(spec.experiment.hypothesis)
print(f"confidence {spec.analysis.confidence:.0%}, alpha {spec.design.alpha}, arms {dict(spec.arms)}")

# %% [markdown]
# ## Design: customers per arm, MDE and power for the spec's metrics

# %%
population = simulate_population(customers, seed=seed, target_product="mortgage")
print(uplift.design_experiment(spec, population).summary())

# %% [markdown]
# ## Assignment: exclusions with reasons, then salted-hash arms

# %%
assignment = uplift.assign(spec, population)
ledger = assignment.ledger
print(ledger["arm"].value_counts().to_string())

# %% [markdown]
# ## The campaign runs (simulated), then one analysis gives every figure of the readout

# %%
assigned = population.merge(ledger[[spec.unit, "arm"]], on=spec.unit)
outcomes, truth = simulate_outcomes(assigned.drop(columns=["arm"]), assigned["arm"].to_numpy(), seed=seed,
                                    control=spec.control)
analysis = uplift.analyse(spec, outcomes.drop(columns=["arm"]), ledger=ledger, population=population)
print(analysis.metrics.summary())

# %%
results = analysis.to_results()
row = next(r for r in results["metrics"] if r["primary"])
print(f"{row['metric']} ({row['arm']} vs {row['control']}): {row['abs_effect']:+.4f} "
      f"[{row['abs_ci'][0]:+.4f}, {row['abs_ci'][1]:+.4f}], p = {row['p_value']:.3g}; {row['method']}")
print(f"SRM p-value {results['srm']['p_value']:.3f}; results.json schema {results['schema_version']}")

# %% [markdown]
# ## The same analysis where the rows live: a Parquet file read by the embedded DuckDB

# %%
import tempfile
from pathlib import Path

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "outcomes.parquet"
    outcomes.drop(columns=["arm"]).to_parquet(path, index=False)
    on_file = uplift.analyse(spec, path, ledger=ledger, population=population).to_results()
same = next(r for r in on_file["metrics"] if r["primary"])
print(f"in memory {row['abs_effect']:.12f}, DuckDB {same['abs_effect']:.12f}")
