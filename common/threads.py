"""torch's CPU thread count for the length of a stage: set on entry when asked, restored on exit (a stage called
from a longer-lived process must not leave its own setting behind)."""
import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with `threads` torch CPU threads (None or 0: leave torch's setting as it is)."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
