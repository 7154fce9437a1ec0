"""slt.policy: shaping reproduces the official TransT and SiamRPN++ formulas; action selection modes."""

import math

import numpy as np
import pytest
import torch

from slt import policy


def reference_logits(fg, penalty, window, wi, temp, eps):
    """The official shaping written out in float64 numpy (docs/method.md#policy)."""
    score = fg * penalty
    score = (1 - wi) * score + wi * window
    q = score * (1 - 2 * eps) + eps
    return np.log(q / (1 - q)) * temp


def test_stable_inverse_sigmoid_is_finite_and_bounded():
    p = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    out = policy.stable_inverse_sigmoid(p, eps=0.01)
    bound = math.log(0.99 / 0.01)
    assert torch.allclose(out, torch.tensor([-bound, 0.0, bound], dtype=torch.float64))


def test_transt_shaping_matches_float64_reference():
    rng = np.random.default_rng(1)
    fg = rng.random((6, 1024))
    window = np.outer(np.hanning(32), np.hanning(32)).ravel()
    expected = reference_logits(fg, 1.0, window, 0.49, 4.0, 0.01)
    got = policy.shaped_logits(torch.from_numpy(fg), window=policy.hann_window(32, dtype=torch.float64),
                               window_influence=0.49, temperature=4.0, sig_eps=0.01)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_siamrpnpp_shaping_matches_float64_reference():
    rng = np.random.default_rng(2)
    fg = rng.random((4, 3125))
    pred_wh = rng.uniform(5, 100, (4, 3125, 2))
    prev_wh = rng.uniform(5, 100, (4, 2))

    def change(r):
        return np.maximum(r, 1.0 / r)

    def sz(w, h):
        pad = (w + h) * 0.5
        return np.sqrt((w + pad) * (h + pad))

    s_c = change(sz(pred_wh[..., 0], pred_wh[..., 1]) / sz(prev_wh[:, None, 0], prev_wh[:, None, 1]))
    r_c = change((prev_wh[:, None, 0] / prev_wh[:, None, 1]) / (pred_wh[..., 0] / pred_wh[..., 1]))
    penalty = np.exp(-(r_c * s_c - 1) * 0.05)
    window = np.tile(np.outer(np.hanning(25), np.hanning(25)).ravel(), 5)
    expected = reference_logits(fg, penalty, window, 0.42, 8.0, 0.01)

    got_penalty = policy.scale_ratio_penalty(torch.from_numpy(pred_wh), torch.from_numpy(prev_wh), 0.05)
    np.testing.assert_allclose(got_penalty.numpy(), penalty, rtol=1e-12)
    got = policy.shaped_logits(torch.from_numpy(fg), penalty=got_penalty,
                               window=policy.hann_window(25, 5, dtype=torch.float64),
                               window_influence=0.42, temperature=8.0, sig_eps=0.01)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_argmax_of_logits_is_argmax_of_shaped_probability():
    torch.manual_seed(0)
    fg = torch.rand(64, 405)
    penalty = torch.rand(64, 405)
    window = policy.hann_window(9, 5)
    logits = policy.shaped_logits(fg, penalty=penalty, window=window, window_influence=0.42, temperature=8.0)
    shaped_prob = 0.58 * fg * penalty + 0.42 * window
    assert torch.equal(logits.argmax(-1), shaped_prob.argmax(-1))


def test_hann_window_is_anchor_major():
    w = policy.hann_window(5, 3)
    assert w.shape == (75,)
    assert w.dtype == torch.float32
    assert torch.equal(w[:25], w[25:50])
    assert w[12] == w.max()  # centre cell (2, 2) of anchor 0


def test_meanmax_maps_mean_to_low_and_max_to_high():
    scores = torch.randn(3, 529, dtype=torch.float64)
    z = policy.meanmax_logits(scores, -7.0, 7.0)
    assert torch.allclose(z.mean(-1), torch.full((3,), -7.0, dtype=torch.float64))
    assert torch.allclose(z.amax(-1), torch.full((3,), 7.0, dtype=torch.float64))
    flat = policy.meanmax_logits(torch.ones(1, 10))
    assert torch.isfinite(flat).all() and torch.allclose(flat, torch.full((1, 10), -7.0))


def test_half_mode_first_half_is_argmax_second_half_follows_softmax():
    logits = torch.tensor([[0.0, 1.0, 2.0, -1.0]]).repeat(4000, 1)
    gen = torch.Generator().manual_seed(1234)
    actions = policy.select_actions(logits, "half", gen)
    assert torch.equal(actions[:2000], torch.full((2000,), 2))
    counts = torch.bincount(actions[2000:], minlength=4).double()
    expected = torch.softmax(logits[0].double(), 0) * 2000
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 16.27  # chi-square, 3 degrees of freedom, p = 0.001


def test_select_actions_modes_and_errors():
    logits = torch.tensor([[0.0, 5.0], [3.0, 0.0]])
    assert policy.select_actions(logits, "argmax").tolist() == [1, 0]
    sampled = policy.select_actions(torch.tensor([[-50.0, 50.0]] * 3), "sample")
    assert sampled.tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="even"):
        policy.select_actions(torch.zeros(3, 2), "half")
    with pytest.raises(ValueError, match="unknown action mode"):
        policy.select_actions(logits, "max")


def test_clip_random_half_mode_with_three_copies_follows_softmax_per_clip():
    """ClipRandom with 500 clips and 3 copies: copy 0 greedy, copies 1 and 2 sampled from the policy."""
    logits = torch.tensor([[0.0, 1.0, 2.0, -1.0]]).repeat(1500, 1)
    random = policy.ClipRandom([(7, 0, k) for k in range(500)])
    actions = policy.select_actions(logits, "half", random)
    assert torch.equal(actions[:500], torch.full((500,), 2))
    counts = torch.bincount(actions[500:], minlength=4).double()
    expected = torch.softmax(logits[0].double(), 0) * 1000
    assert float(((counts - expected) ** 2 / expected).sum()) < 16.27  # chi-square, 3 dof, p = 0.001
    with pytest.raises(ValueError, match="do not split"):
        policy.select_actions(torch.zeros(7, 4), "half", random)


def test_clip_random_draws_depend_on_the_key_only():
    a = policy.ClipRandom([(0, 0, 1), (0, 0, 2)]).uniform(5)
    b = policy.ClipRandom([(0, 0, 2)]).uniform(5)
    assert torch.equal(a[1], b[0]) and not torch.equal(a[0], a[1])
    assert policy.ClipRandom([(0, 0, 2)], stream=1).uniform(5).ne(b).all()
    with pytest.raises(KeyError, match="'key'"):
        policy.ClipRandom.for_batch({"search_images": []})


def test_shaping_logits_equal_shaped_logits_and_need_their_penalty():
    torch.manual_seed(0)
    fg, penalty = torch.rand(2, 45), torch.rand(2, 45)
    window = policy.hann_window(3, 5)
    shaping = policy.Shaping(window=window, window_influence=0.42, temperature=8.0, penalty="penalty")
    expected = policy.shaped_logits(fg, penalty=penalty, window=window, window_influence=0.42, temperature=8.0)
    assert torch.equal(shaping.logits(fg, {"penalty": penalty}), expected)
    with pytest.raises(KeyError, match="penalty"):
        shaping.logits(fg)
    meanmax = policy.Shaping(kind="meanmax")
    assert torch.equal(meanmax.logits(fg), policy.meanmax_logits(fg))
    with pytest.raises(ValueError, match="shaping kind"):
        policy.Shaping(kind="softmax")
