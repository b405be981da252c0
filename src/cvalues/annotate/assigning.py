"""Which annotators label which items, and in what order: balanced, K distinct people per item,
each person's order shuffled with a seed (the same task and seed always give the same plan)."""

from __future__ import annotations

import random
from collections.abc import Sequence


def plan_assignments(
    n_items: int, annotators: Sequence[str], per_item: int, seed: int
) -> dict[str, list[int]]:
    """Annotator name -> the item indexes they label, in their own shuffled order.

    Every item goes to ``per_item`` distinct annotators, chosen among those with the fewest items
    so far (ties broken at random), so workloads differ by at most one item.
    """
    if per_item < 1:
        raise ValueError(f"per_item must be at least 1, got {per_item}")
    if len(set(annotators)) != len(annotators):
        raise ValueError("annotator names must be distinct")
    if per_item > len(annotators):
        raise ValueError(f"{per_item} annotators per item, but only {len(annotators)} available")
    rng = random.Random(seed)
    load = dict.fromkeys(annotators, 0)
    plan: dict[str, list[int]] = {name: [] for name in annotators}
    for index in range(n_items):
        chosen = sorted(annotators, key=lambda name: (load[name], rng.random()))[:per_item]
        for name in chosen:
            load[name] += 1
            plan[name].append(index)
    for name, indexes in plan.items():
        # A string seed per person: everyone sees a different order, and it is reproducible.
        random.Random(f"{seed}:{name}").shuffle(indexes)
    return plan
