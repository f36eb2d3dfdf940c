"""Checkpoints never run code through any stage, and every real checkpoint loads exactly as an unrestricted
unpickler reads it (same yaml, names, tensors bit for bit, BatchNorm eps and activations)."""
import io
import os
import pickle
from pathlib import Path

import pytest
import torch

from common.cli import run_cli
from common.errors import QYoloError
from common.pt_file import _pickle_module
from yolo import checkpoint
from yolo.checkpoint import load_model, read_checkpoint

ROOT = Path(__file__).resolve().parents[2]
REAL_CHECKPOINTS = sorted((ROOT / "yolo" / "assets").glob("*.pt")) + sorted(
    p for p in (ROOT / "tests" / "yolo" / "data").rglob("*.pt") if "outputs" not in p.name and p.name != "reference.pt")


def _text(value: str) -> bytes:
    raw = value.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def _call_pickle(module: str, name: str, arg: str, protocol: int) -> bytes:
    """A pickle that calls module.name(arg): GLOBAL (protocols 1-3) or STACK_GLOBAL (4-5), as pickle writes them."""
    if protocol >= 4:
        return b"\x80" + bytes([protocol]) + _text(module) + _text(name) + b"\x93" + _text(arg) + b"\x85R."
    head = b"\x80" + bytes([protocol]) if protocol >= 2 else b""
    return head + b"c" + module.encode() + b"\n" + name.encode() + b"\n(X" + len(arg.encode()).to_bytes(4, "little") \
        + arg.encode() + b"tR."


@pytest.mark.parametrize("protocol", [1, 2, 4, 5])
@pytest.mark.parametrize("module,name", [
    ("models.common.os", "system"),  # os, reached through a module the training code imports
    ("models.common", "os.system"),  # the same as a dotted name (protocol 4 resolves it attribute by attribute)
    ("models.yolo", "attempt_load"),  # a function of the training code, not a class
    ("utils.general", "check_requirements"),
    ("ultralytics.utils.subprocess", "Popen"),
    ("ultralytics.nn.tasks", "torch_safe_load"),
    ("ultralytics.nn.modules.torch.hub", "load"),
    ("__main__", "system"),
    ("builtins", "eval"),
])
def test_globals_on_a_family_package_path_are_refused(tmp_path, module, name, protocol):
    marker = tmp_path / "owned"
    path = tmp_path / "evil.pt"
    path.write_bytes(_call_pickle(module, name, f"touch {marker}", protocol))
    with pytest.raises(QYoloError, match="refers to the Python global " + f"{module}.{name}".replace(".", r"\.")):
        read_checkpoint(path)
    assert not marker.exists()


def test_training_classes_become_inert_stand_ins(tmp_path):
    """A family's real class name is allowed, as an inert stand-in: called with a command it runs nothing."""
    marker = tmp_path / "owned"
    data = _call_pickle("utils.general", "Profile", f"touch {marker}", 2)
    obj = _pickle_module(checkpoint._stand_in).load(io.BytesIO(data))  # the unpickler torch.load is given
    assert type(obj).__module__ == "qyolo_foreign.utils.general" and obj.pickled_args == (f"touch {marker}",)
    assert not marker.exists()


def _permissive_read(path: Path):
    """How the checkpoint was read before the allow-list: stand-ins for the families' classes, every other global
    resolved by pickle's own find_class (test-only: these are the project's own files)."""
    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            return checkpoint._stand_in(module, name) or super().find_class(module, name)

    shim = type("shim", (), {"Unpickler": Unpickler, "__name__": "permissive",
                             "load": staticmethod(lambda f, **kw: Unpickler(f, **kw).load())})
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=shim)


