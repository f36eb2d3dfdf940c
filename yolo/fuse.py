"""Deployment-form fusion: the model PTQ works on is the fused one.

Protocol: a module with a deployment form defines `fuse()` (fold its BatchNorm, re-parameterise its branches, fold
implicit terms) and changes itself in place; `fuse_modules` calls it on every such module. A family may replace
this with its own `Family.fuse`; `yolo.registry.fuse_model` uses the model's family when it has one.
"""
import torch
from torch import nn


@torch.no_grad()
def fuse_conv_and_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new Conv2d computing bn(conv(x)) in eval mode, in float64 for the folding arithmetic."""
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)
    fused = fused.to(conv.weight.device, conv.weight.dtype)
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    w = conv.weight.double() * scale.view(-1, 1, 1, 1)
    b = conv.bias.double() if conv.bias is not None else torch.zeros_like(bn.running_mean, dtype=torch.float64)
    b = (b - bn.running_mean.double()) * scale + bn.bias.double()
    fused.weight.copy_(w.to(conv.weight.dtype))
    fused.bias.copy_(b.to(conv.weight.dtype))
    return fused


def fuse_modules(model: nn.Module) -> nn.Module:
    """Call `fuse()` on every submodule that has one (eval mode first); returns the model. Idempotent."""
    model.eval()
    for module in list(model.modules()):
        fuse = getattr(module, "fuse", None)
        if module is not model and callable(fuse):
            fuse()
    return model
