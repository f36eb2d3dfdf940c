"""Settings every test shares."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def single_torch_thread():
    # The CI/dev machines have 2 cores, often shared with other jobs: with 2 OpenMP threads every small torch op
    # waits at a barrier for a descheduled thread (measured 100x slower searches). One thread is predictable.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
