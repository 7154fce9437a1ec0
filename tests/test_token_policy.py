"""slt.token_policy: the factorised autoregressive box-token policy on a tiny random causal decoder.

The decoder (written here) embeds tokens plus positions, adds a per-row memory vector, and runs two causal
self-attention layers; it stands in for SeqTrack's and ARTrack's decoders (the host tests check the real ones).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from slt import scst, token_policy as tp
from slt.policy import ClipRandom

SEQ_BINS = 50  # SeqTrack-like: 50 coordinate bins, END 50, START 51
AR_BINS, AR_RANGE = 10, 2  # ARTrack-like: 22 tokens, START 20, END 21


class TinyDecoder(nn.Module):
    """A causal decoder: ``(B, L)`` tokens and ``(B, D)`` memory -> ``(B, L, V)`` logits."""

    def __init__(self, vocab: int, dim: int = 16, layers: int = 2, max_len: int = 40, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(max_len, dim)
        layer = nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Linear(dim, vocab)
        with torch.no_grad():
            self.out.weight.mul_(8.0)  # peaked distributions, as a trained decoder's

    def forward(self, seq: Tensor, memory: Tensor) -> Tensor:
        length = seq.shape[1]
        x = self.embed(seq) + self.pos.weight[:length] + memory[:, None]
        mask = nn.Transformer.generate_square_subsequent_mask(length, dtype=x.dtype)
        return self.out(self.body(x, mask=mask, is_causal=True))


def step_of(decoder: TinyDecoder, memory: Tensor):
    """The host-style step function: the decoder re-run on the whole prefix, logits of the last position."""
    return lambda prefix: decoder(prefix, memory)[:, -1]


def seqtrack_prefix(rows: int) -> Tensor:
    return torch.full((rows, 1), SEQ_BINS + 1, dtype=torch.long)


def artrack_prefix(rows: int, seed: int = 1) -> Tensor:
    """Per-row history (7 boxes = 28 coordinate tokens) then START, as ARTrack feeds its decoder."""
    g = torch.Generator().manual_seed(seed)
    history = torch.randint(0, AR_BINS * AR_RANGE, (rows, 28), generator=g)
    return torch.cat((history, torch.full((rows, 1), AR_BINS * AR_RANGE)), dim=1)


def reference_greedy(step, prefix: Tensor, allowed: int | None, window: np.ndarray | None,
                     centre: tuple[int, ...]) -> Tensor:
    """The hosts' inference loop written out: softmax, cut, window on the centre positions, topk(1)."""
    seq = prefix
    for j in range(4):
        out = step(seq).softmax(-1)
        if allowed is not None:
            out = out[:, :allowed]
        if window is not None and j in centre:
            out = out * torch.tensor(window).unsqueeze(0)
        seq = torch.cat((seq, out.topk(dim=-1, k=1)[1]), dim=-1)
    return seq[:, -4:]


def chi2_critical(dof: int, z: float = 3.719) -> float:
    """Wilson-Hilferty chi-square quantile (z = 3.719: upper tail 1e-4)."""
    return dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3


def chi2_statistic(draws: Tensor, probs: Tensor) -> tuple[float, int]:
    """Pearson statistic of integer draws against ``probs``, cells with expected count < 5 pooled."""
    count = draws.numel()
    observed = torch.bincount(draws, minlength=probs.numel()).double()
    expected = probs.double() * count
    big = expected >= 5
    obs = torch.cat((observed[big], observed[~big].sum()[None]))
    exp = torch.cat((expected[big], expected[~big].sum()[None]))
    keep = exp > 0
    assert float(obs[~keep].sum()) == 0.0, "a draw fell on a token of probability 0"
    obs, exp = obs[keep], exp[keep]
    return float(((obs - exp) ** 2 / exp).sum()), int(keep.sum()) - 1


@pytest.fixture
def seq_decoder() -> TinyDecoder:
    return TinyDecoder(SEQ_BINS + 2).eval()


