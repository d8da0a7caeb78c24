"""How long does simulating 1,000,000 customers (population + outcomes + truth) take?

Target: under 15 s on a 2-core machine. Usage: python benchmarks/simulate_1m.py [N]
"""

from __future__ import annotations

import resource
import sys
import time

from uplift.simulate import simulate, simulate_outcomes, simulate_population


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    t0 = time.perf_counter()
    pop = simulate_population(n, seed=1)
    t1 = time.perf_counter()
    arms = (pop["customer_id"] % 10 == 0).map({True: "control", False: "offer"}).to_numpy()
    simulate_outcomes(pop, arms, seed=1)
    t2 = time.perf_counter()
    simulate(n, seed=1)  # the full call, including salted-hash assignment
    t3 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"customers: {n:,}")
    print(f"population: {t1 - t0:.2f} s   outcomes + truth: {t2 - t1:.2f} s   total: {t2 - t0:.2f} s (target < 15 s)")
    print(f"simulate() with SHA-256 assignment: {t3 - t2:.2f} s")
    print(f"peak RSS: {peak:.2f} GiB")


if __name__ == "__main__":
    main()
