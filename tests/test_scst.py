"""slt.scst: returns, baselines, advantages and the SCST loss and its gradient."""

import pytest
import torch

from slt import scst


def test_rewards_zero_for_identical_trajectories():
    iou = torch.rand(5, 7)
    assert torch.equal(scst.sequence_advantages(iou, iou.clone(), torch.full((5,), 7)), torch.zeros(5))


def test_rewards_are_mean_iou_gap_over_valid_frames_only():
    sampled = torch.tensor([[0.8, 0.6, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5]])
    greedy = torch.tensor([[0.4, 0.4, 1.0, 1.0], [0.25, 0.25, 0.25, 0.25]])
    lengths = torch.tensor([2, 4])
    rewards = scst.sequence_advantages(sampled, greedy, lengths)
    assert torch.allclose(rewards, torch.tensor([0.7 - 0.4, 0.25]))
    # padded frames do not matter
    sampled[0, 2:] = 123.0
    assert torch.allclose(scst.sequence_advantages(sampled, greedy, lengths), rewards)


def test_floored_iou_return_values():
    iou = torch.tensor([[0.49, 0.5, 0.74, 1.0]])
    per_frame = torch.tensor([-1.0, 0.0, 0.4, 1.0])
    got = scst.floored_iou_return(iou, torch.tensor([4]))
    assert torch.allclose(got, per_frame.mean()[None])


def test_success_auc_return_values():
    iou = torch.tensor([[1.0, 0.0], [0.52, 0.52]])
    got = scst.success_auc_return(iou, torch.tensor([2, 2]))
    # IoU 1 is above 20 of 21 thresholds, IoU 0 above none; 0.52 above 0, 0.05, ..., 0.5 (11 thresholds)
    assert torch.allclose(got, torch.tensor([20 / 21 / 2, 11 / 21]))


def test_mean_of_samples_baseline_is_leave_one_out():
    sampled = torch.tensor([[[1.0, 1.0]], [[0.5, 0.5]], [[0.0, 0.0]]])  # (S=3, N=1, L=2)
    adv = scst.advantages(sampled, None, torch.tensor([2]), baseline="mean_of_samples")
    assert torch.allclose(adv, torch.tensor([[0.75], [0.0], [-0.75]]))
    with pytest.raises(ValueError, match="S >= 2"):
        scst.advantages(sampled[:1, 0], None, torch.tensor([2]), baseline="mean_of_samples")


def test_batch_scale_divides_by_the_root_mean_square_and_keeps_signs_and_zeros():
    adv = torch.tensor([[0.3, -0.4, 0.0]])  # (S=1, N=3): rms sqrt(0.25 / 3)
    scaled = scst.scale_advantages(adv, "batch")
    assert torch.allclose(scaled, adv / (0.25 / 3) ** 0.5)
    assert scaled[0, 2] == 0.0 and scaled[0, 0] > 0 > scaled[0, 1]
    assert torch.allclose(scst.scale_advantages(adv, "batch", spread=torch.tensor(0.5)), adv * 2)
    assert torch.equal(scst.scale_advantages(adv, "none"), adv)
    tiny = torch.tensor([0.001, 0.0])
    assert torch.allclose(scst.scale_advantages(tiny, "batch"), tiny / scst.SCALE_FLOOR)
    with pytest.raises(ValueError, match="unknown advantage scale"):
        scst.scale_advantages(adv, "whiten")


def test_group_scale_is_per_clip_over_its_samples():
    adv = torch.tensor([[0.2, 0.0, 0.03], [-0.2, 0.0, 0.0]])  # (S=2, N=3)
    scaled = scst.scale_advantages(adv, "group")
    assert torch.allclose(scaled[:, 0], torch.tensor([1.0, -1.0]))
    assert torch.equal(scaled[:, 1], torch.zeros(2))  # both samples at the baseline: the floor, not 0 / 0
    assert torch.allclose(scaled[:, 2], torch.tensor([0.03 / 0.0004500 ** 0.5, 0.0]))
    with pytest.raises(ValueError, match="S >= 2"):
        scst.scale_advantages(adv[:1], "group")


def test_no_baseline_and_greedy_baseline_values():
    sampled = torch.tensor([[0.6, 0.6]])
    greedy = torch.tensor([[0.2, 0.4]])
    lengths = torch.tensor([2])
    assert torch.allclose(scst.advantages(sampled, greedy, lengths, baseline="none"), torch.tensor([0.6]))
    assert torch.allclose(scst.advantages(sampled, greedy, lengths, baseline="greedy"), torch.tensor([0.3]))
    with pytest.raises(ValueError, match="greedy"):
        scst.advantages(sampled, None, lengths, baseline="greedy")
    with pytest.raises(ValueError, match="unknown return"):
        scst.advantages(sampled, greedy, lengths, return_fn="nope")


def test_scst_loss_gradient_is_minus_reward_times_onehot_minus_softmax_over_n():
    torch.manual_seed(0)
    logits = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    actions = torch.tensor([0, 1, 2, 3, 4, 0])
    rewards = torch.tensor([0.5, -0.2, 0.0, 1.0, 0.3, -0.7], dtype=torch.float64)
    scst.scst_loss(logits, actions, rewards).backward()
    onehot = torch.nn.functional.one_hot(actions, 5).double()
    expected = -rewards[:, None] * (onehot - torch.softmax(logits.detach(), -1)) / 6
    assert torch.allclose(logits.grad, expected)


def test_scst_loss_masked_samples_contribute_nothing_and_denominators():
    logits = torch.randn(4, 3, requires_grad=True)
    actions = torch.tensor([0, 1, 2, 0])
    rewards = torch.ones(4)
    mask = torch.tensor([True, True, False, False])
    loss_all = scst.scst_loss(logits, actions, rewards, mask)
    loss_valid = scst.scst_loss(logits, actions, rewards, mask, denominator="valid")
    assert torch.allclose(loss_all * 4, loss_valid * 2)
    loss_all.backward()
    assert torch.equal(logits.grad[2:], torch.zeros(2, 3))
    with pytest.raises(ValueError, match="denominator"):
        scst.scst_loss(logits, actions, rewards, denominator="bad")
