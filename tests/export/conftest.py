"""Fixtures shared by the export tests."""
import numpy as np
import pytest


@pytest.fixture(scope="module")
def calib_images(tmp_path_factory):
    """A folder of four random 96x128 images: enough to calibrate the thin test checkpoints."""
    import cv2

    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("calib")
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.jpg"), (rng.random((96, 128, 3)) * 255).astype(np.uint8))
    return folder
