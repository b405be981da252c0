"""False-positive rate of `cvalues compare` at equal accuracy, with uneven question groups.

Two runs with the same expected accuracy whose hard questions differ: each question q has 2-8
items (both orders, several pairs); each run draws its own per-question accuracy p_q from the same
distribution (a question easy for one model may be hard for the other), and items are right with
probability p_q. Any "significant" acc difference is a false positive; the target is 5% ± 3%.
The old item-level McNemar test is run on the same data for contrast.

    PYTHONPATH=src python benchmarks/compare_false_positives.py [--sims 1000] [--questions 30]
"""

from __future__ import annotations

import argparse
import random
import time

from cvalues.report.compare import compare_values
from cvalues.report.paired_stats import mcnemar_exact


def simulate_pair(rng: random.Random, n_questions: int) -> list[tuple[str, str, float, float]]:
    """One pair of runs' per-item correctness: (question, domain, A correct, B correct)."""
    pairs = []
    for q in range(n_questions):
        size = rng.randint(2, 8)
        p_a = rng.choice((0.15, 0.9, 0.95))  # mean 2/3 for both runs; the hard questions differ
        p_b = rng.choice((0.15, 0.9, 0.95))
        for _ in range(size):
            pairs.append((f"q{q}", "all", float(rng.random() < p_a), float(rng.random() < p_b)))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--n-perm", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20260101)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    cluster_hits = mcnemar_hits = 0
    started = time.perf_counter()
    for sim in range(args.sims):
        pairs = simulate_pair(rng, args.questions)
        result = compare_values("acc", pairs, n_boot=args.n_perm, seed=sim)
        cluster_hits += result.significant
        a_only = sum(1 for p in pairs if p[2] > p[3])
        b_only = sum(1 for p in pairs if p[3] > p[2])
        mcnemar_hits += mcnemar_exact(a_only, b_only) < 0.05
    elapsed = time.perf_counter() - started
    print(f"{args.sims} simulated pairs of runs, {args.questions} questions of 2-8 items, equal accuracy")
    print(f"sign-flip over questions (cvalues compare): {cluster_hits / args.sims:.1%} called significant")
    print(f"item-level McNemar (before):                 {mcnemar_hits / args.sims:.1%} called significant")
    print(f"{elapsed:.1f} s")


if __name__ == "__main__":
    main()
