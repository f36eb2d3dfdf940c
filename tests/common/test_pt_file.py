"""The allow-list .pt reader: crafted files never run code (any protocol, any format, any depth), data loads."""
import builtins
import collections
import io
import os
import pickle
import subprocess
import zipfile

import numpy as np
import pytest
import torch

from common.errors import QYoloError
from common.pt_file import read_pt


class _Call:
    """Pickles as a call of `func(*args)`: what a crafted checkpoint uses to run code when loaded."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _attacks(marker):
    command = f"touch {marker}"
    return {
        "os.system": (_Call(os.system, command), "system"),
        "eval": (_Call(builtins.eval, f"__import__('os').system({command!r})"), "builtins.eval"),
        "exec": (_Call(builtins.exec, f"open({str(marker)!r}, 'w')"), "builtins.exec"),
        "getattr": (_Call(builtins.getattr, collections.OrderedDict, "fromkeys"), "builtins.getattr"),
        "subprocess": (_Call(subprocess.check_call, ["touch", str(marker)]), "subprocess.check_call"),
        "open": (_Call(open, str(marker), "w"), "open"),
        "torch.load": (_Call(torch.load, str(marker)), "torch.serialization.load"),
        "nested torch.storage": (_Call(torch.storage._load_from_bytes, b"x"), "torch.storage._load_from_bytes"),
        "numpy.load": (_Call(np.load, str(marker)), "numpy"),
    }


def _nested(payload):
    """The payload deep inside a checkpoint-like tree: a dict in a list in a module's attribute."""
    block = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.SiLU())
    block[0].extra = [{"deep": collections.OrderedDict(hook=payload)}]
    return {"epoch": 3, "model": block, "opt": {"imgsz": 640}}


def _saved(obj, protocol, zipped=True) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, pickle_protocol=protocol, _use_new_zipfile_serialization=zipped)
    return buffer.getvalue()


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("protocol", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("attack", sorted(_attacks("x")))
@pytest.mark.parametrize("where", ["top", "nested"])
def test_crafted_checkpoint_is_refused_before_it_runs(tmp_path, attack, protocol, zipped, where):
    marker = tmp_path / "owned"
    payload, global_name = _attacks(marker)[attack]
    path = tmp_path / "evil.pt"
    path.write_bytes(_saved(payload if where == "top" else _nested(payload), protocol, zipped))
    with pytest.raises(QYoloError, match=r"refers to the Python global \S*" + global_name.split(".")[-1]) as info:
        read_pt(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_raw_pickle_is_refused_before_it_runs(tmp_path, protocol):
    """A plain pickle (no torch container) is read by torch as a legacy file: its first pickle is ours to refuse."""
    marker = tmp_path / "owned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Call(os.system, f"touch {marker}"), protocol=protocol))
    with pytest.raises(QYoloError, match="system"):
        read_pt(path)
    assert not marker.exists()


def _stack_global_pickle(module: str, name: str, arg: str) -> bytes:
    """A protocol-4 pickle calling module.name(arg), the global given as two strings (STACK_GLOBAL) as pickle
    itself writes it; `name` may be dotted, which a plain find_class resolves attribute by attribute."""
    def text(value: str) -> bytes:
        raw = value.encode()
        return b"\x8c" + bytes([len(raw)]) + raw

    return b"\x80\x04" + text(module) + text(name) + b"\x93" + text(arg) + b"\x85R."


def test_dotted_names_are_refused(tmp_path):
    marker = tmp_path / "owned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(_stack_global_pickle("collections", "os.system", f"touch {marker}"))
    with pytest.raises(QYoloError, match=r"collections\.os\.system"):
        read_pt(path)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_archive_is_refused(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Identity()), path)
    with pytest.raises(QYoloError, match="TorchScript"):
        read_pt(path)


def _legit():
    torch.manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.LeakyReLU(0.1),
                                torch.nn.Upsample(scale_factor=2.0), torch.nn.MaxPool2d(3))
    return {"model": block.half(), "best_fitness": np.float64(0.25), "metrics": np.arange(4, dtype=np.float32),
            "names": {0: "person", 1: "car"}, "opt": {"imgsz": [640, 640], "path": __import__("pathlib").Path("a")},
            "date": __import__("datetime").datetime(2024, 1, 2), "blob": b"\x00\x01", "ids": {1, 2},
            "shape": torch.Size([1, 3]), "dtype": torch.float16, "param": torch.nn.Parameter(torch.ones(2)),
            "ns": __import__("argparse").Namespace(imgsz=320), "ordered": collections.OrderedDict(a=torch.zeros(1))}


def _same(a, b) -> bool:
    if isinstance(a, torch.nn.Module):
        return type(a) is type(b) and _same(a.state_dict(), b.state_dict())
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return type(a) is type(b) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return type(a) is type(b) and _same(vars(a), vars(b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("protocol", [1, 2, 3, 4, 5])
def test_checkpoint_content_loads_exactly(protocol, zipped):
    """Tensors (fp16 too), parameters, torch.nn modules, numpy values, option records, dates, paths, bytes, sets:
    equal to what an unrestricted torch.load returns, in every format and protocol torch itself reads."""
    data = _saved(_legit(), protocol, zipped)
    reference = torch.load(io.BytesIO(data), weights_only=False)
    assert _same(read_pt("legit.pt", data=data), reference)


def test_torch_1x_zip_layout_loads(tmp_path):
    """torch 1.6-1.x wrote the zip format without byteorder and serialization-id records."""
    written = zipfile.ZipFile(io.BytesIO(_saved(_legit(), 2)))
    path = tmp_path / "torch1.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name in written.namelist():
            inner = name.split("/", 1)[1]
            if inner not in ("byteorder", ".data/serialization_id"):
                archive.writestr(f"archive/{inner}", b"3\n" if inner == "version" else written.read(name))
    assert _same(read_pt(path), _legit())


def test_unreadable_inputs_are_one_line(tmp_path):
    with pytest.raises(QYoloError, match="does not exist"):
        read_pt(tmp_path / "missing.pt")
    with pytest.raises(QYoloError, match="is a folder"):
        read_pt(tmp_path)
    fifo = tmp_path / "fifo.pt"
    os.mkfifo(fifo)
    with pytest.raises(QYoloError, match="not a regular file"):
        read_pt(fifo)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(_saved(_legit(), 2)[:300])
    with pytest.raises(QYoloError, match="corrupt, truncated"):
        read_pt(truncated)
