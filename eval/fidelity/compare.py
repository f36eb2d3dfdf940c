"""Compare a deployed model's decoded outputs with its calibrated artifact's, as a detector user sees them.

Both outputs are the model's decoded head tensor, laid out as its yolo.family.HeadLayout says (YOLOv5/v7
[B, N, 5+nc] with objectness, YOLOv8/11 [B, 4+nc, N] without, YOLOv10/26 end-to-end [B, max_det, 6] detections,
which take no NMS), computed on the same letterboxed images. Three views, each with a bound in `Thresholds`:

- detections after NMS at a deployment threshold (conf 0.25, IoU 0.45): each side's detections are looked for
  among the other side's (same class, IoU >= 0.5, one to one, greedy by score), found when the other side has them
  at >= 0.15 (so a score that merely crosses 0.25 is not a lost object); recall and precision give the F1 that
  decides whether the same objects are found;
- for the matched detections, how well the boxes overlap (IoU, size-independent; the corner difference in input
  pixels is reported beside it) and how much their scores differ;
- the count of detections at evaluation's conf 0.001 (a runtime that miscomputes floods or starves the mAP
  detections), and, reported only, the spread of score differences over every candidate either model scores at
  all (conf >= 0.01): correct runtimes already differ there by up to a few quantization steps at low bit widths
  (end-to-end outputs: over the matched detections, as their rows are selections that need not align).
"""
from dataclasses import asdict, dataclass

import numpy as np
import torch

from yolo.family import ANCHOR_OBJECTNESS, HeadLayout
from yolo.nms import box_iou, non_max_suppression

DEPLOY_CONF, DEPLOY_IOU, MATCH_IOU = 0.25, 0.45, 0.5
# A detection at the deployment threshold counts as found when the other model has it at >= DEPLOY_CONF - MARGIN:
# a score of 0.26 on one side and 0.24 on the other is the same detector output, not a missed object.
MARGIN = 0.10
EVAL_CONF = 0.001  # with the layout's own validator IoU (HeadLayout.nms_iou)
RELEVANT_SCORE = 0.01
VERDICTS = ("pass", "warn", "fail")


@dataclass(frozen=True)
class Thresholds:
    """Verdict bounds. `pass` needs every *_pass bound; any *_fail bound crossed is `fail`; else `warn`.

    Chosen from measurements (docs/history.md, "Deployment fidelity"): every correct runtime on every graph passes,
    the integer-op-completed `cpu` graph included (its extra roundings are not in the torch model), and a graph
    whose activation is off by a known factor where that costs AP fails. Integer runtimes round a value at a
    level boundary to the neighbouring level now and then; below 8 bits a level is 2^(8-b) times wider, so
    `for_bits` widens the bounds there.
    """
    f1_pass: float = 0.93
    f1_fail: float = 0.80
    box_iou_p05_pass: float = 0.85  # 5th percentile of the matched boxes' IoU
    box_iou_p05_fail: float = 0.65
    score_p95_pass: float = 0.15  # 95th percentile of the matched detections' |score difference|
    score_p95_fail: float = 0.30
    count_ratio_pass: float = 1.15  # max(deployed, reference) / min(...) detections at conf 0.001
    count_ratio_fail: float = 1.30

    def __post_init__(self):
        for name in ("f1", "box_iou_p05", "score_p95", "count_ratio"):
            good, bad = getattr(self, f"{name}_pass"), getattr(self, f"{name}_fail")
            if good < 0 or bad < 0:
                raise ValueError(f"fidelity thresholds must be >= 0, got {name}: {good}/{bad}")
            worse_is_lower = name in ("f1", "box_iou_p05")
            if (bad > good) if worse_is_lower else (bad < good):
                raise ValueError(f"fidelity threshold {name}_fail ({bad}) is on the good side of {name}_pass ({good})")

    @classmethod
    def for_bits(cls, a_bits: int | None) -> "Thresholds":
        """The default bounds for activations of `a_bits` (None or >= 8: the 8-bit bounds)."""
        if a_bits is None or a_bits >= 8:
            return cls()
        return cls(f1_pass=0.90, f1_fail=0.75, box_iou_p05_pass=0.60, box_iou_p05_fail=0.50, score_p95_pass=0.20,
                   score_p95_fail=0.40, count_ratio_pass=1.25, count_ratio_fail=1.5)


@dataclass
class Figures:
    images: int
    reference_detections: int  # at the deployment threshold
    deployed_detections: int
    matched: int  # reference detections the deployed model finds
    f1: float
    box_iou_p05: float  # over matched detections
    box_px_p95: float  # over matched detections, max |corner difference| in input pixels
    box_px_max: float
    score_p95: float  # over matched detections, |conf difference|
    score_max_matched: float
    score_p99: float  # over candidates either model scores >= RELEVANT_SCORE, |conf difference| (reported only)
    score_max: float
    eval_detections_reference: int  # at conf 0.001, as mAP evaluation keeps them
    eval_detections_deployed: int

    @property
    def count_ratio(self) -> float:
        low, high = sorted((self.eval_detections_reference, self.eval_detections_deployed))
        return high / low if low else (1.0 if high == 0 else float("inf"))

    def to_dict(self) -> dict:
        return {**asdict(self), "count_ratio": round(self.count_ratio, 4)}


