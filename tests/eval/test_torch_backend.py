"""The torch backend with a tiny fake model of known output (no yolo.model): FP32 and calibrated-artifact routes."""
import numpy as np
import pytest
import torch

import calib
import eval.backends.torch_backend as torch_backend
from common.errors import QYoloError
from eval.backends.base import Backend, create_backend
from eval.backends.torch_backend import TorchBackend
from yolo.checkpoint import is_calibrated_artifact


class FakeDetector(torch.nn.Module):
    """Eval forward returns (pred, raw) like YOLOv5: pred [B, 2, 7] = input mean in every slot, plus a constant."""

    def forward(self, x):
        mean = x.mean(dim=(1, 2, 3))[:, None, None]
        pred = mean.expand(-1, 2, 7) + torch.arange(7.0)
        return pred, [torch.zeros(1)]


@pytest.fixture()
def fp32_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    torch.save({"model": "anything"}, path)
    calls = []
    monkeypatch.setattr(torch_backend, "load_model",
                        lambda p, device="cpu": calls.append((str(p), device)) or FakeDetector().eval())
    return path, calls


def test_fp32_checkpoint_runs_the_loaded_model(fp32_file):
    path, calls = fp32_file
    backend = create_backend("torch", path)
    assert isinstance(backend, Backend) and isinstance(backend, TorchBackend)
    assert calls == [(str(path), "cpu")] and backend.precision == "fp32" and backend.input_size is None
    assert backend.quantization == {}
    batch = np.stack([np.full((3, 32, 32), 0.25, np.float32), np.full((3, 32, 32), 0.5, np.float32)])
    out = backend(batch)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (2, 2, 7)
    assert np.allclose(out[0, 1], 0.25 + np.arange(7)) and np.allclose(out[1, 0], 0.5 + np.arange(7))
    backend.close()


def test_calibrated_artifact_goes_through_calib(tmp_path, monkeypatch):
    path = tmp_path / "uh-asym-w4a8.pt"
    torch.save({"format": "q-yolo-calibrated", "state": {}}, path)
    assert is_calibrated_artifact(path)
    meta = {"method": "uh", "scheme": "asym", "w_bits": 4, "a_bits": 8, "ranges": {}}  # as load_calibrated gives
    monkeypatch.setattr(calib, "load_calibrated", lambda p: (FakeDetector(), meta), raising=False)
    backend = create_backend("torch", path)
    assert backend.precision == "fakequant-uh-asym-w4a8"
    assert backend.quantization == {"method": "uh", "scheme": "asym", "w_bits": 4, "a_bits": 8}
    assert not backend.model.training
    assert backend(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 2, 7)


def test_not_calibrated_and_bad_requests(fp32_file):
    path, _ = fp32_file
    assert not is_calibrated_artifact(path)
    with pytest.raises(QYoloError, match="unknown options"):
        create_backend("torch", path, fancy=True)
    if not torch.cuda.is_available():
        with pytest.raises(QYoloError, match="CUDA is not available"):
            create_backend("torch", path, device="cuda")
