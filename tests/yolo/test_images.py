"""read_image: decoded BGR or one clear error naming the file."""
import cv2
import numpy as np
import pytest

from common.errors import QYoloError
from yolo.images import list_images, read_image


def test_reads_bgr(tmp_path):
    img = np.zeros((4, 6, 3), np.uint8)
    img[..., 2] = 200  # red channel in BGR
    cv2.imwrite(str(tmp_path / "a.png"), img)
    got = read_image(tmp_path / "a.png")
    assert got.shape == (4, 6, 3) and (got[..., 2] == 200).all() and (got[..., 0] == 0).all()


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(QYoloError, match=r"cannot decode image .*broken\.jpg.*corrupt or not an image"):
        read_image(bad)
    with pytest.raises(QYoloError, match=r"missing\.jpg does not exist"):
        read_image(tmp_path / "missing.jpg")


def test_list_images_is_recursive_and_sorted(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("sub/b.JPG", "a.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a.png", "sub/b.JPG"]
