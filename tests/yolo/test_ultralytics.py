"""YOLOv8 / YOLO11: parameter counts equal ultralytics', forward parity on checkpoints the ultralytics package wrote
(tests/yolo/data/ultralytics, made by scripts/ultralytics_refs.py with the version recorded there), loading without
the package, family recognition and bad files."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.errors import QYoloError
from common.pt_file import read_pt
from yolo.checkpoint import load_model
from yolo.family import ANCHOR_FREE
from yolo.nms import non_max_suppression
from yolo.registry import build_model, family_of, family_of_model, named_config

DATA = Path(__file__).parent / "data" / "ultralytics"
REFS = read_pt(DATA / "reference_outputs.pt")


def test_references_record_their_ultralytics_version():
    assert REFS["ultralytics_version"] == json.loads((DATA / "param_counts.json").read_text())["ultralytics_version"]


@pytest.mark.parametrize("name", ["yolov8n", "yolov8s", "yolov8m", "yolov8l", "yolov8x",
                                  "yolo11n", "yolo11s", "yolo11m", "yolo11l", "yolo11x",
                                  "yolo26n", "yolo26s", "yolo26m", "yolo26l", "yolo26x",
                                  "yolov10n", "yolov10s", "yolov10m", "yolov10b", "yolov10l", "yolov10x"])
def test_parameter_counts_equal_ultralytics(name):
    expected = json.loads((DATA / "param_counts.json").read_text())["params"][name]
    family = family_of(named_config(name))
    with torch.device("meta"):  # counts only: no memory or init time for the large scales
        layers, _ = family.parse(named_config(name), ch=[3], registry=family.modules)
    assert sum(p.numel() for p in layers.parameters()) == expected


def test_stock_counts_quoted_by_ultralytics():
    counts = json.loads((DATA / "param_counts.json").read_text())["params"]
    assert counts["yolov8n"] == 3_157_200 and counts["yolo11n"] == 2_624_080


@pytest.mark.parametrize("arch", ["yolov8", "yolo11"])
@pytest.mark.parametrize("fuse", [False, True])
def test_forward_equals_ultralytics(arch, fuse):
    model = load_model(DATA / f"{arch}-thin.pt", fuse=fuse)
    assert family_of_model(model).name == arch
    with torch.no_grad():
        pred = model(REFS["image"])[0]
    ref = REFS[f"{arch}_pred_fused" if fuse else f"{arch}_pred"]
    assert pred.shape == ref.shape == (1, 4 + 8, 8 * 12 + 4 * 6 + 2 * 3)
    diff = (pred - ref).abs().max().item()
    print(f"{arch} fuse={fuse}: max abs diff {diff:.3g} (outputs up to {ref.abs().max().item():.3g})")
    assert diff < 1e-4 * max(1.0, ref.abs().max().item())


@pytest.mark.slow
@pytest.mark.parametrize("checkpoint, head", [("yolo11-thin.pt", "Detect"), ("yolov10-thin.pt", "V10Detect")])
def test_loading_does_not_import_ultralytics(checkpoint, head):
    code = ("import sys; from yolo.checkpoint import load_model; "
            f"m = load_model({str(DATA / checkpoint)!r}); "
            "assert not any(k == 'ultralytics' or k.startswith('ultralytics.') for k in sys.modules), 'imported'; "
            "print(type(m).__module__, type(m.detect).__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"yolo.model {head}"


def test_families_recognised_from_the_yaml():
    assert family_of(named_config("yolov8s")).name == "yolov8"
    assert family_of(named_config("yolo11m")).name == "yolo11"
    assert family_of(named_config("yolov5s")).name == "yolov5"
    assert family_of(named_config("yolo11n")).head_layout is ANCHOR_FREE


def test_scale_rules_of_the_parser():
    """C3k2 takes C3k blocks at m/l/x only; YOLOv8's class branch is plain convs, YOLO11's depthwise."""
    m11 = build_model(named_config("yolo11m"))
    assert type(m11.model[2].m[0]).__name__ == "C3k"
    n11 = build_model(named_config("yolo11n"))
    assert type(n11.model[2].m[0]).__name__ == "Bottleneck" and type(n11.model[6].m[0]).__name__ == "C3k"
    assert not n11.detect.legacy and build_model(named_config("yolov8n")).detect.legacy


def test_head_layout_through_nms():
    """[B, 4 + nc, N] rows: one box per anchor column, class scores without objectness."""
    pred = torch.zeros(1, 4 + 3, 4)
    pred[0, :4, 0] = torch.tensor([50.0, 50, 20, 20])
    pred[0, 4 + 2, 0] = 0.9  # class 2
    pred[0, :4, 1] = torch.tensor([52.0, 50, 20, 20])
    pred[0, 4 + 2, 1] = 0.8  # overlaps the first (IoU 0.82 > 0.7): suppressed
    pred[0, :4, 2] = torch.tensor([150.0, 150, 10, 10])
    pred[0, 4 + 0, 2] = 0.5
    out = non_max_suppression(pred, conf_thres=0.001, iou_thres=0.7, layout=ANCHOR_FREE)[0]
    assert out.shape == (2, 6)
    assert out[0].tolist() == pytest.approx([40, 40, 60, 60, 0.9, 2])
    assert out[1].tolist() == pytest.approx([145, 145, 155, 155, 0.5, 0])


def test_truncated_checkpoint_is_one_clear_error(tmp_path):
    data = (DATA / "yolov8-thin.pt").read_bytes()
    bad = tmp_path / "cut.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(QYoloError, match="truncated"):
        load_model(bad)


@pytest.mark.parametrize("kind", ["truncated", "foreign"])
def test_cli_bad_checkpoint_is_one_line_exit_2(kind, tmp_path):
    """A cut ultralytics file, or a checkpoint of a task not supported (a segmentation yaml): one line, exit 2."""
    bad = tmp_path / f"{kind}.pt"
    if kind == "truncated":
        data = (DATA / "yolo11-thin.pt").read_bytes()
        bad.write_bytes(data[: len(data) * 2 // 3])
    else:
        cfg = {"nc": 80, "backbone": [[-1, 1, "Conv", [64, 3, 2]], [-1, 1, "C3k2", [128, False, 0.25]]],
               "head": [[[1], 1, "Segment", ["nc", 32, 256]]]}
        torch.save({"format": "q-yolo-state-dict", "yaml": cfg, "names": None, "state_dict": {}}, bad)
    result = subprocess.run([sys.executable, "-m", "export", "--weights", str(bad), "--profile", "fp32",
                             "--out", str(tmp_path / "x.onnx")], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(bad) in lines[0]
    assert ("truncated" in lines[0]) if kind == "truncated" else \
        ("instance-segmentation model (head Segment)" in lines[0] and "not supported" in lines[0])


@pytest.mark.parametrize("name, family", [("fixture-yolov8n", "yolov8"), ("fixture-yolo11n", "yolo11")])
def test_trained_fixture_equals_ultralytics(name, family):
    """The committed fixtures (ultralytics trainer checkpoints, fp16) give ultralytics' outputs."""
    from yolo.fixture import FIXTURE_YOLO11N, FIXTURE_YOLOV8N

    ref = read_pt(DATA / f"{name}_outputs.pt")
    model = load_model({"fixture-yolov8n": FIXTURE_YOLOV8N, "fixture-yolo11n": FIXTURE_YOLO11N}[name])
    assert family_of_model(model).name == family and model.names[:2] == ["circle", "square"]
    with torch.no_grad():
        pred = model(REFS["image"])[0]
    diff = (pred - ref["pred"]).abs().max().item()
    print(f"{name}: max abs diff {diff:.3g} (outputs up to {ref['pred'].abs().max().item():.3g})")
    assert diff < 1e-4 * max(1.0, ref["pred"].abs().max().item())


