"""slt.siamrpn: the SiamRPN step shared by the reference tracker and the PySOT adapter, in both conventions."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from slt import policy
from slt.siamrpn import (
    PYSOT,
    REFERENCE,
    SiamRPNRules,
    SiamRPNState,
    crop_gt_to_corners,
    decode_deltas,
    rpn_deltas,
    rpn_foreground_prob,
    siamfc_context_side,
    siamrpn_shaping,
)

ALEX = dict(exemplar_size=127, instance_size=287, context_amount=0.5, penalty_k=0.16, size_lr=0.3)
"""PySOT's SiamRPN AlexNet TRACK block (score size 21, 5 anchors)."""


def test_context_side_is_siamfc_s_z():
    wh = torch.tensor([[40.0, 20.0], [10.0, 10.0]], dtype=torch.float64)
    # p = 0.5 * (w + h): sqrt((40 + 30)(20 + 30)), sqrt(20 * 20)
    torch.testing.assert_close(siamfc_context_side(wh, 0.5), torch.tensor([np.sqrt(70 * 50), 20.0],
                                                                           dtype=torch.float64))


def test_conventions_place_centres_and_crop_regions_differently():
    box = torch.tensor([[10.0, 20.0, 31.0, 41.0]], dtype=torch.float64)
    assert PYSOT.centre(box).tolist() == [[25.0, 40.0]]  # x + (w - 1) / 2
    assert REFERENCE.centre(box).tolist() == [[25.5, 40.5]]  # x + w / 2
    side = torch.tensor([10.4], dtype=torch.float64)
    # SiamFC's integer region: side rounded to 10, corner floor(25 - 11 / 2 + 0.5) = 20
    assert PYSOT.region(torch.tensor([[25.0, 40.0]], dtype=torch.float64), side).tolist() == [[20.0, 35.0, 10.0, 10.0]]
    assert REFERENCE.region(torch.tensor([[25.5, 40.5]], dtype=torch.float64), side)[0].tolist() == pytest.approx(
        [20.3, 35.3, 10.4, 10.4])


def test_decoding_follows_pysot_and_the_reference_clamps_size_deltas():
    anchors = torch.tensor([[0.0, 8.0, 32.0, 16.0], [-8.0, 0.0, 16.0, 32.0]])
    deltas = torch.tensor([[[0.5, 0.0, 0.0, 10.0], [-0.25, 1.0, np.log(2.0), 0.0]]])  # (B, K, 4)
    expected = torch.tensor([[[16.0, 8.0, 32.0, 16.0 * np.exp(10.0)], [-12.0, 32.0, 32.0, 32.0]]])
    torch.testing.assert_close(decode_deltas(deltas.transpose(1, 2), anchors), expected)
    clamped = decode_deltas(deltas.transpose(1, 2), anchors, REFERENCE.max_log_delta)
    assert clamped[0, 0, 3] == pytest.approx(16.0 * np.exp(6.0))
    # PySOT's (B, 4A, s, s) layout: channel c * A + a holds delta c of anchor a
    loc = torch.arange(2 * 4 * 2 * 3 * 3, dtype=torch.float32).reshape(2, 8, 3, 3)
    assert torch.equal(rpn_deltas(loc)[1, 2, 9 + 4], loc[1, 2 * 2 + 1, 1, 1])


def test_foreground_probability_is_pysots_softmax_and_the_no_neg_logit_sigmoid():
    cls = torch.randn(3, 2 * 5, 4, 4, generator=torch.Generator().manual_seed(0))
    stock = torch.softmax(cls.reshape(3, 2, 5, 4, 4), dim=1)[:, 1].reshape(3, -1)
    torch.testing.assert_close(rpn_foreground_prob(cls), stock)
    torch.testing.assert_close(rpn_foreground_prob(cls, no_neg_logit=True), torch.sigmoid(cls[:, 5:].reshape(3, -1)))


def test_crop_gt_to_corners_moves_the_centre_half_a_pixel():
    gt = np.array([[127.5 - 32, 127.5 - 32, 64.0, 64.0], [np.nan] * 4])
    corners = crop_gt_to_corners(gt)
    np.testing.assert_allclose(corners[0], [95.0, 95.0, 159.0, 159.0])
    assert np.isnan(corners[1]).all()


def stock_track_step(fg, pred, centre, size, image_hw, rules, window, window_influence):
    """One greedy step of PySOT's ``SiamRPNTracker.track`` written out in NumPy: fg (K,), pred (4, K) float32
    crop boxes, centre / size (2,) float64 -> (best index, centre, size)."""
    s_z = np.sqrt((size[0] + rules.context_amount * size.sum()) * (size[1] + rules.context_amount * size.sum()))
    scale_z = rules.exemplar_size / s_z

    def change(r):
        return np.maximum(r, 1.0 / r)

    def sz(w, h):
        pad = (w + h) * 0.5
        return np.sqrt((w + pad) * (h + pad))

    s_c = change(sz(pred[2], pred[3]) / sz(size[0] * scale_z, size[1] * scale_z))
    r_c = change((size[0] / size[1]) / (pred[2] / pred[3]))
    penalty = np.exp(-(r_c * s_c - 1) * rules.penalty_k)
    pscore = penalty * fg * (1 - window_influence) + window * window_influence
    best = int(np.argmax(pscore))
    bbox = pred[:, best] / scale_z
    lr = penalty[best] * fg[best] * rules.size_lr
    cx, cy = bbox[0] + centre[0], bbox[1] + centre[1]
    width, height = size[0] * (1 - lr) + bbox[2] * lr, size[1] * (1 - lr) + bbox[3] * lr
    cx, cy = max(0, min(cx, image_hw[1])), max(0, min(cy, image_hw[0]))
    width, height = max(10, min(width, image_hw[1])), max(10, min(height, image_hw[0]))
    return best, np.array([cx, cy]), np.array([width, height])


