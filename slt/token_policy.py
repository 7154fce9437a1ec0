"""A factorised autoregressive categorical over box tokens, for trackers that decode a box token by token.

SeqTrack and ARTrack predict a box as four tokens ``t_0..t_3`` from a causal decoder. Their test-time decoding
(greedy) re-runs the decoder on the growing prefix and picks ``topk(1)`` of a per-position *host score*. This
module turns that decoding into a policy for SLT without knowing the host: the host is a *step function*
``step(prefix) -> logits`` with ``prefix`` ``(B, k)`` long tokens (the host's own start tokens -- SeqTrack's
START, ARTrack's 28 history tokens and START -- followed by the ``k - k0`` box tokens chosen so far) and
``logits`` ``(B, V)`` the decoder's raw next-token logits over the whole vocabulary.

Per-position rules (:class:`PositionRule`, data, not code):

* ``allowed``: after ``softmax`` over all V tokens, only tokens ``[0, allowed)`` are kept, *without*
  renormalising (SeqTrack keeps the 4000 coordinate bins of its 4002 tokens; ARTrack keeps all 802).
* ``window``: an optional ``(allowed,)`` multiplicative window applied in probability space (SeqTrack's
  ``np.hanning(4000)`` in float64 on the centre positions when ``TEST.WINDOW``).
* ``sampled``: the policy samples only tokens ``[0, sampled)`` (None: all allowed ones). ARTrack's greedy may emit
  its START/END tokens as coordinates; its policy samples the 800 coordinate tokens only.

Host score of position j: ``s_j = softmax(logits)[:allowed] * window`` (the host's exact arithmetic: float32
softmax times a float64 window is float64). Greedy = ``s_j.topk(1)``, the host's decision, exactly.

The policy at position j is the categorical of the renormalised host score over the ``n = sampled`` tokens,
sharpened by a temperature ``tau`` (it multiplies log-scores, as :mod:`slt.policy`'s temperature multiplies
logits: larger = sharper)::

    pi_j(i) = s_j(i) ** tau / sum_{i' < n} s_j(i') ** tau
            = softmax(tau * (log_softmax(logits)[:n] + log(window[:n])))(i)

The cut mass (END and START probabilities) and the window's total weight cancel in the renormalisation, so
``pi_j`` is a proper distribution over the ``n`` tokens; tokens with window 0 (the Hann window's ends)
have probability 0 and are never drawn. For every ``tau > 0``, ``argmax pi_j = argmax s_j`` whenever the greedy
token is one of the ``n`` (always when ``sampled`` is None): sampling changes the spread, never the greedy
decision. ``log pi(box) = sum_j log pi_j(t_j)`` given the prefix of the same row; a greedy token outside the ``n``
has ``log pi = -inf``.

Rows follow :func:`slt.policy.select_actions`' copy-major layout: with mode ``"half"`` and a
:class:`slt.policy.ClipRandom` of N clips, row ``c * N + i`` follows clip ``i``; copy 0 (rows ``[0, N)``) is
greedy, the other copies draw from ``pi``, one uniform per row and position from the clip's own stream (the
draws go through :func:`slt.policy.select_actions`, the project's one inverse-CDF sampler).

:func:`teacher_forced_log_prob` recomputes ``log pi(box)`` from the logits the host gives at all four
positions when fed ``[prefix, t_0, t_1, t_2]`` (teacher forcing), with gradients; it uses the same function of
the logits as exploration, so both agree up to the host's own teacher-forcing error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from slt.policy import ACTION_MODES, ClipRandom, Randomness, select_actions

StepFn = Callable[[Tensor], Tensor]
"""``(B, k)`` long prefix tokens -> ``(B, V)`` next-token logits (the host decoder's raw output)."""


@dataclass(frozen=True)
class PositionRule:
    """The host's decoding rule at one box position.

    ``allowed``: keep tokens ``[0, allowed)`` of the softmax over the whole vocabulary (no renormalisation by the
    host); None keeps all V. ``window``: ``(allowed,)`` non-negative multiplicative window on the kept
    probabilities, or None. The window's dtype is the host's (SeqTrack: float64). ``sampled``: the policy draws
    tokens ``[0, sampled)`` only (None: every allowed token).
    """

    allowed: int | None = None
    window: Tensor | None = None
    sampled: int | None = None

    def __post_init__(self) -> None:
        if self.allowed is not None and self.allowed < 1:
            raise ValueError(f"allowed must be a positive token count, got {self.allowed}")
        if self.sampled is not None and (self.sampled < 1 or (self.allowed is not None and self.sampled > self.allowed)):
            raise ValueError(f"sampled must be a positive token count within allowed={self.allowed}, got {self.sampled}")
        if self.window is not None:
            if self.window.dim() != 1:
                raise ValueError(f"the window must be 1-D (allowed,), got shape {tuple(self.window.shape)}")
            if self.allowed is not None and self.window.shape[0] != self.allowed:
                raise ValueError(f"the window has {self.window.shape[0]} entries for {self.allowed} allowed tokens")
            if bool((self.window < 0).any()):
                raise ValueError("the window must be non-negative (it multiplies probabilities)")


@dataclass(frozen=True)
class TokenRules:
    """A host's decoding rules: vocabulary size V, one :class:`PositionRule` per box token, a temperature.

    ``temperature`` (``tau > 0``) multiplies the log host scores of the sampling policy (see the module
    docstring); it never changes greedy decisions.
    """

    vocab_size: int
    positions: tuple[PositionRule, ...]
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if not self.positions:
            raise ValueError("TokenRules needs at least one position")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        for j, rule in enumerate(self.positions):
            size = rule.allowed if rule.allowed is not None else self.vocab_size
            if size > self.vocab_size:
                raise ValueError(f"position {j} allows {size} tokens of a {self.vocab_size}-token vocabulary")
            if rule.window is not None and rule.window.shape[0] != size:
                raise ValueError(f"position {j}: window of {rule.window.shape[0]} entries for {size} tokens")
            if rule.sampled is not None and rule.sampled > size:
                raise ValueError(f"position {j} samples {rule.sampled} of {size} allowed tokens")

    @property
    def num_tokens(self) -> int:
        """Number of box tokens decoded per row (4 for both hosts)."""
        return len(self.positions)

    def allowed(self, position: int) -> int:
        """Number of tokens position ``position`` may emit (its ``allowed`` or V)."""
        rule = self.positions[position]
        return self.vocab_size if rule.allowed is None else rule.allowed

    def sampled(self, position: int) -> int:
        """Number of tokens the policy draws from at ``position`` (its ``sampled`` or :meth:`allowed`)."""
        rule = self.positions[position]
        return self.allowed(position) if rule.sampled is None else rule.sampled

    def to(self, device: torch.device | str) -> "TokenRules":
        """The same rules with their windows on ``device``."""
        moved = tuple(rule if rule.window is None else replace(rule, window=rule.window.to(device))
                      for rule in self.positions)
        return replace(self, positions=moved)

    def with_temperature(self, temperature: float) -> "TokenRules":
        """The same rules at another temperature."""
        return replace(self, temperature=temperature)


SEQ_FORMATS = ("xywh", "whxy", "corner")


def seqtrack_rules(bins: int = 4000, *, window: bool = True, seq_format: str = "xywh",
                   temperature: float = 1.0) -> TokenRules:
    """SeqTrack's decoding (``lib/models/seqtrack/decoder.py:96-117``, ``lib/test/tracker/seqtrack.py:20-24``).

    Vocabulary ``bins + 2`` (bins coordinate tokens, END = bins, START = bins + 1); every box position keeps
    the first ``bins`` probabilities; with ``window`` (the host's ``TEST.WINDOW``) the centre positions (0, 1;
    2, 3 for ``seq_format='whxy'``) are multiplied by ``np.hanning(bins)`` in float64.
    """
    if seq_format not in SEQ_FORMATS:
        raise ValueError(f"unknown SeqTrack sequence format {seq_format!r}; expected one of {SEQ_FORMATS}")
    hann = torch.from_numpy(np.hanning(bins)) if window else None
    centre = (2, 3) if seq_format == "whxy" else (0, 1)
    positions = tuple(PositionRule(allowed=bins, window=hann if j in centre else None) for j in range(4))
    return TokenRules(vocab_size=bins + 2, positions=positions, temperature=temperature)


def artrack_rules(bins: int = 400, coord_range: int = 2, *, temperature: float = 1.0) -> TokenRules:
    """ARTrack's decoding (``lib/models/layers/head_seq.py:873-891``): greedy over all ``bins * range + 2`` tokens.

    Vocabulary 802 for ``bins=400, range=2``: tokens ``0..799`` coordinates, 800 START (and padding), 801 END;
    no cut, no window for greedy (the host may emit 800 or 801 greedily, and greedy rows do as the host does); the
    policy samples the ``bins * range`` coordinate tokens only.
    """
    vocab = bins * coord_range + 2
    return TokenRules(vocab_size=vocab, positions=(PositionRule(sampled=bins * coord_range),) * 4,
                      temperature=temperature)


def host_scores(logits: Tensor, rules: TokenRules, position: int) -> Tensor:
    """The host's greedy score: ``(B, V)`` logits -> ``(B, allowed)`` ``softmax(logits)[:, :allowed] * window``.

    Same operations and dtypes as the host (the window's dtype wins the promotion), so ``topk(1)`` of it is the
    host's decision, ties included.
    """
    _check_vocab(logits, rules)
    rule = rules.positions[position]
    scores = logits.softmax(-1)[:, : rules.allowed(position)]
    if rule.window is not None:
        scores = scores * rule.window.to(scores.device)
    return scores


def policy_logits(logits: Tensor, rules: TokenRules, position: int) -> Tensor:
    """The sampling policy's logits: ``(B, V)`` -> ``(B, n)`` ``tau * (log_softmax(logits)[:n] + log w[:n])``,
    ``n = rules.sampled(position)``.

    ``softmax`` of the result is ``pi_position`` (module docstring); entries with window 0 are ``-inf``.
    Differentiable in ``logits`` without NaN (the window enters as the constant ``log w``).
    """
    _check_vocab(logits, rules)
    rule = rules.positions[position]
    count = rules.sampled(position)
    out = torch.log_softmax(logits, dim=-1)[:, :count]
    if rule.window is not None:
        out = out + torch.log(rule.window[:count].to(out.device))
    return out * rules.temperature


def token_log_probs(logits: Tensor, tokens: Tensor, rules: TokenRules, position: int) -> Tensor:
    """``log pi_position(tokens)``: ``(B, V)`` logits, ``(B,)`` long tokens -> ``(B,)``, differentiable.

    A token outside the position's sampled range raises ``ValueError`` (it has no probability under the policy).
    """
    count = rules.sampled(position)
    if bool(((tokens < 0) | (tokens >= count)).any()):
        raise ValueError(f"position {position} only samples tokens [0, {count}); got {tokens.tolist()}")
    return torch.log_softmax(policy_logits(logits, rules, position), dim=-1).gather(-1, tokens[:, None]).squeeze(-1)


@dataclass(frozen=True)
class TokenDecoding:
    """The result of :func:`decode_boxes` for B rows.

    ``tokens``: ``(B, num_tokens)`` long box tokens (host order: SeqTrack cx cy w h, ARTrack x1 y1 x2 y2).
    ``log_prob``: ``(B,)`` float64 ``log pi(box)``, detached (recorded; the update recomputes it by teacher forcing).
    ``scores``: ``(B, num_tokens)`` the host scores of the chosen tokens (SeqTrack's ``confidence``).
    ``greedy``: ``(B,)`` bool, True on the rows decoded greedily.
    """

    tokens: Tensor
    log_prob: Tensor
    scores: Tensor
    greedy: Tensor


def greedy_rows(rows: int, mode: str, random: Randomness) -> int:
    """How many leading rows are greedy: all for ``"argmax"``, none for ``"sample"``, N for ``"half"``.

    N is the :class:`~slt.policy.ClipRandom`'s clip count, else ``rows / 2`` (:func:`select_actions`' layout).
    """
    if mode not in ACTION_MODES:
        raise ValueError(f"unknown action mode {mode!r}; expected one of {ACTION_MODES}")
    if mode == "argmax":
        return rows
    if mode == "sample":
        return 0
    if isinstance(random, ClipRandom):
        return len(random)
    return rows // 2


@torch.no_grad()
def decode_boxes(step: StepFn, prefix: Tensor, rules: TokenRules, mode: str = "half",
                 random: Randomness = None) -> TokenDecoding:
    """Decode one box per row, token by token, greedily or from ``pi`` (module docstring).

    ``step``: the host decoder, ``(B, k)`` long prefix -> ``(B, V)`` next-token logits, called
    ``rules.num_tokens`` times on the growing prefix (as the hosts' own inference loops do). ``prefix``:
    ``(B, k0)`` long, the host's start tokens per row (rows may differ: ARTrack's history is each row's own).
    ``mode``/``random``: as :func:`slt.policy.select_actions` (``"half"``: copy 0 greedy, copy-major rows).
    Greedy rows take ``host_scores(...).topk(1)``; sampled rows draw from ``softmax(policy_logits(...))``.
    """
    rows = prefix.shape[0]
    n_greedy = greedy_rows(rows, mode, random)
    seq = prefix.long()
    tokens, scores, log_prob = [], [], torch.zeros(rows, dtype=torch.float64, device=prefix.device)
    for j in range(rules.num_tokens):
        logits = step(seq)
        if logits.shape[0] != rows or logits.dim() != 2:
            raise ValueError(f"the step function returned logits of shape {tuple(logits.shape)}, "
                             f"expected ({rows}, {rules.vocab_size})")
        host = host_scores(logits, rules, j)
        choice = select_actions(policy_logits(logits, rules, j), mode, random)
        if n_greedy:
            choice[:n_greedy] = host[:n_greedy].topk(1, dim=-1)[1].squeeze(-1)
        log_prob += _recorded_log_prob(logits, choice, rules, j).to(log_prob.dtype)
        tokens.append(choice)
        scores.append(host.gather(-1, choice[:, None]).squeeze(-1))
        seq = torch.cat((seq, choice[:, None]), dim=-1)
    greedy = torch.arange(rows, device=prefix.device) < n_greedy
    return TokenDecoding(tokens=torch.stack(tokens, -1), log_prob=log_prob, scores=torch.stack(scores, -1),
                         greedy=greedy)


def _recorded_log_prob(logits: Tensor, tokens: Tensor, rules: TokenRules, position: int) -> Tensor:
    """``log pi_position(tokens)`` for any allowed token: ``-inf`` for a greedy token the policy never samples."""
    log_pi = torch.log_softmax(policy_logits(logits, rules, position), dim=-1)
    padded = torch.nn.functional.pad(log_pi, (0, rules.allowed(position) - log_pi.shape[-1]), value=float("-inf"))
    return padded.gather(-1, tokens[:, None]).squeeze(-1)


def teacher_forcing_input(prefix: Tensor, tokens: Tensor) -> Tensor:
    """The decoder input that teacher-forces ``tokens``: ``(B, k0)``, ``(B, n)`` -> ``(B, k0 + n - 1)``.

    ``[prefix, t_0 .. t_{n-2}]``: position ``k0 - 1 + j`` of the decoder's output predicts ``t_j``.
    """
    return torch.cat((prefix.long(), tokens[:, :-1].long()), dim=-1)


def teacher_forced_log_prob(logits: Tensor, tokens: Tensor, rules: TokenRules) -> Tensor:
    """``log pi(box)`` recomputed from teacher-forced logits, with gradients.

    ``logits``: ``(B, n, V)``, the decoder's logits at the n positions that predict the n box tokens (the last
    n outputs for the input :func:`teacher_forcing_input`); ``tokens``: ``(B, n)`` the recorded tokens.
    Returns ``(B,)`` ``sum_j log pi_j(t_j)``, the quantity :func:`decode_boxes` recorded.
    """
    if logits.dim() != 3 or logits.shape[:2] != tokens.shape or tokens.shape[1] != rules.num_tokens:
        raise ValueError(f"teacher forcing needs (B, {rules.num_tokens}, V) logits and (B, {rules.num_tokens}) "
                         f"tokens, got {tuple(logits.shape)} and {tuple(tokens.shape)}")
    terms = [token_log_probs(logits[:, j], tokens[:, j].long(), rules, j) for j in range(rules.num_tokens)]
    return torch.stack(terms, -1).sum(-1)


def policy_distribution(logits: Tensor, rules: TokenRules, position: int) -> Tensor:
    """``pi_position`` as probabilities: ``(B, V)`` logits -> ``(B, sampled)`` rows summing to 1 (float64)."""
    return torch.softmax(policy_logits(logits.double(), rules, position), dim=-1)


def _check_vocab(logits: Tensor, rules: TokenRules) -> None:
    if logits.shape[-1] != rules.vocab_size:
        raise ValueError(f"logits over {logits.shape[-1]} tokens for a {rules.vocab_size}-token vocabulary")


def tile_prefix(prefix: Tensor, copies: int) -> Tensor:
    """``(N, k0)`` per-clip start tokens -> ``(copies * N, k0)`` in the copy-major row layout."""
    return prefix.repeat(copies, 1)

