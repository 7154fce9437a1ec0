"""SLT-ARTrack exploration: the stock ARTrack sequence tracker (``lib/test/tracker/artrack_seq.py``), batched over rows.

:class:`SLTARTrack` implements the :class:`slt.rollout.BatchTracker` protocol over ``copies * N`` rows (copy-major:
row ``c * N + i`` follows clip ``i``; copy 0 greedy). Per frame it runs the backbone and the head's encoder ONCE over
all rows, then decodes the four box tokens with :func:`slt.token_policy.decode_boxes` (the head's decoder on the
growing prefix, teacher-forcing mode, one call per token).

Stock decision, per row (``ARTrackSeq.track``): ``sample_target`` search crop around the previous box; the 7
previous boxes (the row's OWN trajectory; 7 copies of the initial box at the start) mapped into the crop with the
host's ``transform_image_to_crop`` (normalised xywh), turned into x1 y1 x2 y2, clamped to ``[-0.5, 1.5]`` and
quantised ``(v + 0.5) * (bins - 1)`` (the head truncates to integers): 28 history tokens, then START ``bins * range``;
greedy ``topk(1)`` over all 802 tokens at each of the 4 positions (:func:`slt.token_policy.artrack_rules`); tokens
x1 y1 x2 y2 -> ``t / (bins - 1) - 0.5`` -> cx cy w h (float32) -> times ``search_size / resize_factor`` ->
``map_box_back`` around the previous centre -> ``clip_box(margin=10)``. Greedy rows make exactly these decisions
(START and END included, which the host's greedy may emit as coordinates); sampled rows draw each token from the
policy over the 800 coordinate tokens at the rules' temperature.

The head's word embedding has ``max_norm=1`` and is tied to the output projection:
:func:`slt_ostrack.artrack.network.renormalise_embedding` runs once per rollout (in ``batch_init``), after which
token-by-token decoding equals the host's one-call loop.

Conventions: boxes ``xywh`` image pixels; frames HxWx3 uint8 RGB; crops ``(B, 3, S, S)`` uint8; ``regions`` (B, 4)
``x0 y0 side side`` image pixels of the *decoding frame*: the previous centre minus half the crop side (unrounded;
``sample_target``'s pixel grid starts at its rounding, at most half an image pixel away), so that the ground truth
``explore`` maps into it is in the coordinates the tokens decode to. Extras per row: ``prefix`` (B, 29) long history
tokens and START; ``log_prob`` (B,) float64 ``log pi(box)`` as recorded.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from slt import token_policy
from slt.box_tokens import artrack_history_tokens
from slt.policy import Randomness
from slt.rollout import TrackStep
from slt_ostrack import host_root, policy
from slt_ostrack.artrack.network import renormalise_embedding
from slt_ostrack.tracker import SLTOSTrack, normalise

host_root()

from lib.train.data.processing_utils import transform_image_to_crop  # noqa: E402  (host imports after the shims)
from lib.utils.box_ops import clip_box  # noqa: E402

TEMPERATURE = 1.0
"""Sampling temperature (multiplies the log host scores, :mod:`slt.token_policy`): 1 samples the decoder's own
distribution."""


@contextmanager
def encoder_skipped(head: nn.Module) -> Iterator[None]:
    """The head's ``encoder`` set to None for the block (``Pix2Track.forward`` then skips it): the features it is
    given are already encoded."""
    saved = head.encoder
    head.encoder = None
    try:
        yield
    finally:
        head.encoder = saved


def backbone_features(net: nn.Module, template: Tensor, search: Tensor) -> Tensor:
    """``(B, 3, 128, 128)``, ``(B, 3, 256, 256)`` normalised crops -> ``(B, Lz + Lx, C)`` last backbone features."""
    feat, _ = net.backbone(z=template, x=search, identity=net.identity)
    return feat[-1] if isinstance(feat, list) else feat


def encoded_features(net: nn.Module, features: Tensor) -> Tensor:
    """The head's feature-fusion encoder on ``(B, Lz + Lx, C)`` backbone features, as ``Pix2Track.forward`` runs it."""
    head = net.pix_head
    z, x = features[:, : head.tz], features[:, head.tz:]
    if head.encoder is not None:
        z, x = head.encoder(z, x, None, None)
    return torch.cat((z, x), dim=1)


def head_logits(net: nn.Module, features: Tensor, seq: Tensor) -> Tensor:
    """The head in teacher-forcing mode (``stage=None``): ``(B, L)`` long tokens -> ``(B, L, V)`` logits."""
    out = net.pix_head(features, net.backbone.pos_embed_z, net.backbone.pos_embed_x, net.identity, seq, stage=None)
    return out["feat"].transpose(0, 1)


