"""Class-aware non-maximum suppression with YOLOv5's val.py semantics, without torchvision."""
import torch

from yolo.family import ANCHOR_OBJECTNESS, HeadLayout


def xywh2xyxy(x: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[..., 0] = x[..., 0] - x[..., 2] / 2
    y[..., 1] = x[..., 1] - x[..., 3] / 2
    y[..., 2] = x[..., 0] + x[..., 2] / 2
    y[..., 3] = x[..., 1] + x[..., 3] / 2
    return y


def box_iou(box1: torch.Tensor, box2: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Pairwise IoU of xyxy boxes, [N, M] (`eps` keeps empty boxes finite)."""
    area1 = (box1[:, 2] - box1[:, 0]) * (box1[:, 3] - box1[:, 1])
    area2 = (box2[:, 2] - box2[:, 0]) * (box2[:, 3] - box2[:, 1])
    lt = torch.max(box1[:, None, :2], box2[None, :, :2])
    rb = torch.min(box1[:, None, 2:], box2[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(2)
    return inter / (area1[:, None] + area2[None] - inter + eps)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_thres: float, max_keep: int | None = None) -> torch.Tensor:
    """Greedy NMS (torchvision.ops.nms semantics: suppress IoU > thres); kept indices by descending score.

    Each round keeps the best remaining box and drops the remaining ones overlapping it, vectorized over the
    remaining boxes: O(kept x n) work and O(n) memory, so 30,000 candidates never build an n x n matrix.
    Greedy NMS keeps boxes in score order, so stopping after `max_keep` kept boxes gives exactly the first
    `max_keep` of the full result (this bounds the rounds by max_det for poorly calibrated models).
    """
    order = scores.argsort(descending=True, stable=True)
    boxes = boxes[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    remaining = torch.arange(boxes.shape[0], device=boxes.device)
    keep = []
    while remaining.numel() and (max_keep is None or len(keep) < max_keep):
        best = remaining[0]
        keep.append(best)
        rest = remaining[1:]
        lt = torch.max(boxes[rest, :2], boxes[best, :2])
        rb = torch.min(boxes[rest, 2:], boxes[best, 2:])
        inter = (rb - lt).clamp(min=0).prod(1)
        iou = inter / (areas[rest] + areas[best] - inter + 1e-9)
        remaining = rest[iou <= iou_thres]
    if not keep:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    return order[torch.stack(keep)]


def non_max_suppression(pred: torch.Tensor, conf_thres: float = 0.001, iou_thres: float = 0.6, max_det: int = 300,
                        multi_label: bool = True, max_nms: int = 30000, max_wh: int = 7680,
                        layout: HeadLayout = ANCHOR_OBJECTNESS) -> list[torch.Tensor]:
    """Decoded head output -> per image [n, 6] (x1, y1, x2, y2, conf, cls).

    `layout` says how the head lays its output out (yolo.family.HeadLayout): YOLOv5/YOLOv7's [B, N, 5+nc] with
    conf = objectness * class probability, or an anchor-free [B, 4+nc, N] with conf = class probability.
    multi_label keeps every class above conf_thres (as val.py does); classes are kept apart by offsetting boxes by
    class * max_wh. An end-to-end layout's rows are detections already: no NMS, only the rows above conf_thres,
    best first, at most max_det (what the ultralytics validator does with nms=False).
    """
    if not 0 <= conf_thres <= 1 or not 0 <= iou_thres <= 1:
        raise ValueError(f"conf_thres and iou_thres must be in [0, 1], got {conf_thres}, {iou_thres}")
    if layout.end_to_end:
        return [select_end_to_end(rows, conf_thres, max_det) for rows in pred]
    pred = layout.rows(pred)
    first_class = layout.box_fields
    output = [torch.zeros((0, 6), device=pred.device) for _ in range(pred.shape[0])]
    for xi, x in enumerate(pred):
        if layout.objectness:
            x = x[x[:, 4] > conf_thres]
        else:
            x = x[x[:, first_class:].amax(1) > conf_thres]
        if not x.shape[0]:
            continue
        scores = x[:, first_class:] * x[:, 4:5] if layout.objectness else x[:, first_class:]
        box = xywh2xyxy(x[:, :4])
        if multi_label:
            i, j = (scores > conf_thres).nonzero(as_tuple=False).T
            x = torch.cat((box[i], scores[i, j, None], j[:, None].float()), 1)
        else:
            conf, j = scores.max(1, keepdim=True)
            x = torch.cat((box, conf, j.float()), 1)[conf.view(-1) > conf_thres]
        if not x.shape[0]:
            continue
        x = x[x[:, 4].argsort(descending=True, stable=True)[:max_nms]]
        keep = nms(x[:, :4] + x[:, 5:6] * max_wh, x[:, 4], iou_thres, max_keep=max_det)
        output[xi] = x[keep]
    return output


def select_end_to_end(rows: torch.Tensor, conf_thres: float, max_det: int) -> torch.Tensor:
    """One image's end-to-end rows [n, 6] (x1, y1, x2, y2, score, class) -> those scoring above conf_thres, best
    first (stable: a head's own order among equal scores is kept), at most max_det."""
    if rows.dim() != 2 or rows.shape[-1] != 6:
        raise ValueError(f"end-to-end rows must be [n, 6] (x1, y1, x2, y2, score, class), got {tuple(rows.shape)}")
    rows = rows[rows[:, 4] > conf_thres].float()
    return rows[rows[:, 4].argsort(descending=True, stable=True)[:max_det]]
