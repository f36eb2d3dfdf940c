"""Which dataset class each model class is: compared by name wherever both sides name their classes.

A model predicts class indices; a dataset scores category ids. Matching them by position alone scores a dataset that
lists the same classes in another order as if every class were another one, without a word. The rule here:
- either side without real names (none given, or the placeholders '0', '1', ... a model gets without names):
  position, as before;
- the same names in the same order: position;
- every model class named in the dataset, in another order (or the dataset has more classes): matched by name,
  with one warning line saying so. The names identify the classes; their order in a file is a convention;
- some names differ but every name both sides share sits at the same position, and they share most names: the
  differences are spellings of the same classes (darknet's 'motorbike' for COCO's 'motorcycle'): position, with
  one warning line naming the first pair;
- otherwise (a model class the dataset does not name while the shared names moved, few shared names, or a name that
  is not unique): refused, naming the class. Its detections could only be scored against the wrong category.
Names compare case-insensitively, with '_', '-' and repeated spaces read as one space ('traffic_light' = 'Traffic
light').
"""
import re
from typing import Sequence

from common.errors import QYoloError
from common.log import get_logger

_PLACEHOLDER = re.compile(r"^(class_?)?\d+$")


def _key(name: str) -> str:
    return " ".join(re.sub(r"[_\-]+", " ", str(name)).lower().split())


def has_real_names(names: Sequence[str] | None) -> bool:
    """False for no names or only the index placeholders a model gets when it was built without names."""
    return bool(names) and not all(_PLACEHOLDER.match(_key(n).replace(" ", "")) for n in names)


def match_class_names(model_names: Sequence[str] | None, data_names: Sequence[str] | None, model_label: str,
                      data_label: str) -> list[int] | None:
    """The dataset class index of each model class, or None when they are matched by position (see above).

    model_label / data_label name both sides in messages (the model's path, the dataset's path).
    """
    if not has_real_names(model_names) or not has_real_names(data_names):
        return None
    model_keys, data_keys = [_key(n) for n in model_names], [_key(n) for n in data_names]
    if model_keys == data_keys[:len(model_keys)]:
        return None
    for side, keys, label in (("model", model_keys, model_label), ("dataset", data_keys, data_label)):
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise QYoloError(f"the {side} {label} names class(es) {repeated} more than once, and its classes differ "
                             f"from the {'dataset' if side == 'model' else 'model'}'s; give unique class names")
    index = {key: i for i, key in enumerate(data_keys)}
    absent = [(i, name) for i, (name, key) in enumerate(zip(model_names, model_keys)) if key not in index]
    shared = [(i, index[key]) for i, key in enumerate(model_keys) if key in index]
    if absent and len(shared) * 2 > len(model_keys) and all(i == j for i, j in shared) and \
            len(data_keys) >= len(model_keys):
        i, name = absent[0]
        get_logger().warning(f"the dataset {data_label} names {len(absent)} of the model's classes differently "
                             f"(e.g. model class {i} {name!r} is dataset class {i} {data_names[i]!r}); every shared "
                             "name is at the same position: matching the classes by position")
        return None
    if absent:
        i, name = absent[0]
        raise QYoloError(f"the model {model_label} has class {i} {name!r}, which the dataset {data_label} does not "
                         f"name ({len(absent)} such class(es); the dataset names {list(data_names)[:10]}); evaluate "
                         "on the dataset the model was trained for, or give the dataset the model's class names")
    mapping = [index[key] for key in model_keys]
    moved = [i for i, j in enumerate(mapping) if i != j]
    get_logger().warning(f"the dataset {data_label} lists the model's classes in another order ({len(moved)} of "
                         f"{len(mapping)} at other positions, e.g. model class {moved[0]} {model_names[moved[0]]!r} "
                         f"is dataset class {mapping[moved[0]]}); matching them by name")
    return mapping