@pytest.fixture
def ar_decoder() -> TinyDecoder:
    return TinyDecoder(AR_BINS * AR_RANGE + 2, seed=3).eval()


def test_rules_of_the_hosts():
    rules = tp.seqtrack_rules()
    assert rules.vocab_size == 4002 and rules.num_tokens == 4
    assert [r.allowed for r in rules.positions] == [4000] * 4
    for j in (0, 1):
        window = rules.positions[j].window
        assert window.dtype == torch.float64
        np.testing.assert_array_equal(window.numpy(), np.hanning(4000))
    assert rules.positions[2].window is None and rules.positions[3].window is None
    whxy = tp.seqtrack_rules(seq_format="whxy")
    assert [r.window is not None for r in whxy.positions] == [False, False, True, True]
    assert all(r.window is None for r in tp.seqtrack_rules(window=False).positions)
    ar = tp.artrack_rules()
    assert ar.vocab_size == 802 and all(r.allowed is None and r.window is None for r in ar.positions)
    assert ar.allowed(0) == 802 and ar.sampled(0) == 800 and rules.sampled(0) == 4000


def test_artrack_greedy_may_emit_start_but_samples_coordinates_only():
    """Where START dominates, greedy emits it (the host's topk over 802), its recorded log pi is -inf, and every
    sampled token is a coordinate drawn from the renormalised 800 coordinate probabilities."""
    rules = tp.artrack_rules(AR_BINS, AR_RANGE)
    vocab, coords = rules.vocab_size, rules.sampled(0)
    base = torch.randn(1, vocab, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    base[0, coords] = 8.0  # START

    def step(prefix: Tensor) -> Tensor:
        return base.expand(prefix.shape[0], vocab)

    rows = 400
    out = tp.decode_boxes(step, artrack_prefix(rows), rules, "half", ClipRandom([(2, 0, i) for i in range(rows // 2)]))
    assert bool((out.tokens[: rows // 2] == coords).all()) and bool(torch.isinf(out.log_prob[: rows // 2]).all())
    sampled = out.tokens[rows // 2:]
    assert int(sampled.max()) < coords and bool(torch.isfinite(out.log_prob[rows // 2:]).all())
    expected = torch.softmax(base[0, :coords], -1)
    torch.testing.assert_close(tp.policy_distribution(base, rules, 0)[0], expected)
    logits = base.expand(rows // 2, vocab)[:, None].expand(rows // 2, 4, vocab)
    torch.testing.assert_close(tp.teacher_forced_log_prob(logits, sampled, rules), out.log_prob[rows // 2:])


@pytest.mark.parametrize("window", [True, False])
def test_seqtrack_like_greedy_is_the_host_topk_loop(seq_decoder, window):
    memory = torch.randn(6, 16, generator=torch.Generator().manual_seed(2))
    step = step_of(seq_decoder, memory)
    rules = tp.seqtrack_rules(SEQ_BINS, window=window)
    with torch.no_grad():
        expected = reference_greedy(step, seqtrack_prefix(6), SEQ_BINS,
                                    np.hanning(SEQ_BINS) if window else None, (0, 1))
    got = tp.decode_boxes(step, seqtrack_prefix(6), rules, "argmax")
    assert torch.equal(got.tokens, expected)
    assert bool(got.greedy.all())
    assert int(got.tokens.max()) < SEQ_BINS


def test_artrack_like_greedy_is_the_host_topk_loop_with_per_row_history(ar_decoder):
    memory = torch.randn(5, 16, generator=torch.Generator().manual_seed(4))
    step = step_of(ar_decoder, memory)
    prefix = artrack_prefix(5)
    with torch.no_grad():
        expected = reference_greedy(step, prefix, None, None, ())
    got = tp.decode_boxes(step, prefix, tp.artrack_rules(AR_BINS, AR_RANGE), "argmax")
    assert torch.equal(got.tokens, expected)


def test_half_mode_layout_copy_zero_greedy_and_clip_keyed_draws(seq_decoder):
    rules = tp.seqtrack_rules(SEQ_BINS, temperature=0.5)
    clips, copies = 3, 4
    memory = torch.randn(clips, 16, generator=torch.Generator().manual_seed(5))
    step = step_of(seq_decoder, memory.repeat(copies, 1))
    keys = [(7, 0, i) for i in range(clips)]
    out = tp.decode_boxes(step, tp.tile_prefix(seqtrack_prefix(clips), copies), rules, "half", ClipRandom(keys))
    assert out.tokens.shape == (clips * copies, 4)
    assert out.greedy.tolist() == [True] * clips + [False] * clips * (copies - 1)
    greedy = tp.decode_boxes(step_of(seq_decoder, memory), seqtrack_prefix(clips), rules, "argmax")
    assert torch.equal(out.tokens[:clips], greedy.tokens)
    # clip 2 alone, same key: the same draws as inside the batch (row c * N + i follows clip i)
    alone = tp.decode_boxes(step_of(seq_decoder, memory[2:].repeat(copies, 1)),
                            tp.tile_prefix(seqtrack_prefix(1), copies), rules, "half", ClipRandom(keys[2:]))
    assert torch.equal(alone.tokens, out.tokens[2::clips])
    again = tp.decode_boxes(step, tp.tile_prefix(seqtrack_prefix(clips), copies), rules, "half", ClipRandom(keys))
    assert torch.equal(again.tokens, out.tokens)
    assert not torch.equal(out.tokens[clips:2 * clips], out.tokens[2 * clips:3 * clips])


class TableStep:
    """Fixed logits: position 0 from ``first``; position 1 from ``second[t_0]``; later positions uniform."""

    def __init__(self, vocab: int, start_len: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.first = torch.randn(vocab, generator=g) * 2.0
        self.second = torch.randn(vocab, vocab, generator=g) * 2.0
        self.start_len = start_len
        self.vocab = vocab

    def __call__(self, prefix: Tensor) -> Tensor:
        done = prefix.shape[1] - self.start_len
        rows = prefix.shape[0]
        if done == 0:
            return self.first.expand(rows, -1).clone()
        if done == 1:
            return self.second[prefix[:, -1]]
        return torch.zeros(rows, self.vocab)


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_sampled_tokens_follow_the_policy_chi_square(temperature):
    vocab = SEQ_BINS + 2
    rules = tp.seqtrack_rules(SEQ_BINS, temperature=temperature)
    step = TableStep(vocab, 1)
    draws = 40000
    out = tp.decode_boxes(step, seqtrack_prefix(draws), rules, "sample", torch.Generator().manual_seed(11))
    first = tp.policy_distribution(step.first[None], rules, 0)[0]
    # the policy is the renormalised host score raised to the temperature
    host = tp.host_scores(step.first[None].double(), rules, 0)[0]
    np.testing.assert_allclose(first.numpy(), (host ** temperature / (host ** temperature).sum()).numpy(),
                               rtol=1e-9, atol=1e-15)
    stat, dof = chi2_statistic(out.tokens[:, 0], first)
    assert stat < chi2_critical(dof)
    # the test has power: the same draws reject the policy at another temperature
    other = tp.policy_distribution(step.first[None], rules.with_temperature(1.5 * temperature), 0)[0]
    stat, dof = chi2_statistic(out.tokens[:, 0], other)
    assert stat > chi2_critical(dof)
    # the second token given the most frequent first token
    mode = int(torch.bincount(out.tokens[:, 0]).argmax())
    rows = out.tokens[:, 0] == mode
    second = tp.policy_distribution(step.second[mode][None], rules, 1)[0]
    stat, dof = chi2_statistic(out.tokens[rows, 1], second)
    assert stat < chi2_critical(dof)
    # the Hann window's zero ends are never drawn on the centre positions
    assert not bool(((out.tokens[:, :2] == 0) | (out.tokens[:, :2] == SEQ_BINS - 1)).any())


def test_recorded_log_prob_is_the_sum_of_token_log_probs():
    rules = tp.seqtrack_rules(SEQ_BINS, temperature=0.8)
    step = TableStep(SEQ_BINS + 2, 1, seed=2)
    out = tp.decode_boxes(step, seqtrack_prefix(200), rules, "sample", torch.Generator().manual_seed(3))
    t0, t1 = out.tokens[:, 0], out.tokens[:, 1]
    expected = (tp.policy_distribution(step.first[None], rules, 0)[0][t0].log()
                + tp.policy_distribution(step.second[t0], rules, 1).gather(1, t1[:, None]).squeeze(1).log()
                - 2 * math.log(SEQ_BINS))  # positions 2, 3: uniform logits over the 50 kept bins
    torch.testing.assert_close(out.log_prob, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("host", ["seqtrack", "artrack"])
def test_teacher_forced_log_prob_equals_recorded_and_has_gradients(seq_decoder, ar_decoder, host):
    if host == "seqtrack":
        decoder, rules, prefix = seq_decoder, tp.seqtrack_rules(SEQ_BINS, temperature=0.7), seqtrack_prefix(3)
    else:
        decoder, rules, prefix = ar_decoder, tp.artrack_rules(AR_BINS, AR_RANGE, temperature=0.7), artrack_prefix(3)
    clips, copies = 3, 3
    memory = torch.randn(clips, 16, generator=torch.Generator().manual_seed(8)).repeat(copies, 1)
    prefix = tp.tile_prefix(prefix, copies)
    out = tp.decode_boxes(step_of(decoder, memory), prefix, rules, "half", ClipRandom([(1, 0, i) for i in range(3)]))
    decoder.zero_grad()
    # rows the policy can have drawn (an ARTrack greedy row may hold START, log pi = -inf; the update never scores
    # greedy rows)
    scored = torch.isfinite(out.log_prob)
    assert bool(scored[~out.greedy].all())
    full = decoder(tp.teacher_forcing_input(prefix, out.tokens), memory)
    log_prob = tp.teacher_forced_log_prob(full[scored, -4:], out.tokens[scored], rules)
    torch.testing.assert_close(log_prob.detach().double(), out.log_prob[scored], rtol=0, atol=1e-5)
    advantages = torch.linspace(-1.0, 1.0, clips * copies)[scored]
    loss = scst.log_prob_scst_loss(log_prob, advantages, ~out.greedy[scored])
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in decoder.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert float(decoder.out.weight.grad.abs().sum()) > 0
    assert float(decoder.embed.weight.grad.abs().sum()) > 0


def test_no_nan_gradient_through_window_zeros():
    rules = tp.seqtrack_rules(SEQ_BINS)
    logits = torch.randn(4, SEQ_BINS + 2, requires_grad=True)
    tokens = torch.tensor([1, 20, 25, 48])
    lp = tp.token_log_probs(logits, tokens, rules, 0)
    lp.sum().backward()
    assert bool(torch.isfinite(logits.grad).all())
    # pi ignores the logits of window-0 tokens and of the cut END/START tokens (up to rounding)
    assert float(logits.grad[:, [0, SEQ_BINS, SEQ_BINS + 1]].abs().max()) < 1e-6
    assert float(logits.grad[:, 1:SEQ_BINS - 1].abs().max()) > 1e-3


def test_temperature_sharpens_and_never_changes_greedy(seq_decoder):
    memory = torch.randn(4, 16, generator=torch.Generator().manual_seed(9))
    step = step_of(seq_decoder, memory)
    greedy = tp.decode_boxes(step, seqtrack_prefix(4), tp.seqtrack_rules(SEQ_BINS), "argmax").tokens
    for temperature in (0.3, 1.0, 5.0):
        rules = tp.seqtrack_rules(SEQ_BINS, temperature=temperature)
        assert torch.equal(tp.decode_boxes(step, seqtrack_prefix(4), rules, "argmax").tokens, greedy)
    logits = torch.randn(3, SEQ_BINS + 2)
    flat, sharp = (tp.policy_distribution(logits, tp.seqtrack_rules(SEQ_BINS, temperature=t), 0) for t in (0.5, 4.0))
    assert torch.equal(flat.argmax(-1), sharp.argmax(-1))
    assert torch.equal(flat.argmax(-1), tp.host_scores(logits, tp.seqtrack_rules(SEQ_BINS), 0).argmax(-1))
    assert bool((sharp.max(-1).values > flat.max(-1).values).all())
    # a very high temperature samples the greedy box
    hot = tp.seqtrack_rules(SEQ_BINS, temperature=1e4)
    sampled = tp.decode_boxes(step, seqtrack_prefix(4), hot, "sample", torch.Generator().manual_seed(0)).tokens
    assert torch.equal(sampled, greedy)


def test_scst_loss_on_token_log_probs_is_the_categorical_formula():
    logits = torch.randn(6, 9, requires_grad=True)
    actions = torch.randint(0, 9, (6,))
    advantages = torch.randn(6)
    mask = torch.tensor([True, True, False, True, False, True])
    logp = torch.log_softmax(logits, -1).gather(1, actions[:, None]).squeeze(1)
    for denominator in ("all", "valid"):
        expected = scst.scst_loss(logits, actions, advantages, mask, denominator=denominator)
        got = scst.log_prob_scst_loss(logp, advantages, mask, denominator=denominator)
        torch.testing.assert_close(got, expected)
    count = 6
    torch.testing.assert_close(scst.log_prob_scst_loss(logp, advantages, mask),
                               -(advantages * logp * mask).sum() / count)
    with pytest.raises(ValueError, match="denominator"):
        scst.log_prob_scst_loss(logp, advantages, denominator="tokens")


def test_positive_advantage_raises_the_sampled_box_probability():
    rules = tp.artrack_rules(AR_BINS, AR_RANGE)
    logits = torch.zeros(1, 4, rules.vocab_size, requires_grad=True)
    tokens = torch.tensor([[3, 4, 12, 13]])
    loss = scst.log_prob_scst_loss(tp.teacher_forced_log_prob(logits, tokens, rules), torch.ones(1))
    loss.backward()
    with torch.no_grad():
        after = tp.teacher_forced_log_prob(logits - 1.0 * logits.grad, tokens, rules)
        before = tp.teacher_forced_log_prob(logits, tokens, rules)
    assert float(after) > float(before)


def test_clear_errors():
    rules = tp.seqtrack_rules(SEQ_BINS)
    with pytest.raises(ValueError, match="52-token vocabulary"):
        tp.host_scores(torch.zeros(2, 40), rules, 0)
    with pytest.raises(ValueError, match=r"only samples tokens \[0, 50\)"):
        tp.token_log_probs(torch.zeros(1, 52), torch.tensor([50]), rules, 0)
    with pytest.raises(ValueError, match="temperature must be positive"):
        tp.seqtrack_rules(SEQ_BINS, temperature=0.0)
    with pytest.raises(ValueError, match="window has 3 entries for 5 allowed"):
        tp.PositionRule(allowed=5, window=torch.ones(3))
    with pytest.raises(ValueError, match="sequence format"):
        tp.seqtrack_rules(seq_format="yxhw")
    with pytest.raises(ValueError, match="unknown action mode"):
        tp.decode_boxes(TableStep(52, 1), seqtrack_prefix(2), rules, "beam")
    with pytest.raises(ValueError, match=r"\(B, 4, V\) logits"):
        tp.teacher_forced_log_prob(torch.zeros(2, 3, 52), torch.zeros(2, 3, dtype=torch.long), rules)