@pytest.mark.parametrize("path", REAL_CHECKPOINTS, ids=lambda p: p.name)
def test_real_checkpoints_load_exactly_as_before(path):
    ours = checkpoint._unpack(read_checkpoint(path), path, None)
    old = _permissive_read(path)
    if old.get("format") == "q-yolo-state-dict":
        expected = (old["yaml"], old["state_dict"], old.get("names"), {}, {})
    else:
        net = old.get("ema") or old["model"]
        names = net.names if isinstance(net.names, list) else [net.names[k] for k in sorted(net.names)]
        eps = {n: m.eps for n, m in net.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
        acts = {n: m.act for n, m in net.named_modules() if isinstance(getattr(m, "act", None), torch.nn.Module)
                and type(m.act).__module__.startswith("torch.nn")}
        expected = (net.yaml, net.state_dict(), names, eps, acts)
    assert ours[0] == expected[0] and ours[2] == expected[2] and ours[3] == expected[3]
    assert ours[1].keys() == expected[1].keys()
    for key, tensor in expected[1].items():
        assert ours[1][key].dtype == tensor.dtype and torch.equal(ours[1][key], tensor), key
    assert {n: (type(a), vars(a).get("negative_slope"), vars(a).get("inplace")) for n, a in ours[4].items()} == \
        {n: (type(a), vars(a).get("negative_slope"), vars(a).get("inplace")) for n, a in expected[4].items()}
    assert all(not a._forward_hooks and not a._forward_pre_hooks for a in ours[4].values())


def _save_with_stand_ins(obj, path: Path) -> None:
    """torch.save a checkpoint read with stand-ins, under its classes' original names (as upstream wrote it)."""
    import sys
    import types

    classes = set(checkpoint._stand_ins.values())
    saved = dict(sys.modules)
    try:
        for cls in classes:
            original = cls.__module__.removeprefix("qyolo_foreign.")
            cls.__module__ = original
            parts = original.split(".")
            for depth in range(1, len(parts) + 1):
                sys.modules.setdefault(".".join(parts[:depth]), types.ModuleType(".".join(parts[:depth])))
            setattr(sys.modules[original], cls.__name__, cls)
        torch.save(obj, path)
    finally:
        for cls in classes:
            cls.__module__ = "qyolo_foreign." + cls.__module__.removeprefix("qyolo_foreign.")
        for name in set(sys.modules) - set(saved):
            del sys.modules[name]


def test_pickled_hooks_never_run(tmp_path):
    """A hook planted in a pickled module's state is neither called while reading nor carried into the model."""
    from yolo.fixture import FIXTURE_YOLOV8N

    ckpt = _permissive_read(FIXTURE_YOLOV8N)
    net = ckpt["model"]
    target = next(m for m in net.modules() if isinstance(getattr(m, "act", None), torch.nn.SiLU))
    target.act._forward_hooks[0] = torch.nn.Identity  # an allowed class: called as a hook it would swap outputs
    net._state_dict_hooks[0] = torch.nn.Identity
    path = tmp_path / "hooked.pt"
    _save_with_stand_ins(ckpt, path)
    model = load_model(path)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x)[0], load_model(FIXTURE_YOLOV8N)(x)[0])


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory, square_coco):
    return square_coco(tmp_path_factory.mktemp("data"), [{"id": 1, "name": "square"}], square_id=1)


def _stage_commands(weights: str, data: Path, out: Path) -> dict:
    from calib.__main__ import main as calib_main
    from calib.plot import main as plot_main
    from eval.__main__ import main as eval_main
    from export.__main__ import main as export_main
    from mixed.__main__ import main as mixed_main
    from sensitivity.__main__ import main as sensitivity_main

    images = str(data.parent.parent / "val")
    common = ["--imgsz", "64", "--no-progress"]
    few = ["--num-images", "2"]
    return {
        "eval": (eval_main, ["--weights", weights, "--data", str(data), "--out", str(out / "eval"), *common]),
        "calib": (calib_main, ["--weights", weights, "--data", images, "--out", str(out / "a.pt"), *few, *common]),
        "export": (export_main, ["--weights", weights, "--profile", "fp32", "--out", str(out / "m.onnx"),
                                 "--imgsz", "64"]),
        "export-artifact": (export_main, ["--artifact", weights, "--out", str(out / "q.onnx"), "--imgsz", "64"]),
        "sensitivity": (sensitivity_main, ["--weights", weights, "--calib-data", images, "--val-data", str(data),
                                           "--out", str(out / "s"), *few, *common]),
        "mixed": (mixed_main, ["--weights", weights, "--calib-data", images, "--val-data", str(data),
                               "--out", str(out / "m"), *few, *common]),
        "calib.plot": (plot_main, ["--weights", weights, "--data", images, "--out", str(out / "p"), *few, *common]),
    }


@pytest.mark.parametrize("stage", ["eval", "calib", "export", "export-artifact", "sensitivity", "mixed", "calib.plot"])
def test_no_stage_runs_code_from_a_checkpoint(tmp_path, tiny_data, capsys, stage):
    marker = tmp_path / "owned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    weights = tmp_path / "evil.pt"
    torch.save({"model": Evil(), "epoch": 1}, weights)
    main, argv = _stage_commands(str(weights), tiny_data, tmp_path / "out")[stage]
    code = run_cli(main, argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "refers to the Python global posix.system" in err and str(weights) in err
    assert not marker.exists()
