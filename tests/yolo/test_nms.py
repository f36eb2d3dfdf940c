"""NMS against a brute-force pure-Python reference."""
import numpy as np
import pytest
import torch

from yolo.nms import box_iou, nms, non_max_suppression


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


def _reference(pred, conf_thres, iou_thres, max_det):
    """Per image: every (box, class) with obj > thres and obj*cls > thres; greedy per class by score."""
    out = []
    for x in pred.tolist():
        cands = []
        for row in x:
            if row[4] <= conf_thres:
                continue
            cx, cy, w, h = row[:4]
            box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
            for c, p in enumerate(row[5:]):
                if p * row[4] > conf_thres:
                    cands.append((p * row[4], c, box))
        cands.sort(key=lambda t: -t[0])
        kept = []
        for score, c, box in cands:
            if all(kc != c or _iou(box, kb) <= iou_thres for _, kc, kb in kept):
                kept.append((score, c, box))
        out.append(sorted(kept, key=lambda t: -t[0])[:max_det])
    return out


def test_matches_brute_force_on_random_boxes():
    rng = np.random.default_rng(0)
    b, n, nc = 3, 200, 4
    xy = rng.uniform(0, 200, (b, n, 2))
    wh = rng.uniform(5, 60, (b, n, 2))
    obj = rng.uniform(0, 1, (b, n, 1))
    cls = rng.uniform(0, 1, (b, n, nc))
    pred = torch.tensor(np.concatenate([xy, wh, obj, cls], 2), dtype=torch.float32)
    got = non_max_suppression(pred, conf_thres=0.25, iou_thres=0.45, max_det=50)
    ref = _reference(pred, 0.25, 0.45, 50)
    for g, r in zip(got, ref):
        assert g.shape[0] == len(r)
        assert np.allclose(g[:, 4].numpy(), [t[0] for t in r], atol=1e-6)
        assert g[:, 5].tolist() == [float(t[1]) for t in r]
        assert np.allclose(g[:, :4].numpy(), [t[2] for t in r], atol=1e-4)


def test_class_aware_and_threshold_edge():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]  # the duplicate goes; IoU exactly 0.5 stays
    assert nms(boxes, scores, 0.49).tolist() == [0]
    keep = nms(boxes[[0, 2]], scores[[0, 2]], 0.5)
    assert keep.tolist() == [0, 1]  # IoU exactly 0.5 is not suppressed (suppress only IoU > thres)
    # the same two boxes in different classes both survive non_max_suppression
    pred = torch.tensor([[[5.0, 5.0, 10.0, 10.0, 0.9, 1.0, 0.0], [5.0, 5.0, 10.0, 10.0, 0.8, 0.0, 1.0]]])
    out = non_max_suppression(pred, 0.001, 0.6)[0]
    assert sorted(out[:, 5].tolist()) == [0.0, 1.0]


def test_early_stop_at_max_keep_is_a_prefix_of_the_full_result():
    g = torch.Generator().manual_seed(3)
    xy, wh = torch.rand(500, 2, generator=g) * 300, torch.rand(500, 2, generator=g) * 40 + 5
    boxes, scores = torch.cat([xy, xy + wh], 1), torch.rand(500, generator=g)
    full = nms(boxes, scores, 0.5)
    assert full.numel() > 20
    assert nms(boxes, scores, 0.5, max_keep=20).tolist() == full[:20].tolist()


def test_single_label_keeps_best_class_only():
    pred = torch.tensor([[[50.0, 50.0, 20.0, 20.0, 0.5, 0.6, 0.8]]])  # conf 0.3 (class 0) and 0.4 (class 1)
    (multi,) = non_max_suppression(pred, 0.25, 0.6)
    assert sorted(multi[:, 5].tolist()) == [0.0, 1.0] and sorted(multi[:, 4].tolist()) == pytest.approx([0.3, 0.4])
    (single,) = non_max_suppression(pred, 0.25, 0.6, multi_label=False)
    assert single.shape == (1, 6) and single[0].tolist() == pytest.approx([40.0, 40.0, 60.0, 60.0, 0.4, 1.0])


def test_box_iou_known_values():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0]])
    assert torch.allclose(box_iou(a, b), torch.tensor([[1 / 7, 1.0, 0.0]]), atol=1e-6)


def test_max_det_and_empty():
    pred = torch.zeros(2, 10, 7)
    assert [o.shape[0] for o in non_max_suppression(pred)] == [0, 0]
    # ten disjoint boxes, obj 0.1..1.0: max_det 3 keeps the three most confident
    pred[0, :, 0] = torch.arange(10) * 100.0
    pred[0, :, 2:4] = 10.0
    pred[0, :, 4] = torch.linspace(0.1, 1.0, 10)
    pred[0, :, 5] = 1.0
    out = non_max_suppression(pred, max_det=3)
    assert out[0][:, 4].tolist() == pytest.approx([1.0, 0.9, 0.8]) and out[1].shape == (0, 6)
