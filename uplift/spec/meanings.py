"""What every spec key means, with an example: the words of the spec reference.

The key, its type, default and range live in :data:`uplift.spec.schema.SCHEMA` (once);
this module holds only the words: a meaning and an example value per key, a line per
section, the rules that tie keys together, and a complete example spec.
``tests/test_spec_reference.py`` checks that every key of the schema has a meaning here
and no meaning is left for a key the schema does not have. The reference
(``docs/spec-reference.md``) and the editor schema (``docs/spec.schema.json``) are
generated from both by :mod:`uplift.spec.reference`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CROSS_FIELD_RULES", "EXAMPLE_SPEC", "KEYS", "SECTIONS", "PROGRAMME_KEYS", "PROGRAMME_SECTIONS"]

SECTIONS: dict[str, str] = {
    "experiment": "What is tested, on which unit, when and in which currency. Required.",
    "population": "Default input files, so commands need no file flags. Paths are read relative to the spec's folder.",
    "exclude": "Exclusion rules, one `[[exclude]]` table each, applied in order to the units still eligible; "
               "the first rule a unit matches is its recorded reason. `uplift design` shows the waterfall, "
               "`uplift assign` records it.",
    "assignment": "Salted-hash assignment of the eligible units into arms (`uplift assign`). Leave it out for a test "
                  "randomised elsewhere and use `[analysis] arm_column` and `control`.",
    "design": "The test's error rates, the effect it must detect and how units arrive (`uplift design`; the readout's "
              "precision and group-sequential looks).",
    "metrics": "Success metrics, one `[[metrics]]` table each; at least one has `primary = true` (the first "
               "primary sizes the test; the primaries drive the decision, Holm-adjusted).",
    "guardrails": "Metrics the offer must not harm, one `[[guardrails]]` table each: a one-sided non-inferiority "
                  "test at alpha/2 against the margin.",
    "funnel": "The 0/1 stage columns of the outcomes in order; the readout shows the effect at each stage.",
    "economics": "The columns and unit costs behind incremental profit and ROI.",
    "clv": "Customer lifetime value from tenure and churn (Kaplan-Meier, extrapolated), and its increment.",
    "analysis": "How a readout is computed: arms read from the data, segments, balance covariates, confidence.",
    "targeting": "The uplift model behind `uplift target`: whom to offer next, at what expected profit.",
    "fairness": ("The Consumer Duty panel of the readout and of `uplift target`'s page: outcomes per customer group "
                 "and arm, harm flags, and the next wave's make-up by group."),
}

# (section, key) -> (meaning, example value)
KEYS: dict[tuple[str, str], tuple[str, Any]] = {
    ("experiment", "name"): (("The experiment's name; names the report folder and is recorded in the ledger. "
                             "Letters, digits, '-', '_' and '.' only."), "card-2026q2"),
    ("experiment", "unit"): (("The column holding the unit id (one row per unit) in the population, outcomes and "
                             "ledger."), "customer_id"),
    ("experiment", "hypothesis"): ("The hypothesis in one sentence, shown at the top of the readout.",
                                   "A credit card offer raises card take-up within 6 months."),
    ("experiment", "owner"): ("Who owns the experiment (team or person), shown in the readout.", "Cards team"),
    ("experiment", "start_date"): (("First day of the campaign (YYYY-MM-DD). The ledger's assigned_at by default; "
                                   "with data_as_of it bounds tenure."), "2026-04-06"),
    ("experiment", "end_date"): ("Last day of the campaign (YYYY-MM-DD), shown in the readout.", "2026-05-31"),
    ("experiment", "data_as_of"): ("The day the outcome data was cut (YYYY-MM-DD): the end of the outcome window.",
                                   "2026-11-30"),
    ("experiment", "currency"): ("Currency of every money column and cost, shown with the figures.", "EUR"),
    ("experiment", "target_product"): ("The product offered, in words (for the readout).", "credit card"),
    ("experiment", "primary_product"): (("What every analysed customer already holds (the holdings declaration). "
                                        "Only with it does the readout show cross-sell measures (cross-sell rate, "
                                        "attach rate, products per customer)."), "current account"),
    ("experiment", "programme"): (("The programme spec this campaign belongs to (its global holdout, contact policy and "
                                   "registry; `uplift assign` applies them). Empty: a campaign on its own."),
                                  "programme.toml"),
    ("experiment", "registry"): (("A registry folder where `uplift assign` and `uplift readout` record this campaign "
                                  "(default: the programme's). Empty: nothing recorded."), "registry"),
    ("experiment", "language"): (("The language of readout.html and design.html: \"en\" (English) or \"zh\" "
                                 "(Simplified Chinese). `--lang` on `uplift readout` and `uplift design` wins over "
                                 "it; results.json is the same in both apart from its language field."), "zh"),
    ("population", "source"): (("The population file or folder (Parquet or CSV): one row per unit before the "
                               "test, with the exclusion, stratification and pre-period columns. The default "
                               "--population of design, assign and target."), "data/population.parquet"),
    ("population", "outcomes"): (("The outcomes file or folder: one row per unit after the test. The default "
                                 "--outcomes of readout and target."), "data/outcomes.parquet"),
    ("population", "format"): (("How to read the files: from the suffix when empty or \"auto\", else \"parquet\" "
                               "or \"csv\" (for files without a suffix or folders of parts)."), "parquet"),
    ("population", "design"): (("The design.json `uplift design --out` wrote for this test: the readout shows its "
                               "hash and flags deviations from it (units per arm short of plan, dates, metrics "
                               "changed since the design)."), "design/design.json"),
    ("exclude", "reason"): ("The reason code recorded for every unit this rule excludes (rules may share one).",
                            "already_holds_product"),
    ("exclude", "column"): ("The population column the rule reads.", "holds_credit_card"),
    ("exclude", "op"): (("The comparison: `column op value` excludes the unit (is_null / not_null take no value; "
                        "in / not_in take a list)."), "=="),
    ("exclude", "value"): ("The value compared with: a number, text or true/false; a list for in / not_in.", 1),
    ("exclude", "description"): ("The rule in words, for the readout and the log.", "Already holds a credit card."),
    ("exclude", "when_missing"): (("A unit whose value is missing (empty or NaN): \"exclude\" it under this rule's "
                                  "reason (we cannot show the rule does not apply, e.g. an unknown opt-out) or "
                                  "\"keep\" it (e.g. days_since_last_contact is empty for a customer never "
                                  "contacted). The waterfall counts these units either way."), "keep"),
    ("assignment", "salt"): (("The secret mixed into the hash: the same salt and unit always give the same arm. "
                             "Change it only for a new experiment."), "card-2026q2"),
    ("assignment", "arms"): ("Arm name = weight (share of the eligible units); the weights add up to 1.",
                             {"control": 0.5, "offer": 0.5}),
    ("assignment", "control"): ("The arm that gets no offer; one of `arms`.", "control"),
    ("assignment", "stratify"): ("Population columns to stratify on: exact arm counts within each stratum.",
                                 ["segment"]),
    ("assignment", "ledger"): ("The default --ledger path of assign, check, readout and target.", "data/ledger.parquet"),
    ("design", "alpha"): ("Two-sided family-wise false-positive rate (split over offer arms by `multiple_arms`).", 0.05),
    ("design", "power"): ("The probability the test must have of detecting the target effect.", 0.8),
    ("design", "mde_relative"): (("The effect to detect as a fraction of the primary metric's baseline: 0.2 is +20% "
                                 "(a value above 1 is refused: did 20 mean 0.2?). Give this or mde_absolute."), 0.2),
    ("design", "mde_absolute"): (("The effect to detect in the primary metric's own unit (0.005 = half a "
                                 "percentage point for a proportion)."), 0.005),
    ("design", "baseline_rate"): (("The primary proportion metric's expected control rate, when the population "
                                  "has no column to estimate it from."), 0.03),
    ("design", "alternative"): (("The direction tested: \"two-sided\", \"larger\" (the offer raises the metric) or "
                                "\"smaller\"."), "two-sided"),
    ("design", "multiple_arms"): ("With several offer arms: \"bonferroni\" splits alpha over them, \"none\" does not.",
                                  "bonferroni"),
    ("design", "weekly_inflow"): (("Eligible units arriving per week when units enter over time (an inflow): the "
                                  "design's duration is n / weekly_inflow weeks. Leave it out for a fixed pool "
                                  "(every eligible unit known at the start and assigned at once): the design then "
                                  "checks the pool holds the n it needs."), 5000),
    ("design", "looks"): (("Planned analyses (1 = fixed horizon; more = group-sequential, O'Brien-Fleming "
                          "boundaries in the readout)."), 1),
    ("design", "spending"): (("Alpha spending over the planned looks: \"obrien-fleming\" (little early), \"pocock\" "
                             "(about equal at every look) or \"power\" (alpha x t^spending_rho); the design prices "
                             "each."), "obrien-fleming"),
    ("design", "spending_rho"): ("The exponent of the power-family spending (alpha x t^rho).", 3.0),
    ("design", "look_fractions"): (("The planned looks as shares of the final sample, increasing, the last 1 "
                                   "(default: equally spaced)."), [0.25, 0.5, 1.0]),
    ("design", "current_look"): ("Which look this readout is (1 .. looks); the final look when not set.", 1),
    ("design", "cuped_rho"): (("Assumed correlation of a metric with its pre-period covariate, for the design's "
                              "CUPED saving when the population has no post-period column."), 0.5),
    ("design", "value_per_conversion"): (("What one incremental conversion of the primary (proportion) metric is "
                                         "worth, net of cannibalisation and cost to serve, before campaign costs "
                                         "([economics] contact_cost, incentive_cost): the design forecasts profit and "
                                         "ROI at the MDE and at prior_effect with it."), 250.0),
    ("design", "prior_effect"): (("The effect you expect on the primary metric, in its own unit (0.004 = +0.4 "
                                 "percentage points), e.g. from past campaigns: the design forecasts profit at it."),
                                 0.004),
    ("design", "prior_sd"): (("Your uncertainty about prior_effect (a normal prior's sd, above 0): the design adds "
                             "the expected profit, the chance of a profit and the assurance (the probability of a "
                             "significant result averaged over the prior)."), 0.002),
    ("metrics", "name"): (("The metric's name in the readout and results.json (unique across metrics and "
                          "guardrails)."), "card_take_up"),
    ("metrics", "kind"): (("\"proportion\" (a 0/1 column), \"mean\" (a numeric column) or \"ratio\" "
                          "(column / denominator, delta method)."), "proportion"),
    ("metrics", "column"): ("The outcomes column measured (the numerator of a ratio).", "opened_card"),
    ("metrics", "denominator"): ("The denominator column of a ratio metric (only for kind = \"ratio\").",
                                 "products_held"),
    ("metrics", "covariate"): (("A pre-period column for CUPED: the effect is adjusted for it (variance x "
                               "(1 - rho^2))."), "revenue_pre_12m"),
    ("metrics", "denominator_covariate"): (("A ratio's pre-period denominator, for CUPED against the pre-period "
                                           "ratio covariate / denominator_covariate."), "products_held_pre"),
    ("metrics", "primary"): ("true on the metrics that decide the test (at least one; the first sizes it).", True),
    ("metrics", "time_column"): (("A proportion metric's days from the customer's start (assignment or contact) to "
                                  "conversion, empty when not converted: the readout estimates the share converted "
                                  "by each day with censoring (with window_days)."), "days_to_conversion"),
    ("metrics", "followup_column"): (("Days each customer has been observed; default: from the ledger's assigned_at "
                                      "to [experiment] data_as_of."), "days_observed"),
    ("metrics", "competing_time_column"): (("Days to an event that ends the chance to convert (closing the "
                                            "relationship, churn), empty when none: Aalen-Johansen incidence."),
                                           "days_to_closure"),
    ("metrics", "window_days"): (("The outcome window the decision is about, in days (1 to 3,650): the effect is "
                                  "read at this day, with the maturity reached."), 90),
    ("metrics", "description"): ("The metric in words, shown in the readout.", "Opened a credit card within 6 months."),
    ("metrics", "unit"): (("How values are shown: \"currency\" (money, in [experiment] currency), \"count\", or empty "
                          "(a plain number; a proportion shows as a rate)."), "currency"),
    ("guardrails", "name"): ("The guardrail's name (unique across metrics and guardrails).", "complaints"),
    ("guardrails", "kind"): ("As for metrics: \"proportion\", \"mean\" or \"ratio\".", "proportion"),
    ("guardrails", "column"): ("The outcomes column watched.", "complaint"),
    ("guardrails", "denominator"): ("The denominator column of a ratio guardrail.", "products_held"),
    ("guardrails", "bad_direction"): ("Which way is harm: \"increase\" (e.g. complaints) or \"decrease\".",
                                      "increase"),
    ("guardrails", "margin"): (("The harm tolerated, in the metric's unit: non-inferior when the harm is shown "
                               "below it. Without it the guardrail fails only if the interval lies wholly on "
                               "the bad side."), 0.005),
    ("guardrails", "description"): ("The guardrail in words, shown in the readout.", "Complaint within 6 months."),
    ("guardrails", "baseline"): (("The expected control rate of a proportion guardrail, for its power in "
                                 "`uplift design` when the population has no such column."), 0.01),
    ("funnel", "stages"): ("The 0/1 stage columns in order, at least two.", ["seen", "accepted", "opened"]),
    ("funnel", "days_columns"): (("Days from the customer's start to each stage, one column per stage in the same "
                                  "order (empty where not reached): the readout shows the median "
                                  "days to each stage per arm."), ["days_to_seen", "days_to_accepted", "days_to_opened"]),
    ("funnel", "followup_column"): ("Days each customer has been observed (needed with days_columns).", "days_observed"),
    ("economics", "margin_column"): ("Per-customer 12-month margin column.", "margin_12m"),
    ("economics", "revenue_column"): ("Per-customer 12-month revenue column.", "revenue_12m"),
    ("economics", "cannibalised_column"): ("Margin lost on products the customer already held.",
                                           "cannibalised_margin_12m"),
    ("economics", "cost_to_serve_column"): ("Cost of serving the customer over the same period.", "service_cost_12m"),
    ("economics", "conversion_column"): (("The 0/1 conversion column the incentive is paid on (default: the "
                                         "primary metric's column when it is 0/1)."), "opened_card"),
    ("economics", "contact_cost"): ("Cost of contacting one customer in an offer arm.", 1.5),
    ("economics", "incentive_cost"): ("Incentive paid per conversion in an offer arm.", 20.0),
    ("economics", "eligible_population"): (("The number of customers the totals are scaled to (default: the "
                                           "analysed customers)."), 250000),
    ("economics", "profit_prior_mean"): (("Prior mean of the net incremental profit per treated customer, for the "
                                         "Bayesian view (e.g. from past campaigns)."), 0.0),
    ("economics", "profit_prior_sd"): (("Prior standard deviation of that profit (above 0); default: the weakly "
                                       "informative unit-information prior, worth one customer."), 5.0),
    ("clv", "tenure_column"): ("Periods each customer was observed since the campaign (whole periods).",
                               "tenure_months"),
    ("clv", "churned_column"): (("1 if the customer churned at the end of their tenure, 0 if still a customer "
                                "(censored)."), "churned"),
    ("clv", "margin_per_period_column"): ("Net margin per customer per period.", "monthly_margin"),
    ("clv", "horizon_periods"): ("Periods the CLV sums over.", 60),
    ("clv", "periods_per_year"): ("Periods in a year (12 for months), for discounting.", 12),
    ("clv", "annual_discount_rate"): ("Annual discount rate as a fraction.", 0.08),
    ("clv", "extrapolation"): (("How survival is extended past the data: \"auto\" (the better fit), \"sbg\" "
                               "(shifted beta-geometric), \"weibull\" or \"none\"."), "auto"),
    ("clv", "margin_timing"): ("Whether a period's margin is earned at its \"end\" or \"start\".", "end"),
    ("clv", "products_column"): ("Products held per customer, for retention by products held.", "products_held"),
    ("clv", "n_bootstrap"): ("Bootstrap resamples checking the CLV interval (0 = none).", 200),
    ("clv", "max_tenure_periods"): (("The longest tenure the data can hold; a larger one is refused. Default: the "
                                    "periods from start_date to data_as_of when both are given, else 100 years."), 24),
    ("clv", "margin_net_of"): (("What margin_per_period_column is already net of: \"cannibalisation\" and/or "
                               "\"cost_to_serve\" ([] = gross of both). The readout states it."),
                               ["cannibalisation", "cost_to_serve"]),
    ("analysis", "arm_column"): (("The outcomes column holding the arm, for a test randomised elsewhere (with "
                                 "control)."), "segment"),
    ("analysis", "control"): ("The control arm's value in arm_column.", "No E-Mail"),
    ("analysis", "segments"): ("Columns the effects are broken down by.", ["segment"]),
    ("analysis", "min_cell_size"): ("Smallest cell shown: a segment cell with fewer units in an arm is suppressed.", 50),
    ("analysis", "max_unmatched_share"): (("Largest share of outcome rows missing from the ledger that is counted "
                                          "and left out; above it the readout stops."), 0.01),
    ("analysis", "covariates"): (("Pre-period columns checked for balance between arms (standardised mean "
                                 "difference)."), ["revenue_pre_12m", "balance"]),
    ("analysis", "prior_mean"): ("Prior mean of each primary metric's absolute effect (chance to beat control).", 0.0),
    ("analysis", "prior_sd"): (("Prior standard deviation of that effect (above 0); default: the weakly informative "
                               "unit-information prior."), 0.01),
    ("analysis", "always_valid"): (("true: every metric row also gets an always-valid interval and p-value (mixture "
                                   "SPRT), valid however often the campaign is looked at; one-sided when [design] alternative is \"larger\" "
                                   "or \"smaller\"."), True),
    ("analysis", "always_valid_tuning_n"): (("The sample size (both arms) where the always-valid interval is "
                                            "narrowest."), 5000),
    ("analysis", "decision"): (("Which p-values the ship rule tests: \"fixed-horizon\" or \"always-valid\" "
                               "(needs always_valid = true)."), "fixed-horizon"),
    ("analysis", "confidence"): ("Confidence level of every interval in the readout.", 0.95),
    ("analysis", "weights"): (("The designed arm weights, for the sample-ratio check of a test randomised "
                              "elsewhere (default: [assignment] arms)."), {"control": 0.5, "offer": 0.5}),
    ("targeting", "features"): ("Population columns the uplift model uses.", ["segment", "age_band", "balance"]),
    ("targeting", "outcome"): (("The outcome modelled (default: [economics] conversion_column, else the primary metric's "
                                "column)."), "opened_card"),
    ("targeting", "value_column"): ("A per-customer net value column valuing each customer (instead of `value`).",
                                    "net_margin_12m"),
    ("targeting", "model"): (("\"auto\" (compare every model that fits the outcome) or one of solo, two_models, "
                             "class_transformation, x_learner, dr_learner."), "auto"),
    ("targeting", "holdout_share"): ("Share of the test held out to evaluate the model (Qini).", 0.3),
    ("targeting", "max_customers"): ("Above this many customers, models are fitted on a sample of them.", 200000),
    ("targeting", "seed"): ("Random seed of the split, sample and bootstrap.", 7),
    ("targeting", "value_per_conversion"): ("A fixed value of one conversion (instead of `value`).", 250.0),
    ("targeting", "value"): (("What one conversion is worth: \"margin\" (12-month net margin from [economics]) "
                             "or \"clv\" (incremental CLV from [clv])."), "margin"),
    ("targeting", "n_bootstrap"): ("Bootstrap resamples of the holdout's Qini interval.", 200),
    ("targeting", "budget"): (("Next best offer: the campaign budget, contact plus expected incentive cost over the "
                               "list (currency); at least the cost of one contact."), 20000.0),
    ("targeting", "capacity"): (("Next best offer: the most contacts per offer arm (e.g. call-centre slots); each name "
                                 "an offer arm of the test."), {"offer": 5000}),
    ("targeting", "min_profit_per_contact"): (("Next best offer: a (customer, offer) pair is made only if its expected "
                                               "incremental profit is at least this (currency)."), 2.0),
    ("fairness", "group_columns"): (("Population (or outcomes) columns defining customer groups, e.g. age band, "
                                     "vulnerability flag, segment; each needs at least two values."),
                                    ["age_band", "segment"]),
    ("fairness", "harm_columns"): ("0/1 outcome columns where 1 is a harm (complaint, churn).", ["complaint", "churned"]),
    ("fairness", "unsuitable_sale_columns"): (("0/1 outcome columns signalling an unsuitable sale (a product used "
                                               "little or closed early), compared as a share of the sales (customers "
                                               "who converted)."), ["sold_not_used"]),
}

PROGRAMME_SECTIONS: dict[str, str] = {
    "programme": ("A programme of campaigns (`uplift programme`): its global holdout, drawn by salted hash before any "
                  "campaign and excluded from every campaign, and its registry. Required."),
    "contact": "The contact policy across the programme's campaigns, applied by `uplift assign` from the registry's ledgers.",
    "readout": "The programme readout: holdout against everyone else, per-campaign effects and their meta-analysis.",
}

PROGRAMME_KEYS: dict[tuple[str, str], tuple[str, Any]] = {
    ("programme", "name"): ("The programme's name, recorded in its registry.", "cross-sell-2026"),
    ("programme", "unit"): ("The unit id column; every campaign of the programme uses the same unit.", "customer_id"),
    ("programme", "salt"): ("Salt of the holdout's hash; never change it after the start.", "programme-2026"),
    ("programme", "start_date"): ("First day of the programme (YYYY-MM-DD); the holdout is fixed from then.",
                                  "2026-01-05"),
    ("programme", "holdout_share"): (("Share of units in the global holdout (never contacted by any campaign); "
                                      "fixed once the registry exists."), 0.05),
    ("programme", "registry"): ("The registry folder (relative to the programme spec) recording every assignment "
                                "and readout.", "registry"),
    ("programme", "currency"): ("Currency of revenue, profit and CLV.", "EUR"),
    ("contact", "min_days_between"): ("At most one campaign per this many days for a unit (0: no rule); "
                                      "reason `contact_min_days`.", 30),
    ("contact", "max_offers"): ("At most this many offers in `period_days` (0: no limit); reason `contact_max_offers`.", 3),
    ("contact", "period_days"): ("The period of `max_offers`, in days.", 90),
    ("contact", "complaint_column"): ("A population column with the date of the unit's last complaint (empty: none).",
                                      "last_complaint_date"),
    ("contact", "cooloff_days"): ("No offer for this many days after a complaint (0: no rule); reason "
                                  "`complaint_cooloff`.", 60),
    ("readout", "conversion_column"): ("The 0/1 conversion column of the programme's outcomes.", "converted"),
    ("readout", "revenue_column"): ("A revenue column of the outcomes (empty: none).", "revenue_12m"),
    ("readout", "profit_column"): ("A net margin column of the outcomes (empty: none).", "net_margin_12m"),
    ("readout", "clv_column"): ("A customer lifetime value column of the outcomes (empty: none).", "clv"),
    ("readout", "contact_cost"): ("Cost of one contact, subtracted from the incremental profit.", 1.5),
    ("readout", "confidence"): ("Confidence level of every interval of the programme readout.", 0.95),
    ("readout", "meta_method"): ("Between-campaign variance: \"dl\" (DerSimonian-Laird) or \"pm\" (Paule-Mandel).", "dl"),
}

CROSS_FIELD_RULES: tuple[str, ...] = (
    "`[assignment] arms` has 2 to 26 arms, weights adding up to 1, and `control` is one of them.",
    "`[analysis] arm_column` and `control` come together; `[analysis] weights` add up to 1 and include the control.",
    "Without `[assignment]`, `[analysis] arm_column` and `control` say where the arms are.",
    ("`[[exclude]] op`: `is_null` / `not_null` take no value; `in` / `not_in` take a list; `>`, `>=`, `<`, `<=` a "
    "number; `==` / `!=` one value."),
    "Metric and guardrail names are unique; a `ratio` needs a `denominator`, other kinds take none.",
    "`[[metrics]]`: at least one has `primary = true`.",
    "`[funnel] stages` has at least two stages.",
    ("`[design]`: `mde_relative` or `mde_absolute`, not both; `current_look` is at most `looks`; `prior_sd` needs "
     "`prior_effect`."),
    "Unknown sections and keys are errors (with a suggestion): nothing is ignored silently.",
)

EXAMPLE_SPEC = '''\
# Offer a credit card to current-account holders.
[experiment]
name = "card-2026q2"
unit = "customer_id"
hypothesis = "A credit card offer raises card take-up within 6 months without raising complaints."
owner = "Cards team"
start_date = "2026-04-06"
end_date = "2026-05-31"
data_as_of = "2026-11-30"
currency = "EUR"
target_product = "credit card"
primary_product = "current account"

[population]
source = "population.parquet"

[[exclude]]
reason = "marketing_opt_out"
column = "marketing_opt_out"
op = "=="
value = 1

[[exclude]]
reason = "financial_stress"
column = "financial_stress"
op = "=="
value = 1
description = "No credit offers to customers in arrears."

[[exclude]]
reason = "already_holds_product"
column = "holds_credit_card"
op = "=="
value = 1

[assignment]
salt = "card-2026q2"
arms = { control = 0.5, offer = 0.5 }
control = "control"
stratify = ["segment"]
ledger = "ledger.parquet"

[design]
mde_relative = 0.2          # +20% on the take-up rate
baseline_rate = 0.03        # expected take-up without the offer
value_per_conversion = 400  # net margin of one incremental card (before campaign costs)
prior_effect = 0.004        # expected: +0.4 percentage points, from past campaigns
prior_sd = 0.002

[[metrics]]
name = "card_take_up"
kind = "proportion"
column = "opened_card"
primary = true

[[guardrails]]
name = "complaints"
kind = "proportion"
column = "complaint"
margin = 0.005
baseline = 0.01

[economics]
contact_cost = 1.5          # per customer offered the card
eligible_population = 250000
'''
