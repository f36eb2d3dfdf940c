"""yolo.synthetic: a split is deterministic and its annotations describe its images; an encoder that fails is one
line naming the image, not a folder of empty files."""
import json

import cv2
import pytest

from common.errors import QYoloError
from yolo import synthetic
from yolo.synthetic import SyntheticConfig, generate_split


def test_a_split_is_deterministic_and_annotated(tmp_path):
    cfg = SyntheticConfig(n_images=3, seed=5)
    images_a, ann_a = generate_split(tmp_path / "a", "val", cfg, progress=False)
    images_b, ann_b = generate_split(tmp_path / "b", "val", cfg, progress=False)
    names = sorted(p.name for p in images_a.iterdir())
    assert names == ["val_000000.jpg", "val_000001.jpg", "val_000002.jpg"]
    assert all((images_a / n).read_bytes() == (images_b / n).read_bytes() for n in names)
    data = json.loads(ann_a.read_text())
    assert [i["file_name"] for i in data["images"]] == names and data["annotations"]
    for image in data["images"]:
        height, width = cv2.imread(str(images_a / image["file_name"])).shape[:2]
        assert (image["height"], image["width"]) == (height, width)


def test_a_failed_encode_is_one_line_naming_the_image(tmp_path, monkeypatch):
    monkeypatch.setattr(synthetic.cv2, "imencode", lambda *args, **kwargs: (False, None))
    with pytest.raises(QYoloError, match="could not encode val_000000.jpg as JPEG"):
        generate_split(tmp_path, "val", SyntheticConfig(n_images=2, seed=1), progress=False)
    assert not list((tmp_path / "val").iterdir()) and not (tmp_path / "annotations").exists()
