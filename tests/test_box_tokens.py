"""slt.box_tokens: the hosts' quantisation and de-quantisation of crop boxes, and their one-sided round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slt import box_tokens as bt


def random_xywh(count: int, seed: int = 0, spread: float = 1.0) -> torch.Tensor:
    """Normalised crop xywh boxes; ``spread > 1`` puts some outside the crop."""
    g = torch.Generator().manual_seed(seed)
    xy = (torch.rand(count, 2, generator=g) - 0.5) * spread + 0.5
    wh = torch.rand(count, 2, generator=g) * 0.5 + 1e-3
    return torch.cat((xy - wh / 2, wh), dim=-1)


def to_xyxy(xywh: torch.Tensor) -> torch.Tensor:
    return torch.cat((xywh[..., :2], xywh[..., :2] + xywh[..., 2:]), dim=-1)


def test_seqtrack_tokens_match_the_training_actor_arithmetic():
    boxes = random_xywh(500, spread=1.6)
    bins = 4000
    # lib/train/actors/seqtrack.py:47-56 written out: xyxy, clamp to [0, 1], cxcywh, int(v * (bins - 1))
    xyxy = to_xyxy(boxes).clamp(0, 1)
    cxcywh = torch.stack(((xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2,
                          xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]), dim=-1)
    expected = (cxcywh * (bins - 1)).int().long()
    got = bt.seqtrack_box_tokens(boxes, bins)
    assert torch.equal(got, expected)
    assert got.dtype == torch.long and int(got.min()) >= 0 and int(got.max()) <= bins - 1
    assert torch.equal(bt.seqtrack_box_tokens(boxes, bins, "whxy"), expected[:, [2, 3, 0, 1]])
    assert torch.equal(bt.seqtrack_box_tokens(boxes, bins, "corner"), (xyxy * (bins - 1)).int().long())


@pytest.mark.parametrize("seq_format", ["xywh", "whxy", "corner"])
def test_seqtrack_box_token_box_round_trip_is_within_one_bin_below(seq_format):
    boxes = random_xywh(2000, seed=1, spread=0.5)  # inside the crop: no clamping
    boxes = boxes[(to_xyxy(boxes) > 0).all(-1) & (to_xyxy(boxes) < 1).all(-1)]
    bins = 4000
    back = bt.seqtrack_token_boxes(bt.seqtrack_box_tokens(boxes, bins, seq_format), bins, seq_format)
    if seq_format == "corner":
        x1y1 = to_xyxy(boxes)
        truth = torch.stack(((x1y1[:, 0] + x1y1[:, 2]) / 2, (x1y1[:, 1] + x1y1[:, 3]) / 2,
                             x1y1[:, 2] - x1y1[:, 0], x1y1[:, 3] - x1y1[:, 1]), dim=-1)
        tolerance = 1.0 / (bins - 1)  # cx and w mix two truncated corners
        assert float((back - truth).abs().max()) <= tolerance + 1e-6
    else:
        truth = torch.cat((boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:]), dim=-1)
        error = back - truth
        assert float(error.max()) <= 1e-6  # truncation: never above
        assert float(error.min()) >= -1.0 / (bins - 1) - 1e-6  # at most one bin below


def test_seqtrack_token_box_token_round_trip_keeps_or_drops_one():
    bins = 4000
    tokens = torch.arange(bins).repeat_interleave(4).reshape(-1, 4)
    values = bt.seqtrack_token_boxes(tokens, bins)
    assert torch.equal(values, tokens.float() / (bins - 1))
    again = (values * (bins - 1)).int().long()
    drop = tokens - again
    assert set(drop.unique().tolist()) <= {0, 1}
    assert int((drop == 0).sum()) > 0.99 * drop.numel()


def test_artrack_history_tokens_match_the_tracker_and_stay_below_start():
    bins, coord_range = 400, 2
    boxes = to_xyxy(random_xywh(800, seed=2, spread=3.0))
    # lib/test/tracker/artrack_seq.py:97-98, then the head's integer cast (head_seq.py:870)
    expected = ((boxes.clamp(-0.5, 1.5) + 0.5) * (bins - 1)).to(torch.int32).long()
    got = bt.artrack_history_tokens(boxes, bins, coord_range)
    assert torch.equal(got, expected)
    assert int(got.min()) == 0 and int(got.max()) == 2 * (bins - 1)  # clamped boxes hit both ends
    assert int(got.max()) < bins * coord_range  # never START (800) or END (801)


def test_artrack_targets_match_the_sequence_loss_and_reach_799():
    bins, coord_range = 400, 2
    boxes = to_xyxy(random_xywh(800, seed=3, spread=3.0))
    # lib/train/actors/artrack_seq.py:595-600 on normalised boxes
    expected = ((boxes + 0.5) * (bins - 1)).clamp(0.0, bins * coord_range - 0.0001).to(torch.int64)
    got = bt.artrack_target_tokens(boxes, bins, coord_range)
    assert torch.equal(got, expected)
    assert int(got.max()) == bins * coord_range - 1 and int(got.min()) == 0


def test_artrack_round_trips():
    bins, coord_range = 400, 2
    tokens = torch.arange(bins * coord_range).repeat_interleave(4).reshape(-1, 4)
    boxes = bt.artrack_token_boxes(tokens, bins, coord_range)
    torch.testing.assert_close(boxes, tokens.float() / (bins - 1) - 0.5)
    # float64: exact; float32: the token or one below (truncation)
    assert torch.equal(bt.artrack_target_tokens(tokens.double() / (bins - 1) - 0.5, bins, coord_range), tokens)
    drop = tokens - bt.artrack_target_tokens(boxes, bins, coord_range)
    assert set(drop.unique().tolist()) <= {0, 1}
    inside = to_xyxy(random_xywh(1000, seed=4, spread=1.5))
    error = bt.artrack_token_boxes(bt.artrack_history_tokens(inside), bins, coord_range) - inside
    assert float(error.max()) <= 1e-6 and float(error.min()) >= -1.0 / (bins - 1) - 1e-6
    start = bt.artrack_token_boxes(torch.full((1, 4), bins * coord_range), bins, coord_range)
    assert float(start.min()) > 1.5  # a greedily emitted START decodes just beyond the crop range


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        bt.seqtrack_box_tokens(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="floating point"):
        bt.artrack_history_tokens(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="sequence format"):
        bt.seqtrack_token_boxes(torch.zeros(2, 4, dtype=torch.long), seq_format="xyxy")
    with pytest.raises(ValueError, match="range must be >= 1"):
        bt.artrack_token_boxes(torch.zeros(2, 4, dtype=torch.long), coord_range=0)


def test_artrack_expected_box_is_the_mean_over_the_hosts_coordinate_grid():
    bins, coord_range = 400, 2
    count = bins * coord_range
    # the grid of lib/train/actors/artrack_seq.py's torch.range(-m + 1/n, 1 + m - 1/n, 2/n), n = bins * range
    grid = torch.from_numpy(np.arange(count) * (2 / count) + (-0.5 + 1 / count)).float()
    logits = torch.randn(3, 4, count + 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    expected = (logits[..., :count].softmax(-1) * grid.double()).sum(-1)
    torch.testing.assert_close(bt.artrack_expected_box(logits, bins, coord_range), expected, rtol=0, atol=1e-6)
    peaked = torch.full((1, 4, count + 2), -1e4)
    peaked[0, torch.arange(4), torch.tensor([0, 399, 400, count - 1])] = 0.0
    peaked[..., count:] = 1e4  # START and END are cut before the softmax
    torch.testing.assert_close(bt.artrack_expected_box(peaked, bins, coord_range), grid[[0, 399, 400, count - 1]][None])
    with pytest.raises(ValueError, match="4, V >= 800"):
        bt.artrack_expected_box(torch.zeros(2, 3, count))


def test_artrack_target_box_is_the_target_tokens_before_truncation():
    bins, coord_range = 400, 2
    boxes = to_xyxy(random_xywh(500, seed=5, spread=3.0))
    target = bt.artrack_target_box(boxes, bins, coord_range)
    assert float(target.min()) >= -0.5 and float(target.max()) <= (bins * coord_range - 1e-4) / (bins - 1) - 0.5
    assert torch.equal(((target + 0.5) * (bins - 1)).long().clamp(max=bins * coord_range - 1),
                       bt.artrack_target_tokens(boxes, bins, coord_range))
    inside = boxes.clamp(-0.4, 1.4)
    torch.testing.assert_close(bt.artrack_target_box(inside, bins, coord_range), inside)
