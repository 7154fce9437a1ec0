"""The named evaluation protocols against numbers computed once by the reference toolkits' own code.

The predictions are ``tests/data/protocol_case.json`` (see ``tests/protocol_refs.py``). The reference numbers were
computed by ``python tests/protocol_refs.py`` with:

* PySOT ``toolkit.evaluation.OPEBenchmark``, STVIR/pysot d04028f8e18c (float64);
* PyTracking ``pytracking.analysis.extract_results``, visionml/pytracking 7eb9e74 (its curves are float32, hence
  the 1e-6 differences; the TransT fork 2793ef3 gives the same numbers);
* the got10k package 0.1.3, ``ExperimentGOT10k(subset='val').report``.

``tests/test_protocol_hosts.py`` reruns those toolkits live when their trees are given.
"""

import numpy as np
import pytest
from protocol_refs import load_case, ours

from slt.metrics import PROTOCOLS, clip_to_image, evaluate_ope

PYSOT_LASOT = {"auc": 54.06983956670598, "precision": 72.68669038136858, "norm_precision": 65.58911611039603}
PYTRACKING_LASOT = {"auc": 54.069839683287434, "precision": 72.68669009208679, "norm_precision": 65.58911601702371}
PYTRACKING_OTB = {"auc": 58.99539016231541, "precision": 79.07590568065643, "norm_precision": 79.48099474112192}
PYSOT_OTB_AUC = 58.995390269063485  # its precision counts the case's all-zero ground-truth boxes as successes
GOT10K_REPORT = {"ao": 66.20392087256752, "sr50": 84.9673202614379, "sr75": 47.385620915032675}


@pytest.fixture(scope="module")
def case():
    return load_case()


@pytest.mark.parametrize("reference, tol", [(PYSOT_LASOT, 1e-9), (PYTRACKING_LASOT, 1e-5)])
def test_lasot_protocol_equals_pysot_and_pytracking(case, reference, tol):
    result = ours(case, "lasot")
    for key, value in reference.items():
        assert result[key] == pytest.approx(value, abs=tol), key
    assert result["num_frames"] == sum(len(v["gt"]) for v in case)


def test_otb_protocol_equals_pytracking_and_pysot_auc(case):
    result = ours(case, "otb")
    for key, value in PYTRACKING_OTB.items():
        assert result[key] == pytest.approx(value, abs=1e-5), key
    assert result["auc"] == pytest.approx(PYSOT_OTB_AUC, abs=1e-9)


def test_got10k_protocol_equals_the_got10k_report_with_clipping(case):
    result = ours(case, "got10k")
    for key, value in GOT10K_REPORT.items():
        assert result[key] == pytest.approx(value, abs=1e-9), key
    assert result["num_frames"] == sum(int((v["cover"][1:] > 0).sum()) for v in case)
    unclipped = evaluate_ope([v["pred"] for v in case], [v["gt"] for v in case], [v["visible"] for v in case],
                             protocol="got10k")
    assert unclipped["ao"] == pytest.approx(65.24152351808328, abs=1e-9)  # boxes reach outside the image


def test_pooled_is_a_different_number(case):
    pooled, lasot = ours(case, "pooled"), ours(case, "lasot")
    assert pooled["auc"] == pytest.approx(64.39465, abs=1e-5)
    assert pooled["auc"] - lasot["auc"] > 10  # frame 0 dropped, invisible frames not counted, frames pooled


def one_video(visible=None):
    gt = np.tile([10.0, 10.0, 20.0, 20.0], (4, 1))
    pred = gt.copy()
    pred[0] = [200, 200, 5, 5]  # replaced by the ground truth: frame 0 counts, as a success
    pred[2] = [20, 10, 20, 20]  # IoU 1/3, centre error 10 px
    pred[3] = [100, 100, 20, 20]  # a failure
    return pred, gt, visible


def test_lasot_counts_frame_zero_and_fails_invisible_frames():
    pred, gt, _ = one_video()
    visible = np.array([True, False, True, True])  # frame 1 is tracked perfectly but not visible: a failure
    result = evaluate_ope([pred], [gt], [visible], protocol="lasot")
    # success at threshold t: frame 0 (IoU 1) for every t < 1, frame 2 (IoU 1/3) for t < 1/3 (7 thresholds)
    assert result["auc"] == pytest.approx(100 * (20 + 7) / (4 * 21))
    assert result["precision"] == pytest.approx(50.0)  # frames 0 and 2 within 20 px
    otb = evaluate_ope([pred], [gt], [visible], protocol="otb")  # visibility ignored: frame 1 a success
    assert otb["auc"] == pytest.approx(100 * (40 + 7) / (4 * 21))
    assert otb["precision"] == pytest.approx(75.0)


def test_lasot_averages_videos_not_frames():
    gt_long, gt_short = np.tile([0.0, 0, 10, 10], (9, 1)), np.tile([0.0, 0, 10, 10], (3, 1))
    miss = gt_short + [[0, 0, 0, 0], [50, 50, 0, 0], [50, 50, 0, 0]]
    result = evaluate_ope([gt_long, miss], [gt_long, gt_short], protocol="lasot")
    assert result["auc"] == pytest.approx((100 * 20 / 21 + 100 * 20 / 21 / 3) / 2)
    assert result["per_video_auc"] == [pytest.approx(100 * 20 / 21), pytest.approx(100 * 20 / 63)]


def test_got10k_excludes_frame_zero_and_invisible_frames_and_clips_to_the_image():
    gt = np.tile([80.0, 0.0, 20.0, 20.0], (3, 1))
    pred = np.array([[0, 50, 5, 5], [90, 0, 40, 20], [0, 0, 20, 20]], dtype=float)
    visible = np.array([True, True, False])
    clipped = evaluate_ope([pred], [gt], [visible], protocol="got10k", image_sizes=[(100, 100)])
    assert clipped["num_frames"] == 1 and clipped["ao"] == pytest.approx(50.0)  # [90, 130] cut to [90, 100]
    assert evaluate_ope([pred], [gt], [visible], protocol="got10k")["ao"] == pytest.approx(20.0)


def test_clip_to_image_follows_the_got10k_rule():
    boxes = np.array([[-20, 5, 40, 20], [90, 95, 40, 20], [np.nan, 0, 1, 1]])
    # x (y) clipped to [0, W] first, then w (h) to [0, W - x]: a box left of the image is moved, not cut
    np.testing.assert_array_equal(clip_to_image(boxes, 100, 100)[:2], [[0, 5, 40, 20], [90, 95, 10, 5]])
    assert np.isnan(clip_to_image(boxes, 100, 100)[2, 0])


def test_protocols_are_named_and_checked():
    assert PROTOCOLS == ("lasot", "otb", "got10k", "pooled")
    gt = np.zeros((2, 4)) + [0, 0, 1, 1]
    with pytest.raises(ValueError, match="2 image sizes for 1 videos"):
        evaluate_ope([gt], [gt], protocol="got10k", image_sizes=[(4, 4), (4, 4)])
    with pytest.raises(ValueError, match="no videos"):
        evaluate_ope([], [], protocol="lasot")
