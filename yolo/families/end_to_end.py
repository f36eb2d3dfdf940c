"""The detection step of an end-to-end (NMS-free) head: YOLOv10's and YOLO26's one-to-one branch is trained to
give one candidate per object, so its detections are simply the best-scoring (candidate, class) pairs.

The selection is the ultralytics package's (Detect.postprocess, class-aware): the k = min(max_det, N) candidates
with the highest best-class score, then the k highest (candidate, class) scores among those, best first. The same
pairs as a top-k over every (candidate, class) score: a pair outside the first stage is outscored by the k best
pairs of the candidates inside it. It runs in float in every deployed graph (TopK, GatherElements).
"""
import torch


def top_k_detections(boxes: torch.Tensor, scores: torch.Tensor, max_det: int) -> torch.Tensor:
    """boxes [B, N, 4] (x1, y1, x2, y2), scores [B, N, nc] -> [B, k, 6] rows (x1, y1, x2, y2, score, class index),
    k = min(max_det, N), sorted by descending score."""
    if boxes.dim() != 3 or boxes.shape[-1] != 4 or scores.dim() != 3 or scores.shape[:2] != boxes.shape[:2]:
        raise ValueError(f"expected boxes [B, N, 4] and scores [B, N, nc], got {tuple(boxes.shape)} and "
                         f"{tuple(scores.shape)}")
    num_candidates, nc = scores.shape[1:]
    k = min(int(max_det), num_candidates)
    best = scores.amax(-1).topk(k, dim=1).indices  # [B, k] candidates, by their best class score
    pool = scores.gather(1, best[..., None].expand(-1, -1, nc))
    top, index = pool.flatten(1).topk(k, dim=1)  # [B, k] over (candidate, class) pairs of the pool
    candidate = best.gather(1, index // nc)
    chosen = boxes.gather(1, candidate[..., None].expand(-1, -1, 4))
    return torch.cat((chosen, top[..., None], (index % nc)[..., None].to(boxes.dtype)), -1)
