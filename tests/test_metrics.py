"""OPE metrics against hand-computed values."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from slt.boxes import box_iou_xywh
from slt.metrics import (
    OPEResult,
    auc,
    center_error,
    evaluate_ope,
    got10k_ao_sr,
    iou_xywh,
    normalized_center_error,
    normalized_precision,
    precision,
    precision_curve,
    success_curve,
)

PERFECT_AUC = 100.0 * 20 / 21  # IoU 1 is not > threshold 1


def test_iou_of_known_boxes():
    assert iou_xywh([0, 0, 2, 2], [1, 1, 2, 2]) == pytest.approx(1 / 7, abs=1e-15)
    assert iou_xywh([0, 0, 2, 2], [0, 0, 2, 2]) == 1.0
    assert iou_xywh([0, 0, 2, 2], [2, 0, 2, 2]) == 0.0  # touching edges
    assert iou_xywh([0, 0, 4, 2], [0, 0, 2, 2]) == pytest.approx(0.5)


def test_iou_of_identical_float_boxes_is_capped_at_one():
    # uncapped, these give 1 + 2e-16 and pass the threshold-1.0 success test
    boxes = np.random.default_rng(0).uniform([0, 0, 1, 1], [500, 500, 300, 300], size=(2000, 4))
    ious = iou_xywh(boxes, boxes)
    assert ious.max() == 1.0 and (success_curve(ious)[-1]) == 0.0


def test_ground_truth_against_itself_scores_exactly_20_of_21():
    gt = np.random.default_rng(1).uniform([0, 0, 1, 1], [500, 500, 300, 300], size=(3, 50, 4))
    for protocol in ("lasot", "otb"):
        assert evaluate_ope(list(gt), list(gt), protocol=protocol)["auc"] == 100.0 * 20 / 21
    assert auc(iou_xywh(gt, gt)) == 100.0 * 20 / 21


def test_torch_iou_is_the_numpy_iou():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0, 50, size=(2, 300, 4))
    a[:5, 2] = [0, -1, np.nan, np.inf, 1e-300]
    b[:5] = a[:5]
    expected = iou_xywh(a, b)
    got = box_iou_xywh(torch.as_tensor(a), torch.as_tensor(b)).numpy()
    np.testing.assert_array_equal(got, expected)
    assert (expected[:5] == 0).all() and not np.isnan(got).any()
    got32 = box_iou_xywh(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(a, dtype=torch.float32))
    assert float(got32.max()) <= 1.0


def test_iou_broadcasts():
    a = np.array([[0, 0, 2, 2], [1, 1, 2, 2]], dtype=float)
    out = iou_xywh(a[:, None, :], a[None, :, :])
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out, [[1, 1 / 7], [1 / 7, 1]])
    assert iou_xywh(a, np.array([0, 0, 2, 2])).shape == (2,)


@pytest.mark.parametrize("bad", [[np.nan, 0, 2, 2], [0, 0, 0, 2], [0, 0, -2, 2], [0, 0, np.inf, 2]])
def test_iou_of_invalid_box_is_zero_not_nan(bad):
    assert iou_xywh(bad, [0, 0, 2, 2]) == 0.0
    assert iou_xywh([0, 0, 2, 2], bad) == 0.0
    assert iou_xywh(bad, bad) == 0.0


def test_iou_of_boxes_whose_area_underflows_is_zero_not_nan():
    tiny = [0, 0, 1e-300, 1e-300]  # valid sizes, but w * h == 0.0 in float64
    assert iou_xywh(tiny, tiny) == 0.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 50), min_size=8, max_size=8))
def test_iou_is_symmetric_and_in_unit_interval(values):
    a, b = np.array(values[:4]), np.array(values[4:])
    value = iou_xywh(a, b)
    assert 0.0 <= value <= 1.0 and value == pytest.approx(iou_xywh(b, a))


def test_center_errors():
    assert center_error([0, 0, 2, 2], [3, 4, 2, 2]) == pytest.approx(5.0)
    assert center_error([0, 0, 4, 4], [1, 1, 2, 2]) == 0.0  # same centre
    # centres (1, 1) and (6, 8); offsets divided by the ground-truth size (6, 8)
    assert normalized_center_error([0, 0, 2, 2], [3, 4, 6, 8]) == pytest.approx(np.hypot(5 / 6, 7 / 8))
    assert center_error([np.nan] * 4, [0, 0, 2, 2]) == np.inf
    assert normalized_center_error([0, 0, 2, 2], [0, 0, 0, 2]) == np.inf


def test_success_curve_is_monotone_and_strictly_greater():
    ious = np.array([0.0, 0.05, 0.5, 0.75, 1.0])
    curve = success_curve(ious)
    assert curve.shape == (21,) and (np.diff(curve) <= 0).all()
    assert curve[0] == pytest.approx(4 / 5)  # IoU 0 is not > 0
    assert curve[10] == pytest.approx(2 / 5)  # only 0.75 and 1.0 are > 0.5
    assert curve[20] == 0.0


def test_auc_extremes():
    assert auc(np.ones(10)) == pytest.approx(PERFECT_AUC)
    assert auc(np.zeros(10)) == 0.0
    assert auc(np.full(4, 0.5)) == pytest.approx(100.0 * 10 / 21)  # > 0, 0.05, ..., 0.45


def test_precision_counts_and_curve():
    errors = np.array([0.0, 10.0, 20.0, 20.5, np.inf])
    assert precision(errors) == pytest.approx(60.0)  # <= 20 px
    assert precision(errors, threshold=5) == pytest.approx(20.0)
    curve = precision_curve(errors)
    assert curve.shape == (51,) and curve[0] == pytest.approx(0.2) and curve[20] == pytest.approx(0.6)
    assert curve[-1] == pytest.approx(0.8) and (np.diff(curve) >= 0).all()
    assert normalized_precision(np.array([0.1, 0.2, 0.3, np.inf])) == pytest.approx(50.0)


def test_got10k_ao_and_success_rates():
    scores = got10k_ao_sr(np.array([0.2, 0.5, 0.6, 0.9]))
    assert scores["ao"] == pytest.approx(55.0)
    assert scores["sr50"] == pytest.approx(50.0)  # 0.5 is not > 0.5
    assert scores["sr75"] == pytest.approx(25.0)
    with pytest.raises(ValueError, match="no frames"):
        got10k_ao_sr(np.array([]))


def test_evaluate_ope_excludes_first_invalid_and_invisible_frames():
    gt = np.array([[0, 0, 10, 10]] * 5, dtype=float)
    gt[3] = np.nan  # invalid ground truth
    pred = gt.copy()
    pred[0] = [50, 50, 1, 1]  # frame 0 would be a failure but is not scored
    pred[1] = [0, 0, 10, 10]
    pred[2] = [100, 100, 10, 10]  # failure, but invisible
    pred[4] = [5, 0, 10, 10]  # IoU 1/3, centre error 5
    visible = np.array([True, True, False, True, True])
    result = evaluate_ope([pred], [gt], [visible], protocol="pooled")
    assert result["num_frames"] == 2
    expected = OPEResult.from_boxes(pred[[1, 4]], gt[[1, 4]])
    assert result["auc"] == pytest.approx(expected.auc)
    assert result["ao"] == pytest.approx(100 * (1 + 1 / 3) / 2)
    assert result["precision"] == 100.0 and result["norm_precision"] == 50.0
    assert result["per_video_auc"] == [pytest.approx(expected.auc)]


def test_evaluate_ope_pools_frames_over_videos():
    gt_a, gt_b = np.tile([0, 0, 10, 10], (4, 1)).astype(float), np.tile([0, 0, 10, 10], (2, 1)).astype(float)
    miss_b = gt_b + [[0, 0, 0, 0], [50, 50, 0, 0]]
    result = evaluate_ope([gt_a, miss_b], [gt_a, gt_b], protocol="pooled")
    assert result["num_frames"] == 4
    assert result["sr50"] == pytest.approx(75.0)  # 3 perfect frames of 4 pooled, not the mean of 100 and 0
    assert result["per_video_auc"] == [pytest.approx(PERFECT_AUC), 0.0]
    nan_video = evaluate_ope([gt_a, gt_a[:1]], [gt_a, gt_a[:1]], protocol="pooled")["per_video_auc"]
    assert np.isnan(nan_video[1])


def test_evaluate_ope_rejects_mismatched_inputs():
    gt = np.zeros((3, 4))
    with pytest.raises(ValueError, match="video 0"):
        evaluate_ope([np.zeros((2, 4))], [gt], protocol="lasot")
    with pytest.raises(ValueError, match="predicted videos"):
        evaluate_ope([gt, gt], [gt], protocol="lasot")
    with pytest.raises(ValueError, match="unknown protocol 'vot'"):
        evaluate_ope([gt], [gt], protocol="vot")