class SLTARTrack(SLTOSTrack):
    """Batched ARTrack exploration tracker around the host ``ARTrackSeq`` network ``net`` (``build_artrack_seq``).

    Args:
        net: the host network (its device is the tracker's).
        cfg: the host config (``lib/config/artrack_seq/config.py`` merged with the experiment yaml):
            ``TEST.{TEMPLATE,SEARCH}_{FACTOR,SIZE}``, ``MODEL.{BINS,RANGE,PRENUM}``.
        crop_backend: ``"torch"`` (one ``grid_sample``, :mod:`slt.crop`) or ``"host"`` (``sample_target`` per row,
            bit-exact with the stock tracker), as :class:`slt_ostrack.tracker.SLTOSTrack`.
        temperature: the token policy's temperature (greedy rows do not depend on it).

    State: ``state`` (B, 4) float64 xywh and ``history`` (B, PRENUM, 4) float64 xywh, oldest first. Call
    ``batch_init`` / ``batch_track`` under ``torch.inference_mode()`` (:func:`slt.rollout.explore` does).
    """

    def __init__(self, net: nn.Module, cfg: Any, crop_backend: str = "torch",
                 temperature: float = TEMPERATURE) -> None:
        super().__init__(net, cfg, crop_backend=crop_backend)
        self.bins = int(cfg.MODEL.BINS)
        self.coord_range = int(cfg.MODEL.RANGE)
        self.history_length = int(cfg.MODEL.PRENUM)
        self.rules = token_policy.artrack_rules(self.bins, self.coord_range, temperature=temperature)

    def batch_init(self, template_images: Sequence[np.ndarray], template_boxes: Tensor, init_boxes: Tensor,
                   copies: int = 2) -> Tensor:
        """Start ``copies * N`` rows; returns the ``(N, 3, 128, 128)`` uint8 template crops (host crop).

        ``template_boxes`` (N, 4) xywh in ``template_images`` (N HxWx3 uint8 RGB); every row starts at its clip's
        ``init_boxes`` (N, 4) xywh with a history of PRENUM copies of it. Renormalises the tied embedding.
        """
        crops = super().batch_init(template_images, template_boxes, init_boxes, copies)
        self.history = self.state[:, None].repeat(1, self.history_length, 1)
        renormalise_embedding(self.network)
        return crops

    def history_prefix(self, resize: Tensor) -> Tensor:
        """``(B, 28 + 1)`` long decoder start: every row's PRENUM previous boxes as tokens, then START.

        ``resize`` (B,) float64 ``search_size / crop side``. The crop mapping is the host's
        ``transform_image_to_crop`` per box, on float32 copies, as the stock tracker calls it.
        """
        size = torch.tensor([float(self.search_size)] * 2)
        rows = []
        for state, history, factor in zip(self.state.cpu(), self.history.cpu(), resize.tolist()):
            extract = state.float()
            rows.append(torch.stack([transform_image_to_crop(box.float(), extract, factor, size, normalize=True)
                                     for box in history]))
        crop = torch.stack(rows)
        corners = torch.cat((crop[..., :2], crop[..., :2] + crop[..., 2:]), dim=-1)
        tokens = artrack_history_tokens(corners, self.bins, self.coord_range).flatten(1)
        start = torch.full((tokens.shape[0], 1), self.bins * self.coord_range, dtype=torch.long)
        return torch.cat((tokens, start), dim=1).to(self.device)

    def decode(self, crops: Tensor, prefix: Tensor, action_mode: str = "half",
               random: Randomness = None) -> token_policy.TokenDecoding:
        """One box per row from ``(B, 3, S, S)`` uint8 search crops and ``(B, 29)`` prefixes: backbone and head
        encoder once, then the decoder once per token."""
        net = self.network
        features = encoded_features(net, backbone_features(net, self.template_input, normalise(crops)))
        with encoder_skipped(net.pix_head):
            return token_policy.decode_boxes(lambda seq: head_logits(net, features, seq)[:, -1], prefix, self.rules,
                                             action_mode, random)

    def batch_track(self, frames: Sequence[np.ndarray], action_mode: str = "half",
                    random: Randomness = None) -> TrackStep:
        """Track one frame per clip (``frames``: N HxWx3 uint8 RGB) for every row.

        Returns boxes (B, 4) xywh float32, actions (B, 4) long tokens x1 y1 x2 y2, the uint8 search crops, the
        decoding frames (B, 4) and extras ``prefix`` / ``log_prob`` (module docstring).
        """
        regions = policy.search_regions(self.state, self.search_factor)
        side = regions[:, 2]
        resize = self.search_size / side
        crops = self._crop(frames, regions)
        prefix = self.history_prefix(resize)
        decoding = self.decode(crops, prefix, action_mode, random)
        half = 0.5 * self.search_size / resize
        origin = self.state[:, :2] + 0.5 * self.state[:, 2:] - half[:, None]
        boxes = self.map_back(decoding.tokens, resize, origin)
        sizes = [frames[r % len(frames)].shape[:2] for r in range(boxes.shape[0])]
        clipped = [clip_box(box, h, w, margin=10) for box, (h, w) in zip(boxes.tolist(), sizes)]
        self.state = torch.tensor(clipped, dtype=torch.float64, device=boxes.device)
        self.history = torch.cat((self.history[:, 1:], self.state[:, None]), dim=1)
        frame = torch.cat((origin, side[:, None], side[:, None]), dim=1)
        return TrackStep(boxes=self.state.float(), actions=decoding.tokens, crops=crops, regions=frame.float(),
                         extras={"prefix": prefix, "log_prob": decoding.log_prob})

    def map_back(self, tokens: Tensor, resize: Tensor, origin: Tensor) -> Tensor:
        """``(B, 4)`` x1 y1 x2 y2 tokens -> ``(B, 4)`` xywh float64 image boxes, as the stock tracker.

        float32 ``t / (bins - 1) - 0.5`` -> cx cy w h -> ``* search_size / resize`` (float32), then float64
        ``centre + origin`` with ``origin`` (B, 2) the previous centre minus half the crop side.
        """
        corners = tokens / (self.bins - 1) - 0.5
        wh = corners[:, 2:] - corners[:, :2]
        crop = torch.cat((corners[:, :2] + wh / 2, wh), dim=1)
        crop = (crop * self.search_size / resize.float()[:, None]).double()
        centre = crop[:, :2] + origin
        return torch.cat((centre - 0.5 * crop[:, 2:], crop[:, 2:]), dim=1)
