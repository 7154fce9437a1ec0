"""The token policy against a real SeqTrack checkout (microsoft/VideoX 1744b21, folder SeqTrack/), random weights.

Set ``SEQTRACK_ROOT`` to the SeqTrack folder; it is imported read-only (no bytecode written). Config
``seqtrack_b256`` (90.6 M parameters) with ``MODEL.ENCODER.PRETRAIN_TYPE = 'scratch'`` (no MAE download); the
encoder runs once on two random crops ([z1, z2, x], 3 x 256 px). The host's ``np.float`` (removed from numpy,
``lib/utils/pos_embed.py:56``) is aliased to ``float`` while the model is built.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = os.environ.get("SEQTRACK_ROOT")
if not ROOT:
    pytest.skip("SEQTRACK_ROOT is not set (the SeqTrack/ folder of microsoft/VideoX at 1744b21)",
                allow_module_level=True)
pytest.importorskip("timm", reason="the SeqTrack host needs timm")
pytest.importorskip("easydict", reason="the SeqTrack host's config needs easydict")
HOST = Path(ROOT).resolve()
sys.dont_write_bytecode = True
if str(HOST) not in sys.path:
    sys.path.insert(0, str(HOST))

from slt import token_policy as tp  # noqa: E402
from slt.box_tokens import seqtrack_token_boxes  # noqa: E402
from slt.policy import ClipRandom  # noqa: E402

pytestmark = [pytest.mark.host, pytest.mark.slow]
CONFIG = "seqtrack_b256"
CLIPS = 2


@pytest.fixture(scope="module")
def cfg():
    from lib.config.seqtrack import config as host_config

    host_config.update_config_from_file(str(HOST / "experiments" / "seqtrack" / f"{CONFIG}.yaml"))
    cfg = copy.deepcopy(host_config.cfg)  # the host's cfg is module-global: keep a private copy
    cfg.MODEL.ENCODER.PRETRAIN_TYPE = "scratch"
    return cfg


@pytest.fixture(scope="module")
def net(cfg) -> torch.nn.Module:
    from lib.models.seqtrack import build_seqtrack

    torch.manual_seed(0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(np, "float", float, raising=False)
        model = build_seqtrack(cfg)
    return model.eval()


@pytest.fixture(scope="module")
def features(cfg, net) -> list[torch.Tensor]:
    """The encoder's output on CLIPS random crops (two templates and one search image each)."""
    g = torch.Generator().manual_seed(1)
    sizes = [cfg.DATA.TEMPLATE.SIZE] * cfg.DATA.TEMPLATE.NUMBER + [cfg.DATA.SEARCH.SIZE]
    images = [torch.randn(CLIPS, 3, s, s, generator=g) for s in sizes]
    with torch.no_grad():
        return net.forward_encoder(images)


def start_tokens(cfg, rows: int) -> torch.Tensor:
    """``(rows, 1)`` START, as ``lib/test/tracker/seqtrack.py:59-60``."""
    return torch.full((rows, 1), cfg.MODEL.BINS + 1, dtype=torch.long)


def step_of(net, features: list[torch.Tensor]):
    """The host decoder as a step function: ``forward_decoder`` on the prefix, logits of the last position."""
    return lambda prefix: net.forward_decoder(features, prefix)[-1][:, -1]


def repeat_rows(features: list[torch.Tensor], copies: int) -> list[torch.Tensor]:
    return [f.repeat(copies, 1, 1) for f in features]


@pytest.mark.parametrize("window", [True, False])
def test_greedy_tokens_are_the_stock_inference_decoder(cfg, net, features, window):
    bins = cfg.MODEL.BINS
    # lib/test/tracker/seqtrack.py:20-24: a float64 Hann window (1, bins) when TEST.WINDOW
    hanning = torch.tensor(np.hanning(bins)).unsqueeze(0) if window else None
    with torch.no_grad():
        stock = net.inference_decoder(xz=features, sequence=start_tokens(cfg, CLIPS), window=hanning,
                                      seq_format=cfg.DATA.SEQ_FORMAT)
    rules = tp.seqtrack_rules(bins, window=window, seq_format=cfg.DATA.SEQ_FORMAT)
    got = tp.decode_boxes(step_of(net, features), start_tokens(cfg, CLIPS), rules, "argmax")
    assert torch.equal(got.tokens, stock["pred_boxes"])
    torch.testing.assert_close(got.scores, stock["confidence"], rtol=0, atol=1e-12)
    # the tracker's crop box (lib/test/tracker/seqtrack.py:86-95 for 'xywh')
    torch.testing.assert_close(seqtrack_token_boxes(got.tokens, bins, cfg.DATA.SEQ_FORMAT),
                               stock["pred_boxes"] / (bins - 1))


def test_teacher_forcing_through_forward_decoder_reproduces_the_recorded_log_prob(cfg, net, features):
    copies = 3
    rows = repeat_rows(features, copies)
    rules = tp.seqtrack_rules(cfg.MODEL.BINS, window=cfg.TEST.WINDOW, seq_format=cfg.DATA.SEQ_FORMAT,
                              temperature=2.0)
    prefix = tp.tile_prefix(start_tokens(cfg, CLIPS), copies)
    out = tp.decode_boxes(step_of(net, rows), prefix, rules, "half", ClipRandom([(3, 0, i) for i in range(CLIPS)]))
    hanning = torch.tensor(np.hanning(cfg.MODEL.BINS)).unsqueeze(0)
    with torch.no_grad():
        stock = net.inference_decoder(xz=features, sequence=start_tokens(cfg, CLIPS), window=hanning,
                                      seq_format=cfg.DATA.SEQ_FORMAT)
    assert torch.equal(out.tokens[:CLIPS], stock["pred_boxes"])  # copy 0 is the stock tracker
    assert not torch.equal(out.tokens[CLIPS:], out.tokens[:CLIPS].repeat(copies - 1, 1))  # the others explore
    logits = net.forward_decoder(rows, tp.teacher_forcing_input(prefix, out.tokens))[-1]
    assert logits.shape == (CLIPS * copies, 4, cfg.MODEL.BINS + 2)
    log_prob = tp.teacher_forced_log_prob(logits, out.tokens, rules)
    torch.testing.assert_close(log_prob.detach().double(), out.log_prob, rtol=0, atol=1e-4)
    log_prob[~out.greedy].sum().backward()
    assert float(net.vocab_embed.layers[-1].weight.grad.abs().sum()) > 0