@pytest.mark.parametrize("name", ["fixture-yolov8n", "fixture-yolo11n", "fixture-yolo26n"])
def test_trained_fixture_detects_the_shapes(name, tmp_path):
    """Each ultralytics fixture scores well on the first 16 validation images (regenerated with the val split's own
    seed: the same images), through the project's own anchor-free NMS and scoring."""
    import dataclasses

    from eval import EvalConfig, evaluate
    from yolo.fixture import FIXTURE_IMGSZ, FIXTURE_YOLO11N, FIXTURE_YOLO26N, FIXTURE_YOLOV8N
    from yolo.synthetic import DEFAULT_SPLITS, generate_split

    weights = {"fixture-yolov8n": FIXTURE_YOLOV8N, "fixture-yolo11n": FIXTURE_YOLO11N,
               "fixture-yolo26n": FIXTURE_YOLO26N}[name]
    _, annotations = generate_split(tmp_path, "val", dataclasses.replace(DEFAULT_SPLITS["val"], n_images=16),
                                    progress=False)
    metrics = evaluate(EvalConfig(model=weights, data=annotations, imgsz=FIXTURE_IMGSZ, progress=False,
                                  backend_options={"threads": 1}))
    print(f"{name}, 16 val images: AP {100 * metrics['AP']:.1f}, AP50 {100 * metrics['AP50']:.1f}")
    assert metrics["num_images"] == 16 and metrics["AP"] > 0.6


def test_pickled_activations_are_restored(tmp_path):
    """Activations are no state_dict entries, and releases disagree on SPPF.cv1's (ultralytics 8.4.190 activates it
    on the legacy yaml rows of v8/11/v10 and not on YOLO26's; some 8.4 releases left it linear everywhere): the
    loader takes the pickle's, whatever the yaml would build."""
    import types

    from torch import nn

    from yolo.model import DetectionModel

    torch.manual_seed(0)
    model = build_model(named_config("yolov8n"), nc=3)
    model.model[9].cv1.act = nn.Identity()  # a release's linear SPPF.cv1
    fake = {name: types.ModuleType(name) for name in ("ultralytics", "ultralytics.nn", "ultralytics.nn.tasks",
                                                       "ultralytics.nn.modules")}
    renamed = {}
    for m in model.modules():
        cls = type(m)
        if cls.__module__.startswith("yolo.") and cls not in renamed:
            home = "ultralytics.nn.tasks" if cls is DetectionModel else "ultralytics.nn.modules"
            renamed[cls] = type(cls.__name__, (cls,), {"__module__": home})
            setattr(fake[home], cls.__name__, renamed[cls])
    saved = {k: sys.modules.get(k) for k in fake}
    sys.modules.update(fake)
    try:
        for m in model.modules():
            if type(m) in renamed:
                m.__class__ = renamed[type(m)]
        torch.save({"model": model, "ema": None, "version": "8.3.0"}, tmp_path / "old.pt")
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    loaded = load_model(tmp_path / "old.pt", fuse=False)
    assert isinstance(loaded.model[9].cv1.act, nn.Identity) and isinstance(loaded.model[12].cv1.act, nn.SiLU)
    assert isinstance(build_model(named_config("yolov8n")).model[9].cv1.act, nn.SiLU)
    assert isinstance(build_model(named_config("yolo26n")).model[9].cv1.act, nn.Identity)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded(x)[0], model(x)[0], atol=1e-4)
