"""eval.fidelity.compare: hand-built decoded outputs with known differences give known figures and verdicts."""
import numpy as np
import pytest

from eval.fidelity.compare import Figures, Thresholds, compare_outputs, judge

NC = 2


def decoded(objects, n_background=50, background_obj=0.0):
    """[1, N, 5+nc]: one candidate per object (cx, cy, w, h, obj, class) then low-score background candidates."""
    rows = []
    for cx, cy, w, h, obj, cls in objects:
        probs = np.zeros(NC, np.float32)
        probs[cls] = 1.0
        rows.append([cx, cy, w, h, obj, *probs])
    for i in range(n_background):
        rows.append([5 + i, 5 + i, 4, 4, background_obj, 0.5, 0.5])
    return np.asarray(rows, np.float32)[None]


OBJECTS = [(40, 40, 30, 30, 0.9, 0), (120, 40, 40, 30, 0.8, 1), (40, 120, 34, 34, 0.7, 0), (120, 120, 30, 40, 0.6, 1)]


def test_identical_outputs_pass_with_zero_differences():
    ref = decoded(OBJECTS)
    figures = compare_outputs(ref, ref.copy())
    assert (figures.reference_detections, figures.deployed_detections, figures.matched) == (4, 4, 4)
    assert figures.f1 == 1.0 and figures.box_px_max == 0.0 and figures.score_max == 0.0
    assert figures.count_ratio == 1.0
    assert judge(figures) == ("pass", [])


def test_box_shift_is_measured_in_pixels():
    ref = decoded(OBJECTS)
    dep = ref.copy()
    dep[0, :4, 0] += 6.0  # every object moved 6 px right: IoU stays >= 0.5, so all still match
    figures = compare_outputs(ref, dep)
    assert figures.matched == 4 and figures.f1 == 1.0
    assert figures.box_px_p95 == pytest.approx(6.0) and figures.box_px_max == pytest.approx(6.0)
    # IoU of a w x h box with itself moved 6 px along x: (w - 6) h / (2 w h - (w - 6) h); the 30-wide ones lowest
    assert figures.box_iou_p05 == pytest.approx(24 / 36, abs=0.01)
    verdict, reasons = judge(figures)
    assert verdict == "warn" and "IoU" in reasons[0]  # 0.667: under the 0.85 pass bound, over the 0.65 fail bound
    dep[0, :4, 0] -= 4.0
    assert judge(compare_outputs(ref, dep)) == ("pass", [])  # 2 px: IoU 28/32 = 0.875
    dep[0, :4, 0] += 10.0
    assert judge(compare_outputs(ref, dep))[0] == "fail"  # 12 px: 30-wide boxes drop under IoU 0.5, unmatched


def test_missing_and_extra_detections_lower_f1_by_hand_count():
    ref = decoded(OBJECTS)
    dep = ref.copy()
    dep[0, 3, 4] = 0.1  # the 4th object falls below conf 0.25: not found
    dep[0, 10, 4], dep[0, 10, 5:] = 0.9, [1.0, 0.0]  # a background candidate becomes a confident class-0 detection
    figures = compare_outputs(ref, dep)
    assert (figures.reference_detections, figures.deployed_detections, figures.matched) == (4, 4, 3)
    assert figures.f1 == pytest.approx(2 * 3 / 8)
    verdict, reasons = judge(figures)
    assert verdict == "fail" and reasons[0].startswith("F1")


def test_a_score_just_across_the_threshold_is_not_a_lost_object():
    ref = decoded(OBJECTS)
    dep = ref.copy()
    dep[0, 3, 4] = 0.2  # 0.6 -> 0.2: under the 0.25 deployment threshold, within the 0.1 margin
    figures = compare_outputs(ref, dep)
    assert (figures.deployed_detections, figures.matched, figures.f1) == (3, 4, 1.0)
    dep[0, 3, 4] = 0.1  # out of the margin: lost
    assert compare_outputs(ref, dep).f1 == pytest.approx(2 * 0.75 * 1.0 / 1.75, abs=1e-4)  # recall 3/4, precision 1


