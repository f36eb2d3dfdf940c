"""Finding where a network first produces NaN/Inf, so a broken model is reported by layer instead of scoring low."""
import torch
from torch import nn


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)


def all_finite(value) -> bool:
    """True when every tensor in `value` (a tensor or nested tuples/lists of them) is finite."""
    return all(bool(torch.isfinite(t).all()) for t in _tensors(value) if t.is_floating_point())


@torch.no_grad()
def first_non_finite(model: nn.Module, x: torch.Tensor) -> str | None:
    """'model.24.m.0 (Conv2d)': the first module, in execution order, whose output holds NaN/Inf on input `x`.

    Hooks fire as modules finish, innermost first, so the name is the smallest module where it starts.
    None when the whole forward pass stays finite.
    """
    found: list[str] = []
    handles = []
    for name, module in model.named_modules():
        def hook(module, inputs, output, name=name):
            if not found and not all_finite(output):
                found.append(f"{name or 'the model'} ({type(module).__name__})")
        handles.append(module.register_forward_hook(hook))
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else None
