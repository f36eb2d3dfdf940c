"""YOLOv7 family: layouts and parameter counts, fusion equivalence, upstream parity, checkpoint errors, the
trained fixture."""
import dataclasses
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from common.errors import QYoloError
from common.pt_file import read_pt
from yolo.checkpoint import load_model
from yolo.families.yolov7_configs import yolov7_cfg
from yolo.families.yolov7_modules import IDetect, RepConv
from yolo.registry import build_model, family_of, family_of_model, fuse_model

PARITY = Path(__file__).parent / "data" / "yolov7_parity"
# Parameter counts of WongKinYiu/yolov7's Model(cfg/training/<name>.yaml) (nc 80), training form.
UPSTREAM_TRAINING_PARAMS = {"yolov7-tiny": 6_228_762, "yolov7": 37_622_682, "yolov7x": 71_347_394}


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial BN statistics and implicit terms, so fusion has something to fold."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=gen) * 0.4 - 0.2)
            if type(m).__name__ in ("ImplicitA", "ImplicitM"):
                m.implicit.add_(torch.randn(m.implicit.shape, generator=gen) * 0.1)
    return model.eval()


@pytest.mark.parametrize("name", list(UPSTREAM_TRAINING_PARAMS))
def test_training_form_parameter_counts_equal_upstream(name):
    cfg = yolov7_cfg(name)
    assert family_of(cfg).name == "yolov7"
    assert _params(build_model(cfg)) == UPSTREAM_TRAINING_PARAMS[name]


def test_reference_records_the_same_upstream_counts():
    counts = read_pt(PARITY / "reference.pt")["upstream_param_counts"]
    assert {k: counts[k] for k in UPSTREAM_TRAINING_PARAMS} == UPSTREAM_TRAINING_PARAMS


@pytest.mark.parametrize("name,width", [("yolov7", 0.125), ("yolov7-tiny", 0.25), ("yolov7x", 0.0625)])
def test_fused_equals_unfused(name, width):
    model = _randomise(build_model(yolov7_cfg(name, nc=4, width_multiple=width)))
    x = torch.rand(2, 3, 96, 64)
    with torch.no_grad():
        before = model(x)[0]
        fuse_model(model)
        after = model(x)[0]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert all(hasattr(m, "rbr_reparam") for m in model.modules() if isinstance(m, RepConv))
    assert not any(hasattr(m, "ia") for m in model.modules() if isinstance(m, IDetect))
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-3), (before - after).abs().max()


def test_repconv_reparameterisation_is_exact_in_float64():
    """A brute-force check of the folded kernel: identity + 1x1 + 3x3 branches as one 3x3 conv."""
    block = _randomise(RepConv(8, 8, 3, 1)).double()
    x = torch.randn(1, 8, 9, 7, dtype=torch.float64)
    with torch.no_grad():
        ref = block(x)
        block.fuse()
        out = block(x)
    assert torch.allclose(ref, out, atol=1e-10)


@pytest.mark.parametrize("name", ["yolov7", "yolov7-tiny"])
@pytest.mark.parametrize("fuse", [False, True])
def test_forward_equals_upstream_on_an_upstream_written_checkpoint(name, fuse):
    """Checkpoints and outputs written by WongKinYiu/yolov7's own code (Model, ModelEMA, strip_optimizer)."""
    ref = read_pt(PARITY / "reference.pt")
    entry = ref["models"][name]
    model = load_model(PARITY / entry["file"], fuse=fuse)
    assert "models.yolo" not in sys.modules and model.family == "yolov7"
    assert model.names == [f"c{i}" for i in range(entry["nc"])]
    with torch.no_grad():
        pred = model(ref["input"].float())[0]
    expected = entry["fused" if fuse else "unfused"]
    diff = (pred - expected).abs().max().item()
    print(f"{name} {'fused' if fuse else 'unfused'}: max abs diff vs upstream {diff:.3g}")
    assert pred.shape == expected.shape
    assert torch.allclose(pred, expected, rtol=1e-5, atol=1e-4), diff


def _renamed_block_checkpoint(tmp_path: Path, old: bytes, new: bytes) -> Path:
    """The upstream-written checkpoint with one block type renamed in its pickle (same length: a valid pickle)."""
    path = tmp_path / "yolov7-odd.pt"
    with zipfile.ZipFile(PARITY / "yolov7-w0.03125.pt") as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                assert old in data and len(old) == len(new)
                data = data.replace(old, new)
            dst.writestr(info, data)
    return path


def test_truncated_yolov7_checkpoint_is_one_clear_error(tmp_path):
    bad = tmp_path / "yolov7-truncated.pt"
    bad.write_bytes((PARITY / "yolov7-w0.03125.pt").read_bytes()[:30000])
    with pytest.raises(QYoloError, match="corrupt, truncated"):
        load_model(bad)


def test_unknown_module_type_in_a_yolov7_checkpoint_is_one_clear_error(tmp_path):
    """The yaml inside the checkpoint names a block no family defines: the error names it and the file."""
    path = _renamed_block_checkpoint(tmp_path, b"SPPCSPC", b"SPPCSPX")
    with pytest.raises(QYoloError, match=r"yolov7-odd\.pt uses module type\(s\) \['SPPCSPX'\]"):
        load_model(path)


@pytest.mark.parametrize("content", ["truncated", "unknown"])
def test_cli_bad_yolov7_checkpoint_exits_2_with_one_line(tmp_path, content):
    if content == "truncated":
        path = tmp_path / "bad.pt"
        path.write_bytes((PARITY / "yolov7-w0.03125.pt").read_bytes()[:30000])
    else:
        path = _renamed_block_checkpoint(tmp_path, b"SPPCSPC", b"SPPCSPX")
    out = tmp_path / "x.onnx"
    result = subprocess.run([sys.executable, "-m", "export", "--weights", str(path), "--out", str(out),
                             "--profile", "fp32"], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert ("truncated" if content == "truncated" else "SPPCSPX") in lines[0]


def test_trained_fixture_loads_and_detects_the_shapes(tmp_path):
    """The committed yolov7-tiny fixture loads as YOLOv7 (IDetect, LeakyReLU) and scores well on the first 16
    validation images (regenerated with the val split's own seed: the same images)."""
    from eval import EvalConfig, evaluate
    from yolo.fixture import FIXTURE_IMGSZ, FIXTURE_YOLOV7_TINY
    from yolo.synthetic import DEFAULT_SPLITS, generate_split

    model = load_model(FIXTURE_YOLOV7_TINY)
    assert family_of_model(model).name == "yolov7" and model.names[:2] == ["circle", "square"]
    assert any(isinstance(m, IDetect) for m in model.modules())
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in model.modules())
    _, annotations = generate_split(tmp_path, "val", dataclasses.replace(DEFAULT_SPLITS["val"], n_images=16),
                                    progress=False)
    metrics = evaluate(EvalConfig(model=FIXTURE_YOLOV7_TINY, data=annotations, imgsz=FIXTURE_IMGSZ, progress=False,
                                  backend_options={"threads": 1}))
    print(f"yolov7-tiny fixture, 16 val images: AP {100 * metrics['AP']:.1f}, AP50 {100 * metrics['AP50']:.1f}")
    assert metrics["num_images"] == 16 and metrics["AP"] > 0.6  # 0.721 when committed
