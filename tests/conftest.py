"""Settings and small datasets every test shares."""
import json
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
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


def _square_coco(root: Path, categories=None, square_id: int = 3, images: int = 2) -> Path:
    """`images` 64x64 images with a white square at x, y 16..48 under root/val, and their COCO JSON
    (root/annotations/instances_val.json) annotating it as category `square_id`."""
    (root / "val").mkdir(parents=True, exist_ok=True)
    entries, anns = [], []
    for i in range(1, images + 1):
        img = np.zeros((64, 64, 3), np.uint8)
        img[16:48, 16:48] = 255
        cv2.imwrite(str(root / "val" / f"{i}.jpg"), img)
        entries.append({"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 64})
        anns.append({"id": i, "image_id": i, "category_id": square_id, "bbox": [16, 16, 32, 32], "area": 1024,
                     "iscrowd": 0})
    (root / "annotations").mkdir(exist_ok=True)
    path = root / "annotations" / "instances_val.json"
    categories = categories or [{"id": square_id, "name": "square"}, {"id": 7, "name": "other"}]
    path.write_text(json.dumps({"images": entries, "annotations": anns, "categories": categories}))
    return path


@pytest.fixture(scope="session")
def square_coco():
    """The writer of a tiny COCO dataset of known content: square_coco(root, categories=None, square_id=3)."""
    return _square_coco


@pytest.fixture(params=["10", "11"], ids=["trt10", "trt11"])
def trt(request, monkeypatch):
    """The TensorRT stand-in (tests/trt_standin) as the `tensorrt` module, once per TensorRT generation (10: the
    image's 10.8; 11: 11.1), on the stand-in GPU."""
    from trt_standin import GENERATIONS, StandInGpu, install_standin
    from trt_standin.cuda import installed

    assert sorted(GENERATIONS) == ["10", "11"], "the generations above must be the stand-in's"
    gpu = StandInGpu()
    module = install_standin(monkeypatch, request.param, gpu)
    with installed(gpu):
        yield module


@pytest.fixture
def gpu(trt):
    """The stand-in GPU the `trt` fixture's module runs on."""
    return trt.__standin__.gpu