def _match(reference: torch.Tensor, deployed: torch.Tensor) -> list[tuple[int, int]]:
    """Greedy one-to-one pairs (reference row, deployed row): same class, IoU >= MATCH_IOU, by reference score."""
    if not len(reference) or not len(deployed):
        return []
    iou = box_iou(reference[:, :4], deployed[:, :4])
    iou[reference[:, 5:6] != deployed[None, :, 5]] = 0
    pairs, taken = [], set()
    for r in reference[:, 4].argsort(descending=True).tolist():
        candidates = [(float(iou[r, d]), d) for d in range(len(deployed)) if d not in taken and iou[r, d] >= MATCH_IOU]
        if candidates:
            d = max(candidates)[1]
            taken.add(d)
            pairs.append((r, d))
    return pairs


def _scores(rows: torch.Tensor, layout: HeadLayout) -> torch.Tensor:
    """Per-candidate, per-class confidence as NMS ranks it (objectness x class probability where there is one)."""
    return rows[..., 5:] * rows[..., 4:5] if layout.objectness else rows[..., 4:]


def compare_outputs(reference: np.ndarray, deployed: np.ndarray, layout: HeadLayout = ANCHOR_OBJECTNESS) -> Figures:
    """Figures for two decoded outputs of the same images laid out as `layout` (reference = the artifact in torch)."""
    ref = torch.from_numpy(np.asarray(reference, dtype=np.float32))
    dep = torch.from_numpy(np.asarray(deployed, dtype=np.float32))
    if ref.shape != dep.shape or ref.dim() != 3 or layout.rows(ref).shape[-1] < layout.box_fields + 1:
        raise ValueError(f"outputs to compare must both be {layout.name} head outputs "
                         f"({layout.shape('B', 'N', 'nc')}); got {tuple(ref.shape)} and {tuple(dep.shape)}")
    ref_dets, dep_dets = (non_max_suppression(x, DEPLOY_CONF, DEPLOY_IOU, layout=layout) for x in (ref, dep))
    ref_pool, dep_pool = (non_max_suppression(x, DEPLOY_CONF - MARGIN, DEPLOY_IOU, layout=layout) for x in (ref, dep))
    matched, extra_matched, box_err, overlaps, score_err = 0, 0, [], [], []
    for r, d_pool, d, r_pool in zip(ref_dets, dep_pool, dep_dets, ref_pool):
        pairs = _match(r, d_pool)
        matched += len(pairs)
        extra_matched += len(_match(d, r_pool))
        for i, j in pairs:
            box_err.append(float((r[i, :4] - d_pool[j, :4]).abs().max()))
            overlaps.append(float(box_iou(r[i:i + 1, :4], d_pool[j:j + 1, :4])))
            score_err.append(abs(float(r[i, 4] - d_pool[j, 4])))
    n_ref, n_dep = sum(len(r) for r in ref_dets), sum(len(d) for d in dep_dets)
    recall = matched / n_ref if n_ref else 1.0
    precision = extra_matched / n_dep if n_dep else 1.0
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    if layout.end_to_end:  # rows are each side's own selection, not aligned candidates: the matched ones count
        diffs = np.asarray(score_err, dtype=np.float64)
    else:
        ref_scores, dep_scores = _scores(layout.rows(ref), layout), _scores(layout.rows(dep), layout)
        relevant = torch.maximum(ref_scores, dep_scores) >= RELEVANT_SCORE
        diffs = (ref_scores - dep_scores).abs()[relevant].double().numpy()
    def count(pred: torch.Tensor) -> int:
        return sum(len(x) for x in non_max_suppression(pred, EVAL_CONF, layout.nms_iou, layout=layout))

    def percentile(values: list[float], q: float, empty: float) -> float:
        return round(float(np.percentile(values, q)), 4) if values else empty

    return Figures(
        images=int(ref.shape[0]), reference_detections=n_ref, deployed_detections=n_dep, matched=matched,
        f1=round(f1, 4), box_iou_p05=percentile(overlaps, 5, 1.0),
        box_px_p95=percentile(box_err, 95, 0.0), box_px_max=round(max(box_err), 3) if box_err else 0.0,
        score_p95=percentile(score_err, 95, 0.0), score_max_matched=round(max(score_err), 4) if score_err else 0.0,
        score_p99=round(float(np.percentile(diffs, 99)), 4) if diffs.size else 0.0,
        score_max=round(float(diffs.max()), 4) if diffs.size else 0.0,
        eval_detections_reference=count(ref), eval_detections_deployed=count(dep))


def judge(figures: Figures, thresholds: Thresholds = Thresholds()) -> tuple[str, list[str]]:
    """('pass' | 'warn' | 'fail', the reasons: every bound the figures miss, worst first)."""
    t = thresholds
    checks = [  # (value, pass bound, fail bound, higher is better, what it measures)
        (figures.f1, t.f1_pass, t.f1_fail, True, "F1 of the detections at conf 0.25"),
        (figures.box_iou_p05, t.box_iou_p05_pass, t.box_iou_p05_fail, True, "5th-percentile IoU of matched boxes"),
        (figures.score_p95, t.score_p95_pass, t.score_p95_fail, False, "p95 score difference of matched detections"),
        (figures.count_ratio, t.count_ratio_pass, t.count_ratio_fail, False,
         "ratio of detection counts at conf 0.001"),
    ]
    fails, warns = [], []
    for value, good, bad, higher_better, what in checks:
        crossed_bad = value < bad if higher_better else value > bad
        crossed_good = value < good if higher_better else value > good
        if crossed_bad:
            fails.append(f"{what} {value:.4g} (fail {'below' if higher_better else 'above'} {bad:g})")
        elif crossed_good:
            warns.append(f"{what} {value:.4g} (pass needs {'>=' if higher_better else '<='} {good:g})")
    verdict = "fail" if fails else "warn" if warns else "pass"
    return verdict, fails + warns
