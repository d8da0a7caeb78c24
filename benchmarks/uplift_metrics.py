"""Speed of uplift evaluation and targeting, against scikit-uplift in the same process.

Run manually:  .venv/bin/python benchmarks/uplift_metrics.py [--n 1000000]

Prints wall-clock times and ratios (ours / sklift) for the Qini coefficient, AUUC,
uplift@k and uplift by decile on the same input, the bootstrap of the Qini coefficient
(ours: weights on the once-sorted data; naive: re-sorting each resample with sklift), and
the whole ``targeting_analysis`` on the demo-sized simulation (100,000 customers, 90%
offer). Not part of the test suite: speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _time(f, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--boot", type=int, default=50)
    ap.add_argument("--skip-targeting", action="store_true")
    args = ap.parse_args()

    from uplift.targeting import sklift_adapter as _sklift
    from uplift.targeting import evaluation as ev

    sk = _sklift.metrics()
    rng = np.random.default_rng(0)
    n = args.n
    t = rng.integers(0, 2, n)
    s = rng.normal(size=n)
    y = (rng.random(n) < 0.05 + 0.02 * t * (s > 0)).astype(int)
    print(f"n = {n:,}")
    rows = [
        ("qini coefficient", lambda: ev.qini_coefficient(y, s, t), lambda: sk.qini_auc_score(y, s, t)),
        ("AUUC", lambda: ev.auuc(y, s, t), lambda: sk.uplift_auc_score(y, s, t)),
        ("uplift@0.3", lambda: ev.uplift_at_k(y, s, t, k=0.3), lambda: sk.uplift_at_k(y, s, t, strategy="overall", k=0.3)),
        ("uplift by decile", lambda: ev.uplift_by_decile(y, s, t), lambda: sk.uplift_by_percentile(y, s, t, std=True)),
    ]
    print(f"{'metric':<20}{'ours (s)':>10}{'sklift (s)':>12}{'ratio':>8}")
    for name, ours, ref in rows:
        a, b = _time(ours), _time(ref)
        print(f"{name:<20}{a:>10.3f}{b:>12.3f}{a / b:>8.2f}")

    B = args.boot
    m = min(n, 100_000)
    yb, sb, tb = y[:m], s[:m], t[:m]

    def ours_boot():
        ev.evaluate_uplift(yb, sb, tb, n_boot=B, ks=(), random_baseline=False)

    def naive_boot():
        r = np.random.default_rng(1)
        for _ in range(B):
            i = r.integers(0, m, m)
            sk.qini_auc_score(yb[i], sb[i], tb[i])

    a, b = _time(ours_boot, 1), _time(naive_boot, 1)
    print(f"{'bootstrap Qini+AUUC':<20}{a:>10.3f}{b:>12.3f}{a / b:>8.2f}   ({B} resamples of {m:,}; sklift: re-sort per resample, Qini only)")

    if not args.skip_targeting:
        from uplift.simulate import simulate
        from uplift.spec import load_spec
        from uplift.targeting.analyse import targeting_analysis

        spec = load_spec("experiments/demo.toml")
        sim = simulate(100_000, seed=11, arms={"control": 0.1, "offer": 0.9})
        t0 = time.perf_counter()
        r = targeting_analysis(spec, sim.population, sim.outcomes, "arm", "control")
        t1 = time.perf_counter() - t0
        t0 = time.perf_counter()
        targeting_analysis(spec, sim.population, sim.outcomes, "arm", "control", n_threads=None)
        t2 = time.perf_counter() - t0
        print(f"targeting_analysis, 100,000 customers, 5 models, 200 bootstrap: {t1:.1f} s (1 thread), "
              f"{t2:.1f} s (library default threads); chosen {r.model}")


if __name__ == "__main__":
    main()
