"""COCO and YOLO dataset layouts, the 80 -> 91 class mapping, the calibration sampler, and bad input."""
import json

import cv2
import numpy as np
import pytest

from common.errors import QYoloError
from yolo.datasets import COCO80_TO_COCO91, open_dataset, sample_calibration_images


def _coco_json(path, file_names, categories=((3, "square"), (7, "other"))):
    images = [{"id": i, "file_name": f, "width": 64, "height": 48} for i, f in enumerate(file_names, start=1)]
    anns = [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 10, 20], "area": 200, "iscrowd": 0}]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": c, "name": n} for c, n in categories]}))
    return path


def _write_images(folder, names, shape=(48, 64)):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        cv2.imwrite(str(folder / name), np.zeros((*shape, 3), np.uint8))


def test_coco80_to_coco91_known_ids():
    assert len(COCO80_TO_COCO91) == 80 and len(set(COCO80_TO_COCO91)) == 80
    # person 1, stop sign (class 11) 13, backpack (24) 27, dining table (60) 67, toothbrush (79) 90
    assert [COCO80_TO_COCO91[i] for i in (0, 11, 24, 60, 79)] == [1, 13, 27, 67, 90]


@pytest.mark.parametrize("image_folder", ["val2017", "images/val2017"])
def test_coco_folder_layouts(tmp_path, image_folder):
    _coco_json(tmp_path / "annotations" / "instances_val2017.json", ["a.jpg", "b.jpg"])
    _write_images(tmp_path / image_folder, ["a.jpg", "b.jpg"])
    for given in (tmp_path, tmp_path / "annotations" / "instances_val2017.json"):
        ds = open_dataset(given)
        assert [r.path for r in ds.images] == [tmp_path / image_folder / "a.jpg", tmp_path / image_folder / "b.jpg"]
        assert (ds.images[0].width, ds.images[0].height) == (64, 48)
        assert ds.class_to_category == [3, 7] and ds.names == ["square", "other"]
        assert ds.coco.getAnnIds(imgIds=[1]) == [1]


def test_not_coco_json_names_the_file_and_missing_keys(tmp_path):
    bad = tmp_path / "instances_val.json"
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(QYoloError, match=r"instances_val\.json is not a COCO detection JSON.*annotations"):
        open_dataset(bad)
    bad.write_text("{ truncated")
    with pytest.raises(QYoloError, match=r"cannot read annotation file .*instances_val\.json"):
        open_dataset(bad)


def test_dataset_without_images_is_a_clear_error(tmp_path):
    _coco_json(tmp_path / "annotations" / "instances_val.json", ["a.jpg"])  # no image folder at all
    with pytest.raises(QYoloError, match="cannot find the images"):
        open_dataset(tmp_path)
    _coco_json(tmp_path / "annotations" / "instances_val.json", [])
    with pytest.raises(QYoloError, match="lists no images"):
        open_dataset(tmp_path)
    (tmp_path / "plain").mkdir()
    with pytest.raises(QYoloError, match="no annotations/instances_"):
        open_dataset(tmp_path / "plain")
    with pytest.raises(QYoloError, match="does not exist"):
        open_dataset(tmp_path / "nowhere")


def test_yolo_layout_maps_80_classes_to_coco_ids(tmp_path):
    _write_images(tmp_path / "images" / "val", ["a.jpg"], shape=(100, 200))
    (tmp_path / "labels" / "val").mkdir(parents=True)
    (tmp_path / "labels" / "val" / "a.txt").write_text("11 0.5 0.5 0.1 0.2\n")
    names = "[" + ", ".join(f"c{i}" for i in range(80)) + "]"
    (tmp_path / "data.yaml").write_text(f"path: {tmp_path}\nval: images/val\nnames: {names}\n")
    ds = open_dataset(tmp_path / "data.yaml")
    (ann,) = ds.coco.dataset["annotations"]
    assert ann["category_id"] == 13  # class 11 (stop sign) is COCO id 13: id 12 is unused
    assert ann["bbox"] == pytest.approx([90, 40, 20, 20])
    assert ds.class_to_category[79] == 90


