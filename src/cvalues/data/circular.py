"""Circular evaluation (CircularEval, as in MMBench): ask a lettered item once per rotation of its options.

A model that knows the answer picks it wherever it stands; one that favours a position does not.
Rotation ``k`` of an item with N options shows option ``(j + k) mod N`` at position ``j``, so the
right answer visits every letter exactly once over the N rotations. The rotations share a
``pair_id`` (``circular:<id>``), which is what the consistency metric groups by: the share of items
answered right in all N rotations.
"""

from __future__ import annotations

from dataclasses import replace

from cvalues.data.items import OPTION_LETTERS, MCDataset, MCItem

CIRCULAR_SUFFIX = "+circular"


def rotated(item: MCItem, k: int) -> MCItem:
    """Rotation ``k`` of a lettered item; rotation 0 keeps the item's id, others get ``<id>@r<k>``."""
    n = len(item.options)
    options = tuple(item.options[(j + k) % n] for j in range(n))
    answer = (OPTION_LETTERS.index(item.label) - k) % n
    return replace(
        item,
        id=item.id if k == 0 else f"{item.id}@r{k}",
        options=options,
        label=OPTION_LETTERS[answer],
        pair_id=f"circular:{item.id}",
        prompt=None,
        rotation=k,
    )


def circular_items(items: list[MCItem]) -> list[MCItem]:
    """Every lettered item in all its rotations (item by item); 回复1/回复2 items are left as they are."""
    out: list[MCItem] = []
    for item in items:
        if item.kind != "letters":
            out.append(item)
            continue
        out.extend(rotated(item, k) for k in range(len(item.options)))
    return out


def circular_dataset(dataset: MCDataset) -> MCDataset:
    """The dataset with its lettered items asked in every rotation (``--circular``).

    Its name says so (``<name>+circular``): a run directory made without rotations is not
    silently resumed with them, and results.json tells the two apart.
    """
    return replace(dataset, name=f"{dataset.name}{CIRCULAR_SUFFIX}", items=circular_items(dataset.items))
