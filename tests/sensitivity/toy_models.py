"""A toy model with one deliberately fragile layer, for the sensitivity and mixed-precision tests."""
import torch
from torch import nn


def fragile_toy(outlier: float = 1000.0) -> nn.Sequential:
    """conv "0" writes channel 5 about `outlier` times larger than the others; conv "2" reads it with a zero
    weight, so the float output does not depend on it, but a per-tensor low-bit grid over conv "2"'s input spans
    that channel's range and rounds every other channel to zero: quantizing conv "2" is what hurts. No biases after
    the stem, so the output is what the layers compute from the input. The other layers see ordinary ranges."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))
    with torch.no_grad():
        model[0].weight[5] *= outlier
        model[0].bias[5] = outlier
        model[2].weight[:, 5] = 0.0
        for index in (2, 4, 6):
            model[index].bias.zero_()
    return model