def test_yolo_layout_txt_list_polygons_and_a_corrupt_image(tmp_path, capsys):
    _write_images(tmp_path / "images" / "val", ["a.png", "b.png"], shape=(100, 200))
    (tmp_path / "images" / "val" / "bad.png").write_bytes(b"not a png")
    (tmp_path / "labels" / "val").mkdir(parents=True)
    # a polygon row (yolov5 segment labels) becomes its bounding box; b.png has no label file: background image
    (tmp_path / "labels" / "val" / "a.txt").write_text("1 0.1 0.2 0.5 0.2 0.3 0.6\n")
    (tmp_path / "val.txt").write_text("./images/val/a.png\n./images/val/bad.png\n./images/val/b.png\n")
    (tmp_path / "data.yaml").write_text("val: val.txt\nnames: {0: cat, 1: dog}\n")  # path defaults to the yaml's folder
    ds = open_dataset(tmp_path / "data.yaml")
    assert [r.path.name for r in ds.images] == ["a.png", "b.png"]  # the corrupt one is skipped, with a warning
    assert "skipping image" in capsys.readouterr().err and "bad.png" not in str(ds.coco.dataset["images"])
    (ann,) = ds.coco.dataset["annotations"]
    assert ann["category_id"] == 2 and ann["bbox"] == pytest.approx([20, 20, 80, 40])  # identity + 1 for 2 classes
    assert ds.names == ["cat", "dog"]


def test_yolo_label_with_unknown_class_names_the_file(tmp_path):
    _write_images(tmp_path / "images", ["a.png"])
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("5 0.5 0.5 0.1 0.1\n")
    (tmp_path / "data.yaml").write_text("val: images\nnames: [a, b]\n")
    with pytest.raises(QYoloError, match=r"a\.txt line 1"):
        open_dataset(tmp_path / "data.yaml")


def test_sampler_is_seeded_and_warns_when_short(tmp_path, capsys):
    _write_images(tmp_path / "imgs" / "nested", [f"{i}.png" for i in range(6)], shape=(8, 8))
    a = sample_calibration_images(tmp_path / "imgs", 3, seed=1)
    assert a == sample_calibration_images(tmp_path / "imgs", 3, seed=1) and len(set(a)) == 3
    assert {tuple(sample_calibration_images(tmp_path / "imgs", 3, seed=s)) for s in range(6)} != {tuple(a)}
    assert len(sample_calibration_images(tmp_path / "imgs", 50)) == 6
    assert "has 6 images, fewer than the 50 asked" in capsys.readouterr().err


def test_sampler_from_a_dataset_and_bad_sources(tmp_path):
    _coco_json(tmp_path / "annotations" / "instances_val.json", ["a.jpg", "b.jpg"])
    _write_images(tmp_path / "val", ["a.jpg", "b.jpg"])
    assert sample_calibration_images(tmp_path, 2) == [tmp_path / "val" / "a.jpg", tmp_path / "val" / "b.jpg"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(QYoloError, match=r"no images .* in .*empty"):
        sample_calibration_images(tmp_path / "empty", 10)
    with pytest.raises(QYoloError, match="does not exist"):
        sample_calibration_images(tmp_path / "missing", 10)
    with pytest.raises(ValueError, match="got 0"):
        sample_calibration_images(tmp_path, 0)


def _edited_coco(tmp_path, edit, sizes=((48, 64), (30, 40), (20, 80))):
    """Three real images of different sizes and a COCO JSON for them, changed by `edit(data)`."""
    names = [f"{i}.jpg" for i in range(len(sizes))]
    for name, shape in zip(names, sizes):
        _write_images(tmp_path / "val2017", [name], shape)
    path = _coco_json(tmp_path / "annotations" / "instances_val2017.json", names)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


def test_coco_images_without_width_height_are_measured_from_the_files(tmp_path):
    def drop_sizes(data):
        for entry in data["images"]:
            del entry["width"], entry["height"]
    ds = open_dataset(_edited_coco(tmp_path, drop_sizes))
    assert [(r.width, r.height) for r in ds.images] == [(64, 48), (40, 30), (80, 20)]
    assert [ds.coco.imgs[i]["width"] for i in (1, 2, 3)] == [64, 40, 80]


def test_coco_image_without_file_name_names_the_entry(tmp_path):
    path = _edited_coco(tmp_path, lambda data: data["images"][1].pop("file_name"))
    with pytest.raises(QYoloError, match=r"instances_val2017\.json: images\[1\] \(id 2\) has no file_name; every "
                                         r"image entry needs an id and a file_name"):
        open_dataset(path)


def test_a_missing_first_image_does_not_hide_the_folder(tmp_path):
    """The folder is found from any of the first images; the missing one is left to the per-image warning."""
    def first_missing(data):
        data["images"][0]["file_name"] = "gone.jpg"
    ds = open_dataset(_edited_coco(tmp_path, first_missing))
    assert [r.path.name for r in ds.images] == ["gone.jpg", "1.jpg", "2.jpg"]
    assert ds.images[1].path == tmp_path / "val2017" / "1.jpg"
