"""YOLOv5's training loss (box CIoU + objectness BCE + class BCE, with its target assignment), for the fixture.

Targets: rows of (image index, class, cx, cy, w, h) normalised to the input size.
"""
import math

import torch
from torch import nn

from yolo.modules import Detect


def bbox_ciou(box1: torch.Tensor, box2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Complete IoU of matched (cx, cy, w, h) boxes, shape [n]."""
    (x1, y1, w1, h1), (x2, y2, w2, h2) = box1.unbind(-1), box2.unbind(-1)
    b1_x1, b1_x2, b1_y1, b1_y2 = x1 - w1 / 2, x1 + w1 / 2, y1 - h1 / 2, y1 + h1 / 2
    b2_x1, b2_x2, b2_y1, b2_y2 = x2 - w2 / 2, x2 + w2 / 2, y2 - h2 / 2, y2 + h2 / 2
    inter = (torch.min(b1_x2, b2_x2) - torch.max(b1_x1, b2_x1)).clamp(0) * \
            (torch.min(b1_y2, b2_y2) - torch.max(b1_y1, b2_y1)).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = torch.max(b1_x2, b2_x2) - torch.min(b1_x1, b2_x1)
    ch = torch.max(b1_y2, b2_y2) - torch.min(b1_y1, b2_y1)
    c2 = cw ** 2 + ch ** 2 + eps
    rho2 = (x2 - x1) ** 2 + (y2 - y1) ** 2
    v = (4 / math.pi ** 2) * (torch.atan(w2 / (h2 + eps)) - torch.atan(w1 / (h1 + eps))).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


class YoloLoss:
    """Loss gains as in YOLOv5's hyp.scratch-low, scaled for layer count, class count and image size."""

    def __init__(self, detect: Detect, imgsz: int, anchor_t: float = 4.0):
        self.detect = detect
        nl, nc = detect.nl, detect.nc
        self.box_gain = 0.05 * 3 / nl
        self.cls_gain = 0.5 * nc / 80 * 3 / nl
        self.obj_gain = 1.0 * (imgsz / 640) ** 2 * 3 / nl
        self.balance = [4.0, 1.0, 0.4] if nl == 3 else [4.0, 1.0, 0.25, 0.06, 0.02][:nl]
        self.anchor_t = anchor_t
        self.bce = nn.BCEWithLogitsLoss()

    def __call__(self, preds: list[torch.Tensor], targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        device = targets.device
        lcls, lbox, lobj = (torch.zeros(1, device=device) for _ in range(3))
        tcls, tbox, indices, anchors = self.build_targets(preds, targets)
        nc = self.detect.nc
        for i, pi in enumerate(preds):
            b, a, gj, gi = indices[i]
            tobj = torch.zeros(pi.shape[:4], dtype=pi.dtype, device=device)
            if b.shape[0]:
                pxy, pwh, _, pcls = pi[b, a, gj, gi].split((2, 2, 1, nc), 1)
                pxy = pxy.sigmoid() * 2 - 0.5
                pwh = (pwh.sigmoid() * 2) ** 2 * anchors[i]
                iou = bbox_ciou(torch.cat((pxy, pwh), 1), tbox[i])
                lbox += (1.0 - iou).mean()
                tobj[b, a, gj, gi] = iou.detach().clamp(0).to(tobj.dtype)
                if nc > 1:
                    t = torch.zeros_like(pcls)
                    t[range(b.shape[0]), tcls[i]] = 1.0
                    lcls += self.bce(pcls, t)
            lobj += self.bce(pi[..., 4], tobj) * self.balance[i]
        bs = preds[0].shape[0]
        loss = lbox * self.box_gain + lobj * self.obj_gain + lcls * self.cls_gain
        return loss * bs, torch.cat((lbox, lobj, lcls)).detach()

    def build_targets(self, preds: list[torch.Tensor], targets: torch.Tensor):
        """Assign each target to anchors whose shape ratio is within anchor_t, in its cell and 2 neighbour cells."""
        na, nt = self.detect.na, targets.shape[0]
        device = targets.device
        tcls, tbox, indices, anch = [], [], [], []
        gain = torch.ones(7, device=device)
        ai = torch.arange(na, device=device).float().view(na, 1).repeat(1, nt)
        targets = torch.cat((targets.repeat(na, 1, 1), ai[..., None]), 2)
        g = 0.5
        off = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], device=device).float() * g
        for i in range(self.detect.nl):
            anchors, shape = self.detect.anchors[i], preds[i].shape
            gain[2:6] = torch.tensor(shape, device=device)[[3, 2, 3, 2]].float()
            t = targets * gain
            if nt:
                r = t[..., 4:6] / anchors[:, None]
                t = t[torch.max(r, 1 / r).max(2)[0] < self.anchor_t]
                gxy = t[:, 2:4]
                gxi = gain[[2, 3]] - gxy
                j, k = ((gxy % 1 < g) & (gxy > 1)).T
                left, m = ((gxi % 1 < g) & (gxi > 1)).T
                j = torch.stack((torch.ones_like(j), j, k, left, m))
                t = t.repeat((5, 1, 1))[j]
                offsets = (torch.zeros_like(gxy)[None] + off[:, None])[j]
            else:
                t = targets[0]
                offsets = 0
            bc, gxy, gwh, a = t.split((2, 2, 2, 1), 1)
            a, (b, c) = a.long().view(-1), bc.long().T
            gij = (gxy - offsets).long()
            gi = gij[:, 0].clamp_(0, shape[3] - 1)
            gj = gij[:, 1].clamp_(0, shape[2] - 1)
            indices.append((b, a, gj, gi))
            tbox.append(torch.cat((gxy - torch.stack((gi, gj), 1), gwh), 1))
            anch.append(anchors[a])
            tcls.append(c)
        return tcls, tbox, indices, anch