def test_class_swap_is_not_a_match():
    ref = decoded(OBJECTS)
    dep = ref.copy()
    dep[0, 0, 5:] = [0.0, 1.0]  # same box, other class
    figures = compare_outputs(ref, dep)
    assert figures.matched == 3 and figures.f1 == pytest.approx(6 / 8)


def test_score_differences_over_relevant_candidates():
    ref = decoded(OBJECTS, n_background=0)
    dep = ref.copy()
    dep[0, :, 4] -= 0.2  # every objectness 0.2 lower: conf (obj x prob 1.0) differs by 0.2 for the true class
    figures = compare_outputs(ref, dep)
    assert figures.score_max == pytest.approx(0.2, abs=1e-6)
    assert figures.score_max_matched == pytest.approx(0.2, abs=1e-6)
    assert figures.score_p95 == pytest.approx(0.2, abs=1e-6)
    # relevant elements: the 4 true-class scores (>= 0.01 in either); the other class is 0 in both
    assert figures.score_p99 == pytest.approx(0.2, abs=1e-6)
    assert judge(figures)[0] == "warn"  # between the 0.15 pass and 0.30 fail bounds
    dep[0, :, 4] -= 0.2
    figures = compare_outputs(ref, dep)  # 0.4: the weakest object (0.6 -> 0.2) is under 0.25 but still seen (>= 0.15)
    assert figures.deployed_detections == 3 and figures.matched == 4 and figures.f1 == 1.0
    assert judge(figures)[0] == "fail"


def test_flood_of_low_confidence_detections_fails_on_count_ratio():
    ref = decoded(OBJECTS, n_background=40, background_obj=0.0)
    dep = decoded(OBJECTS, n_background=40, background_obj=0.02)  # 40 more boxes above conf 0.001, below 0.25
    figures = compare_outputs(ref, dep)
    assert figures.f1 == 1.0
    assert figures.eval_detections_reference == 4
    assert figures.count_ratio > 1.5
    verdict, reasons = judge(figures)
    assert verdict == "fail" and any("count" in r for r in reasons)


def test_empty_outputs_agree():
    ref = decoded([], n_background=5)
    figures = compare_outputs(ref, ref.copy())
    assert figures.f1 == 1.0 and figures.count_ratio == 1.0 and judge(figures)[0] == "pass"


def test_shape_mismatch_and_bad_thresholds_are_errors():
    with pytest.raises(ValueError, match="must both be"):
        compare_outputs(decoded(OBJECTS), decoded(OBJECTS, n_background=3))
    with pytest.raises(ValueError, match="good side"):
        Thresholds(f1_pass=0.8, f1_fail=0.9)
    with pytest.raises(ValueError, match=">= 0"):
        Thresholds(score_p95_pass=-1)


def test_figures_to_dict_has_count_ratio():
    figures = Figures(images=1, reference_detections=2, deployed_detections=2, matched=2, f1=1.0, box_iou_p05=1.0,
                      box_px_p95=0, box_px_max=0, score_p95=0, score_max_matched=0, score_p99=0, score_max=0,
                      eval_detections_reference=10, eval_detections_deployed=15)
    assert figures.to_dict()["count_ratio"] == 1.5


def test_low_bit_grids_get_wider_bounds():
    """At 4 bits a one-level rounding difference is 16x an 8-bit one: a deviation that warns at 8 bits passes."""
    ref = decoded(OBJECTS, n_background=0)
    dep = ref.copy()
    dep[0, :, 4] -= 0.18
    figures = compare_outputs(ref, dep)
    assert judge(figures, Thresholds.for_bits(8))[0] == "warn"
    assert judge(figures, Thresholds.for_bits(4)) == ("pass", [])
    assert Thresholds.for_bits(None) == Thresholds() == Thresholds.for_bits(8)
