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
# <!-- The readout template. `uplift readout` executes it with papermill on the kernel named
#      in uplift.readout.render.KERNEL_NAME and exports it with inputs hidden. Open it in Jupyter
#      (jupytext) to explore a readout interactively: set the parameters below and run all. -->

# %% tags=["parameters"]
spec_path = ""  # empty: the bundled demo spec
outcomes_path = ""
ledger_path = ""
population_path = ""
results_path = "results.json"
engine = "auto"
history_paths = []  # results.json of earlier looks, oldest first (`uplift readout --history`)
history_labels = []
language = ""  # empty: [experiment] language

# %%
import html
import io

from uplift.data.files import write_json_atomic
from uplift.demo import DEMO_SPEC
from uplift.readout.look_history import load_looks
from uplift.readout.render import analyse_inputs
from uplift.spec import load_spec

# the analysis first (the engine scans while the statistics import), the charting libraries after it
spec = load_spec(spec_path or DEMO_SPEC)
language = language or spec.experiment.language
earlier = [(label, res) for label, (_, res) in zip(history_labels or history_paths, load_looks(history_paths))]
analysis = analyse_inputs(spec, outcomes_path or None, ledger_path or None, population_path or None, engine=engine,
                          history=earlier)
results = analysis.to_results(language)  # aggregates only: row-level data goes no further than the analysis
write_json_atomic(results, results_path)

# %%
import matplotlib.pyplot as plt
from IPython.display import HTML, Image, display

from uplift.readout import duty as duty
from uplift.readout import money as money
from uplift.readout import monitoring as monitoring
from uplift.readout import report as report
from uplift.readout.charts import forest_plot, funnel_chart, style
from uplift.readout.provenance import manifest_table
from uplift.readout.design_check import design_box
from uplift.readout.timing import timing_chart, timing_section
from uplift.readout.timing import funnel_days_table
from uplift.readout import look_history as look_history
from uplift.text import localize, set_language, t

set_language(language)
style()
currency = results["provenance"].get("currency", "EUR")
greyed = bool((results.get("srm") or {}).get("flagged"))
wrap = (lambda h: f'<div class="greyed">{h}</div>') if greyed else (lambda h: h)


def show(fig):
    """Embed a figure as PNG (no timestamps in the file, so renders are byte-identical) and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    display(Image(buf.getvalue()))


# %%
display(HTML(t("<h1>Readout: {name}</h1>", name=html.escape(results['experiment'])) + report.header(results)
             + manifest_table(results)))

# %% [markdown]
# ## Decision

# %%
display(HTML(report.decision_box(results) + duty.duty_alert(results)))

# %% [markdown]
# ## Health: is the split trustworthy?

# %%
display(HTML(report.health(results) + design_box(results)))

# %% [markdown]
# ## Primary metrics

# %%
primary = [r for r in results["metrics"] if r.get("primary")]
display(HTML(wrap(report.metric_table(primary, currency, adjusted_label=report.adjustment_label(primary)))))
display(HTML(report.sequential_note(results)))
display(HTML(wrap(monitoring.primary_bayes(primary, currency))))
display(HTML(wrap(monitoring.always_valid_table(results["metrics"], currency))))
if results.get("look_history"):
    display(HTML("<h3>Look history: always-valid intervals at each look</h3>"))
    for row in results["look_history"]["rows"]:
        if any(r.get("primary") and r.get("metric") == row["metric"] for r in results["metrics"]):
            show(look_history.history_chart(results["look_history"], row, look_history.is_rate(results, row["metric"])))
    display(HTML(wrap(look_history.history_section(results["look_history"], results))))

# %%
for block in results.get("conversion_timing") or []:
    display(HTML(t("<h3>Conversion over time: {metric}</h3>", metric=html.escape(block['metric']))))
    show(timing_chart(block))
    display(HTML(wrap(timing_section(block))))
if results.get("funnel_days"):
    display(HTML(wrap(funnel_days_table(results["funnel_days"]))))

# %% [markdown]
# ## Guardrails

# %%
display(HTML(wrap(report.guardrail_table(results.get("guardrails") or [], currency))))

# %% [markdown]
# ## Secondary metrics (exploratory, FDR-adjusted)

# %%
secondary = [r for r in results["metrics"] if not r.get("primary")]
display(HTML(wrap(report.metric_table(secondary, currency, adjusted_label=report.adjustment_label(secondary)))))
if secondary:
    display(HTML(t('<p class="muted">Exploratory: p-values are adjusted for the false discovery rate '
                   '(Benjamini-Hochberg) and do not enter the decision.</p>')))

# %% [markdown]
# ## Precision achieved

# %%
display(HTML(report.precision(results)))

# %% [markdown]
# ## Funnel

# %%
if results.get("funnel") and results["funnel"].get("rates"):
    show(funnel_chart(results["funnel"]))
display(HTML(wrap(report.funnel_table(results))))

# %% [markdown]
# ## Segments

# %%
seg = results.get("segments") or {}
seg_rows = report.segment_rows(results)
if seg_rows:
    display(HTML(t('<div class="box warn"><div class="status">Multiplicity warning</div><p>Many segments are '
                   'compared at once: some will look different by chance. Treat segment effects as hypotheses '
                   'for the next test; p-values are Benjamini-Hochberg adjusted.</p></div>')))
    rows = [dict(r, label=f"{r['column']} = {r['segment']} ({r['arm']})") for r in seg_rows]
    show(forest_plot(rows, t("Effect on {metric} by segment ({ci})", metric=seg.get('metric', t('the primary metric')),
                             ci=report.ci_label(seg_rows)),
                     percent=report.is_rate(seg_rows[0])))
display(HTML(wrap(report.segments_table(results, currency))))

# %% [markdown]
# ## Finance: incremental value

# %%
display(HTML(wrap(money.finance(results, currency))))
display(HTML(wrap(report.catalogue(results))))

# %% [markdown]
# ### Customer lifetime value

# %%
if analysis.clv is not None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    analysis.clv.plot_survival(axes[0])
    analysis.clv.plot_cumulative_value(axes[1], currency=currency)
    fig.tight_layout()
    show(fig)
display(HTML(wrap(report.clv_summary(results, currency))))
if analysis.clv is not None and (results["clv"] or {}).get("retention_by_products"):
    fig, ax = plt.subplots(figsize=(7, 3.6))
    analysis.clv.plot_retention_by_products(ax)
    fig.tight_layout()
    show(fig)
    display(HTML(t('<p class="muted">Retention by number of products held: customers with more products '
                   'stay longer, which is why a cross-sell is worth more than its first-year margin.</p>')))

# %% [markdown]
# ## Targeting: whom to offer next

# %%
if analysis.targeting is not None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    analysis.targeting.plot_qini(axes[0])
    analysis.targeting.plot_profit_by_depth(axes[1])
    fig.tight_layout()
    show(fig)
display(HTML(money.targeting(results, currency)))

# %% [markdown]
# ## Consumer Duty: outcomes by customer group

# %%
display(HTML(wrap(duty.duty_section(results))))

# %% [markdown]
# ## Methods appendix

# %%
display(HTML(report.methods(results)))
for note in results.get("notes", []):
    display(HTML(f'<p class="muted">{html.escape(localize(note))}</p>'))
