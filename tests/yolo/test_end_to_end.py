"""YOLO26 / YOLOv10 (parameter counts: test_ultralytics.py): the yamls equal the ultralytics package's, the forward
equals its own on checkpoints it wrote (tests/yolo/data/ultralytics, scripts/ultralytics_refs.py), the end-to-end
head's top-k against a brute force, its deployment form, recognition of the families and refusal of the other
tasks' checkpoints."""
import json
from pathlib import Path

import pytest
import torch

from common.errors import QYoloError
from yolo.checkpoint import load_model
from yolo.families.end_to_end import top_k_detections
from yolo.family import ANCHOR_FREE, END_TO_END, candidate_outputs
from yolo.nms import non_max_suppression
from yolo.registry import family_of, head_layout_of, named_config

DATA = Path(__file__).parent / "data" / "ultralytics"
REFS = torch.load(DATA / "reference_outputs_end_to_end.pt", weights_only=True)
IMAGE = REFS["image"].float() / 255  # stored as 8-bit levels
STOCK = [f"{arch}{s}" for arch, scales in (("yolov8", "nsmlx"), ("yolo11", "nsmlx"), ("yolo26", "nsmlx"),
                                          ("yolov10", "nsmblx")) for s in scales]


def aligned(rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`rows` ([B, k, 6] detections) reordered to pair with `like`'s: equal scores may come out of two top-k
    implementations in either order. Each row of `like`, best first, takes the unpaired row of its class nearest
    in box and score."""
    out = torch.empty_like(rows)
    for b in range(rows.shape[0]):
        diff = (rows[b, None] - like[b, :, None]).abs()  # [k like, k rows, 6]
        cost = diff[..., :4].sum(-1) + 1e3 * diff[..., 4] + 1e9 * (diff[..., 5] > 0)
        free = torch.ones(rows.shape[1], dtype=torch.bool)
        for i in range(rows.shape[1]):
            j = int(torch.where(free, cost[i], torch.inf).argmin())
            free[j] = False
            out[b, i] = rows[b, j]
    return out


def test_references_record_their_ultralytics_version():
    counts = json.loads((DATA / "param_counts.json").read_text())
    yamls = json.loads((DATA / "package_yamls.json").read_text())
    assert REFS["ultralytics_version"] == counts["ultralytics_version"] == yamls["ultralytics_version"]


def _yaml_value(value):
    """Our dicts hold Python None where the package's yaml text has the word None (its parser reads both so)."""
    if isinstance(value, list):
        return [_yaml_value(v) for v in value]
    return None if value == "None" else value


@pytest.mark.parametrize("name", STOCK)
def test_configs_equal_the_package_yamls(name):
    """Every stock model's graph, scales and head keys, as the package's own yaml holds them."""
    package = json.loads((DATA / "package_yamls.json").read_text())["yamls"][name]
    ours = named_config(name)
    for key in ("backbone", "head", "nc"):
        assert _yaml_value(ours[key]) == _yaml_value(package[key]), key
    scale = package["scale"] or next(iter(package["scales"]))  # yolov10b.yaml: no size letter the package reads
    assert ours["scale"] == scale and ours["scales"][scale] == package["scales"][scale]
    assert bool(ours.get("end2end")) == bool(package.get("end2end"))
    assert ours.get("reg_max", 16) == package.get("reg_max", 16)


def test_stock_counts_quoted_by_ultralytics():
    """The package's own yaml comments: yolo26 n..x 2,572,280 / 10,009,784 / 21,896,248 / 26,299,704 / 58,993,368."""
    counts = json.loads((DATA / "param_counts.json").read_text())["params"]
    assert [counts[f"yolo26{s}"] for s in "nsmlx"] == [2_572_280, 10_009_784, 21_896_248, 26_299_704, 58_993_368]


@pytest.mark.parametrize("arch", ["yolo26", "yolov10"])
@pytest.mark.parametrize("fuse", [False, True])
def test_end_to_end_forward_equals_ultralytics(arch, fuse):
    """The one-to-one head's detections (the package with end2end on, as `yolo val nms=False` runs it)."""
    model = load_model(DATA / f"{arch}-thin.pt", fuse=fuse)
    assert family_of(model.yaml).name == arch and head_layout_of(model) is END_TO_END
    with torch.no_grad():
        pred = model(IMAGE)[0]
    ref = REFS[f"{arch}_pred_fused" if fuse else f"{arch}_pred"]
    assert pred.shape == ref.shape == (2, 300, 6)
    pred = aligned(pred, ref)
    assert torch.equal(pred[..., 5], ref[..., 5])
    score_diff = (pred[..., 4] - ref[..., 4]).abs().max().item()
    box_diff = (pred[..., :4] - ref[..., :4]).abs().max().item()
    print(f"{arch} fuse={fuse}: scores max abs diff {score_diff:.3g}, boxes {box_diff:.3g} "
          f"(up to {ref[..., :4].abs().max().item():.3g} px)")
    assert score_diff < 1e-4 and box_diff < 1e-4 * ref[..., :4].abs().max().item()


@pytest.mark.parametrize("fuse", [False, True])
def test_trained_fixture_equals_ultralytics(fuse):
    """The committed YOLO26n fixture (the package's trainer checkpoint, fp16) on two validation images."""
    from yolo.fixture import FIXTURE_YOLO26N

    ref = torch.load(DATA / "fixture-yolo26n_outputs.pt", weights_only=True)
    model = load_model(FIXTURE_YOLO26N, fuse=fuse)
    assert family_of(model.yaml).name == "yolo26" and model.names[:2] == ["circle", "square"]
    with torch.no_grad():
        pred = model(ref["image"].float() / 255)[0]
    expected = ref["pred_fused" if fuse else "pred"]
    pred = aligned(pred, expected)
    assert (expected[..., 4] > 0.5).sum() >= 4  # it sees the shapes: a parity test on real detections
    assert torch.equal(pred[..., 5], expected[..., 5])
    score_diff, box_diff = ((pred - expected)[..., i].abs().max().item() for i in (4, slice(0, 4)))
    print(f"fixture-yolo26n fuse={fuse}: scores max abs diff {score_diff:.3g}, boxes {box_diff:.3g} px")
    assert score_diff < 1e-4 and box_diff < 1e-4 * expected[..., :4].abs().max().item()


@pytest.mark.parametrize("arch", ["yolo26", "yolov10"])
def test_one_to_many_head_equals_ultralytics(arch):
    """With end2end off the dual head runs its one-to-many branch (what `yolo val` runs by default, then NMS)."""
    model = load_model(DATA / f"{arch}-thin.pt", fuse=False)
    model.detect.end2end = False
    assert head_layout_of(model) is ANCHOR_FREE
    with torch.no_grad():
        pred = model(IMAGE)[0]
    ref = REFS[f"{arch}_one2many"]
    assert pred.shape == ref.shape == (2, 4 + 8, 16 * 24 + 8 * 12 + 4 * 6)
    assert (pred - ref).abs().max().item() < 1e-4 * ref.abs().max().item()


def test_top_k_equals_a_brute_force():
    """The two-stage selection gives the k best (candidate, class) pairs of all of them, best first."""
    torch.manual_seed(0)
    boxes, scores = torch.rand(3, 50, 4) * 100, torch.rand(3, 50, 7)
    out = top_k_detections(boxes, scores, max_det=20)
    assert out.shape == (3, 20, 6)
    for b in range(3):
        flat = [(float(scores[b, n, c]), n, c) for n in range(50) for c in range(7)]
        best = sorted(flat, reverse=True)[:20]
        assert out[b, :, 4].tolist() == pytest.approx([s for s, _, _ in best])
        assert out[b, :, 5].tolist() == [float(c) for _, _, c in best]
        assert torch.equal(out[b, :, :4], boxes[b, [n for _, n, _ in best]])
    assert top_k_detections(boxes[:, :5], scores[:, :5], 300).shape == (3, 5, 6)  # k = min(max_det, N)


def test_candidate_outputs_are_the_dense_one_to_one_decode():
    """Inside candidate_outputs the head gives every candidate ([B, 4 + nc, N], xywh): their top-k is its output."""
    model = load_model(DATA / "yolo26-thin.pt")
    with torch.no_grad():
        detections = model(IMAGE)[0]
        with candidate_outputs(model):
            assert head_layout_of(model) is ANCHOR_FREE
            dense = model(IMAGE)[0]
    assert head_layout_of(model) is END_TO_END and dense.shape == (2, 12, 504)
    rows = dense.transpose(1, 2)
    xyxy = torch.cat((rows[..., :2] - rows[..., 2:4] / 2, rows[..., :2] + rows[..., 2:4] / 2), -1)
    again = top_k_detections(xyxy, rows[..., 4:], 300)
    assert torch.allclose(aligned(again, detections), detections, atol=1e-3)


def test_deployment_form_keeps_only_the_branch_that_runs():
    fused = load_model(DATA / "yolov10-thin.pt")
    keys = fused.state_dict().keys()
    assert any(".one2one_cv3." in k for k in keys) and not any(".cv3." in k and "one2one" not in k for k in keys)
    assert not any(".conv1." in k for k in keys)  # RepVGGDW re-parameterised into one 7x7 depthwise conv
    unfused = load_model(DATA / "yolov10-thin.pt", fuse=False)
    unfused.detect.end2end = False
    from yolo.registry import fuse_model

    fuse_model(unfused)
    assert unfused.detect.one2one_cv2 is None and head_layout_of(unfused) is ANCHOR_FREE


def test_checkpoint_saved_fused_loads(tmp_path):
    """BatchNorm folded and the one-to-many branch dropped (what ultralytics' fuse() saves): built in the same form."""
    model = load_model(DATA / "yolo26-thin.pt")
    path = tmp_path / "fused.pt"
    torch.save({"format": "q-yolo-state-dict", "yaml": model.yaml, "names": model.names,
                "state_dict": model.state_dict()}, path)
    again = load_model(path)
    with torch.no_grad():
        assert torch.equal(again(IMAGE)[0], model(IMAGE)[0])


def test_end_to_end_rows_take_no_nms():
    """Rows above conf_thres, best first, at most max_det; overlapping boxes of one class are all kept."""
    rows = torch.tensor([[[0, 0, 10, 10, 0.5, 1], [0, 0, 10, 10, 0.9, 1], [1, 1, 11, 11, 0.0005, 2],
                          [20, 20, 30, 30, 0.3, 0]]], dtype=torch.float32)
    out = non_max_suppression(rows, conf_thres=0.001, iou_thres=0.1, layout=END_TO_END)[0]
    assert out[:, 4].tolist() == pytest.approx([0.9, 0.5, 0.3]) and out[:, 5].tolist() == [1, 1, 0]
    assert non_max_suppression(rows, conf_thres=0.001, max_det=2, layout=END_TO_END)[0].shape == (2, 6)
    assert END_TO_END.num_classes(rows) == 3 and END_TO_END.shape("B", 300, 80) == ["B", 300, 6]


def test_families_recognised_from_the_yaml():
    assert family_of(named_config("yolo26s")).name == "yolo26"
    assert family_of(named_config("yolo11s")).name == "yolo11"  # the same blocks, no end-to-end head
    assert family_of(named_config("yolov10b")).name == "yolov10"
    e2e_v8 = {**named_config("yolov8n"), "end2end": True}
    assert family_of(e2e_v8).name == "yolov8"


@pytest.mark.parametrize("head, task", [("Segment", "instance-segmentation"), ("Pose26", "pose-estimation"),
                                        ("OBB", r"oriented-box \(OBB\)"), ("Classify", "image-classification")])
def test_other_tasks_are_refused_by_name(head, task):
    cfg = named_config("yolo26n")
    cfg["head"][-1] = [[16, 19, 22], 1, head, ["nc"]]
    with pytest.raises(QYoloError, match=rf"describes an ultralytics {task} model \(head {head}\), which is not "
                                         "supported"):
        family_of(cfg, source="my.pt")
