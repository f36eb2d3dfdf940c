"""MatMul: a matrix product as a module, so quantization rules can find it by type.

A model that writes `a @ b` inline leaves nothing for a module-replacing quantizer to wrap; one that holds
`self.qk = MatMul()` and calls `self.qk(a, b)` computes the same thing and lets calib.quantize_model swap in a
QuantMatMul (fake-quantized inputs) when asked. Here, not in yolo/ or calib/, because both import it.
"""
import torch
from torch import nn


class MatMul(nn.Module):
    """torch.matmul(a, b); no parameters, so state_dict keys of the model are unchanged."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)
