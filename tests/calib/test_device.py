"""Calibration on a CUDA device: statistics and ranges stay on the tensors' device and agree with the CPU."""
import copy

import pytest
import torch
from torch import nn

from calib import QuantConfig, collect_and_compute, quantize_model, quantizers

pytestmark = pytest.mark.gpu


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
@pytest.mark.parametrize("method,scheme", [("uh", "asym"), ("uh", "sym"), ("entropy", "sym"), ("minmax", "asym")])
def test_cuda_calibration_matches_cpu(method, scheme):
    torch.manual_seed(0)
    cpu_model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.SiLU(), nn.Conv2d(16, 16, 3, padding=1), nn.SiLU(),
                              nn.MaxPool2d(5, 1, 2), nn.Conv2d(16, 8, 1))
    gpu_model = copy.deepcopy(cpu_model).cuda()
    batches = [torch.randn(4, 3, 32, 32) for _ in range(3)]
    config = QuantConfig(method=method, scheme=scheme, a_bits=4)
    for model in (cpu_model, gpu_model):
        quantize_model(model, config)
        collect_and_compute(model, batches, progress=False)
    gpu_quantizers = dict(quantizers(gpu_model))
    for name, cpu_q in quantizers(cpu_model):
        gpu_q = gpu_quantizers[name]
        assert gpu_q.amax.is_cuda
        assert torch.allclose(gpu_q.amax.cpu(), cpu_q.amax, rtol=1e-3), name
    hist = gpu_model[2].input_quantizer.calibrator
    if hasattr(hist, "positive"):
        assert hist.positive.counts.is_cuda
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(gpu_model(x.cuda()).cpu(), cpu_model(x), atol=1e-2)
