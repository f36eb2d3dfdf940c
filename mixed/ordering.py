"""The order in which a search raises layers: a sensitivity view's ranking, or a greedy one built on it.

static: the view's ranking as it is (each layer judged with every other layer at the low widths).
greedy: step by step, the candidate whose raising lowers the proxy error of the current plan the most is raised
next. Raising one layer changes what the next one is worth (a wide layer after a narrow one passes on the narrow
one's error), which the static ranking cannot see. Candidates are the first `pool` layers of the static ranking
not raised yet, which bounds the cost at pool forward passes of the proxy images per step.
"""
from typing import Callable

import torch
from torch import nn
from tqdm import tqdm

from calib import QuantConfig, recompute_ranges
from sensitivity.analysis import first_output

ORDERINGS = ("greedy", "static")


def greedy_order(model: nn.Module, low: QuantConfig, high_bits: tuple[int, int], ranking: list[str], steps: int,
                 x: torch.Tensor, error: Callable[[torch.Tensor], float], pool: int = 16,
                 progress: bool = True) -> tuple[list[str], list[float]]:
    """(the first `steps` layers in greedy order, the proxy error after each step). The model's ranges are left
    at `low`'s widths."""
    chosen: list[str] = []
    errors: list[float] = []
    try:
        for _ in tqdm(range(min(steps, len(ranking))), desc="greedy order", unit="layer", disable=not progress):
            candidates = [name for name in ranking if name not in chosen][:pool]
            scored = []
            for name in candidates:
                recompute_ranges(model, low.with_layer_bits({layer: high_bits for layer in [*chosen, name]}))
                scored.append((error(first_output(model, x)), name))
            best_error, best = min(scored)
            chosen.append(best)
            errors.append(best_error)
    finally:
        recompute_ranges(model, low)
    return chosen, errors
