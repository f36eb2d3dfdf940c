"""Settings every test shares."""
import os
import tempfile

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


@pytest.fixture(autouse=True, scope="session")
def scratch_temp_folder(tmp_path_factory):
    """Temporary files of the code under test (and of helpers that cache exports for the session) go under
    pytest's own temporary folder, which pytest prunes to the last few runs, never loose in the system's."""
    folder = str(tmp_path_factory.mktemp("tmp"))
    previous, previous_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = folder
    yield
    tempfile.tempdir = previous
    if previous_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = previous_env
