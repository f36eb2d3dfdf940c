"""Model classes matched to dataset classes by name where both sides have names."""
import pytest

from common.errors import QYoloError
from yolo.classes import has_real_names, match_class_names


def test_same_order_or_no_names_is_positional():
    assert match_class_names(["a", "b"], ["a", "b"], "m", "d") is None
    assert match_class_names(["a", "b"], ["a", "b", "c"], "m", "d") is None  # a dataset with more classes after
    assert match_class_names(["0", "1"], ["car", "dog"], "m", "d") is None  # a model built without names
    assert match_class_names(["car", "dog"], None, "m", "d") is None
    assert not has_real_names(["class0", "class_1", "2"]) and has_real_names(["0", "dog"])


def test_another_order_is_matched_by_name_with_one_warning(capsys):
    mapping = match_class_names(["car", "dog", "traffic_light"], ["Traffic light", "car", "bus", "dog"], "m.pt",
                                "d.json")
    assert mapping == [1, 3, 0]
    (line,) = capsys.readouterr().err.splitlines()
    assert "another order" in line and "model class 0 'car' is dataset class 1" in line


def test_a_model_class_the_dataset_does_not_name_is_refused():
    with pytest.raises(QYoloError, match=r"the model m\.pt has class 1 'dog', which the dataset d\.json does not "
                                         r"name"):
        match_class_names(["car", "dog"], ["car", "cat"], "m.pt", "d.json")


def test_repeated_names_with_different_orders_are_refused():
    with pytest.raises(QYoloError, match=r"the dataset d names class\(es\) \['car'\] more than once"):
        match_class_names(["dog", "car"], ["car", "car", "dog"], "m", "d")


def test_other_spellings_at_the_same_positions_stay_positional(capsys):
    """darknet's COCO names against COCO's own: the shared names have not moved, so the rest are spellings."""
    darknet = ["person", "bicycle", "car", "motorbike", "aeroplane", "bus"]
    coco = ["person", "bicycle", "car", "motorcycle", "airplane", "bus"]
    assert match_class_names(darknet, coco, "m", "d") is None
    assert "model class 3 'motorbike' is dataset class 3 'motorcycle'" in capsys.readouterr().err
    with pytest.raises(QYoloError, match="has class 3 'motorbike'"):  # shared names moved: no safe reading
        match_class_names(darknet, ["bicycle", "person", "car", "motorcycle", "airplane", "bus"], "m", "d")
