"""Shared settings for the export tests."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def single_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: one thread is predictable (see tests/calib/conftest.py)
    yield
    torch.set_num_threads(previous)