def test_pysot_step_reproduces_the_stock_tracker_arithmetic():
    """Greedy rows of the PySOT-convention step: the stock tracker's anchor, centre and size (float64 maths)."""
    rules = SiamRPNRules(**ALEX, conventions=PYSOT)
    shaping = siamrpn_shaping(21, 5, window_influence=0.40, temperature=8.0, sig_eps=0.01, dtype=torch.float64)
    rng = np.random.default_rng(0)
    rows, count = 4, 5 * 21 * 21
    fg = torch.from_numpy(rng.random((rows, count)).astype(np.float32))
    pred = torch.from_numpy(np.concatenate((rng.normal(0, 20, (rows, count, 2)), rng.uniform(20, 90, (rows, count, 2))),
                                           -1).astype(np.float32))
    sizes = [[30.0, 50.0], [12.0, 11.0], [80.0, 40.0], [300.0, 20.0]]
    state = SiamRPNState(centre=torch.tensor(rng.uniform(20, 120, (rows, 2))), size=torch.tensor(sizes).double())
    image_wh = torch.tensor([[176.0, 144.0]] * rows, dtype=torch.float64)
    scale_z, _ = rules.search(state)
    decision = rules.step(state, fg, pred, scale_z, image_wh, shaping, "argmax")
    window = policy.hann_window(21, 5, dtype=torch.float64).numpy()
    for r in range(rows):
        best, centre, size = stock_track_step(fg[r].double().numpy(), pred[r].numpy().T, state.centre[r].numpy(),
                                              state.size[r].numpy(), (144, 176), rules, window, 0.40)
        assert int(decision.actions[r]) == best
        np.testing.assert_allclose(decision.state.centre[r].numpy(), centre, rtol=1e-12)
        np.testing.assert_allclose(decision.state.size[r].numpy(), size, rtol=1e-12)
    assert decision.logits.dtype == decision.penalty.dtype == torch.float64
    assert decision.state.size[3, 0] == 176.0  # 300 px wide: clipped to the image width
    boxes = decision.state.boxes()
    torch.testing.assert_close(boxes[:, :2] + boxes[:, 2:] / 2, decision.state.centre)  # [cx - w/2, cy - h/2, w, h]


def test_step_logits_are_the_shaping_of_the_scores_and_their_argmax_is_the_greedy_action():
    rules = SiamRPNRules(exemplar_size=64, instance_size=128, context_amount=0.5, penalty_k=0.05, size_lr=0.38,
                         conventions=REFERENCE)
    shaping = siamrpn_shaping(9, 5, window_influence=0.42, temperature=8.0, sig_eps=0.01)
    generator = torch.Generator().manual_seed(3)
    fg = torch.rand(6, 405, generator=generator)
    pred = torch.cat((torch.randn(6, 405, 2, generator=generator) * 10,
                      torch.rand(6, 405, 2, generator=generator) * 60 + 5), -1)
    state = rules.start(torch.tensor([[30.0, 20.0, 24.0, 18.0]] * 3), copies=2)
    scale_z, regions = rules.search(state)
    decision = rules.step(state, fg, pred, scale_z, torch.tensor([[128.0, 96.0]] * 6), shaping, "half",
                          policy.ClipRandom([(0, 0, k) for k in range(3)]))
    torch.testing.assert_close(decision.logits, shaping.logits(fg, {"penalty": decision.penalty}))
    assert torch.equal(decision.actions[:3], decision.logits[:3].argmax(-1))
    assert decision.state.centre.dtype == torch.float32
    # the reference search square: centre x + w / 2, side 2 * s_z
    side_z = siamfc_context_side(torch.tensor([24.0, 18.0]), 0.5)
    torch.testing.assert_close(regions[0], torch.stack((42.0 - side_z, 29.0 - side_z, 2 * side_z, 2 * side_z)))


def test_sizes_are_clipped_to_the_minimum_and_non_finite_logits_raise():
    """No penalty (k = 0) and a sure, tiny candidate: lr 0.3 shrinks 12 px to 8.46 px, below PySOT's 10 px."""
    rules = SiamRPNRules(**{**ALEX, "penalty_k": 0.0}, conventions=PYSOT)
    shaping = siamrpn_shaping(21, 5, window_influence=0.4, temperature=1.0, sig_eps=0.01, dtype=torch.float64)
    state = SiamRPNState(centre=torch.tensor([[50.0, 50.0]], dtype=torch.float64),
                         size=torch.tensor([[12.0, 12.0]], dtype=torch.float64))
    pred = torch.tensor([0.0, 0.0, 1.0, 1.0]).expand(1, 2205, 4)
    fg = torch.ones(1, 2205)
    image_wh = torch.tensor([[100.0, 100.0]], dtype=torch.float64)
    scale_z, _ = rules.search(state)
    assert rules.step(state, fg, pred, scale_z, image_wh, shaping, "argmax").state.size.tolist() == [[10.0, 10.0]]
    relaxed = replace(rules, conventions=replace(PYSOT, min_size=4.0))
    shrunk = relaxed.step(state, fg, pred, scale_z, image_wh, shaping, "argmax").state.size
    torch.testing.assert_close(shrunk, torch.full((1, 2), 12.0 * 0.7 + 0.3 * 24.0 / 127, dtype=torch.float64))
    with pytest.raises(FloatingPointError, match="non-finite policy logits"):
        rules.step(state, fg * float("nan"), pred, scale_z, image_wh, shaping, "argmax")
