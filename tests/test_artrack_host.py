"""The token policy against a real ARTrack checkout (MIV-XJTU/ARTrack 5931f4a), random weights, on the CPU.

Set ``ARTRACK_ROOT`` to the checkout; it is imported read-only (no bytecode written). Config
``artrack_seq_256_full`` (202.5 M parameters), built with ``training=False`` (no MAE file) and
``MODEL.PRETRAIN_PTH`` pointing at a file holding ``{'net': {}}`` (``build_artrack_seq`` always loads it).
The backbone runs once on two random crops; the step function is the pixel head in its teacher-forcing mode
(``stage=None``), whose output ``feat`` is ``(L, B, V)``.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = os.environ.get("ARTRACK_ROOT")
if not ROOT:
    pytest.skip("ARTRACK_ROOT is not set (a MIV-XJTU/ARTrack checkout at 5931f4a)", allow_module_level=True)
pytest.importorskip("timm", reason="the ARTrack host needs timm")
pytest.importorskip("easydict", reason="the ARTrack host's config needs easydict")
HOST = Path(ROOT).resolve()
sys.dont_write_bytecode = True
if str(HOST) not in sys.path:
    sys.path.insert(0, str(HOST))

from slt import token_policy as tp  # noqa: E402
from slt.box_tokens import artrack_history_tokens, artrack_token_boxes  # noqa: E402
from slt.policy import ClipRandom  # noqa: E402

pytestmark = [pytest.mark.host, pytest.mark.slow]
CONFIG = "artrack_seq_256_full"
CLIPS = 2


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    from lib.config.artrack_seq import config as host_config

    host_config.update_config_from_file(str(HOST / "experiments" / "artrack_seq" / f"{CONFIG}.yaml"))
    cfg = copy.deepcopy(host_config.cfg)  # the host's cfg is module-global: keep a private copy
    empty = tmp_path_factory.mktemp("artrack") / "empty.pth"
    torch.save({"net": {}}, empty)
    cfg.MODEL.PRETRAIN_PTH = str(empty)
    return cfg


@pytest.fixture(scope="module")
def net(cfg) -> torch.nn.Module:
    from lib.models.artrack_seq import build_artrack_seq

    torch.manual_seed(0)
    return build_artrack_seq(cfg, training=False).eval()


@pytest.fixture(scope="module")
def crops(cfg) -> dict[str, torch.Tensor]:
    """CLIPS random template/search crops and each clip's 7 previous boxes (normalised crop x1 y1 x2 y2)."""
    g = torch.Generator().manual_seed(1)
    size_z, size_x = cfg.DATA.TEMPLATE.SIZE, cfg.DATA.SEARCH.SIZE
    corner = torch.rand(CLIPS, cfg.MODEL.PRENUM, 2, generator=g) * 0.8 - 0.1
    size = torch.rand(CLIPS, cfg.MODEL.PRENUM, 2, generator=g) * 0.5 + 0.05
    return {"template": torch.randn(CLIPS, 3, size_z, size_z, generator=g),
            "search": torch.randn(CLIPS, 3, size_x, size_x, generator=g),
            "history": torch.cat((corner, corner + size), dim=-1)}


@pytest.fixture(scope="module")
def features(net, crops) -> torch.Tensor:
    with torch.no_grad():
        feat, _ = net.backbone(z=crops["template"], x=crops["search"], identity=net.identity)
    return feat[-1] if isinstance(feat, list) else feat


def head_logits(net, features: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
    """The pixel head in teacher-forcing mode: ``(B, L)`` tokens -> ``(B, L, V)`` logits."""
    out = net.pix_head(features, net.backbone.pos_embed_z, net.backbone.pos_embed_x, net.identity, seq, stage=None)
    return out["feat"].transpose(0, 1)


def prefix_of(cfg, history: torch.Tensor) -> torch.Tensor:
    """28 history tokens then START (``bins * range``), as ``head_seq.py:866-870`` builds the input."""
    tokens = artrack_history_tokens(history, cfg.MODEL.BINS, cfg.MODEL.RANGE).flatten(1)
    return torch.cat((tokens, torch.full((tokens.shape[0], 1), cfg.MODEL.BINS * cfg.MODEL.RANGE)), dim=1)


def stock_history(cfg, history: torch.Tensor) -> torch.Tensor:
    """The tracker's float history input (``lib/test/tracker/artrack_seq.py:92-99``), ``(B, 28)``."""
    return ((history.clamp(-0.5, 1.5) + 0.5) * (cfg.MODEL.BINS - 1)).flatten(1)


def test_greedy_tokens_are_the_stock_sequence_decoding(cfg, net, crops, features):
    with torch.no_grad():
        stock = net.forward(template=crops["template"], search=crops["search"],
                            seq_input=stock_history(cfg, crops["history"]), stage="sequence")
    rules = tp.artrack_rules(cfg.MODEL.BINS, cfg.MODEL.RANGE)
    step = lambda prefix: head_logits(net, features, prefix)[:, -1]  # noqa: E731
    got = tp.decode_boxes(step, prefix_of(cfg, crops["history"]), rules, "argmax")
    assert torch.equal(got.tokens, stock["seqs"])
    torch.testing.assert_close(got.scores, stock["class"], rtol=0, atol=1e-6)
    # the tracker's crop box, x1 y1 x2 y2 (lib/test/tracker/artrack_seq.py:110)
    torch.testing.assert_close(artrack_token_boxes(got.tokens, cfg.MODEL.BINS, cfg.MODEL.RANGE),
                               stock["seqs"] / (cfg.MODEL.BINS - 1) - 0.5)


def test_teacher_forcing_reproduces_the_recorded_log_prob_with_per_row_history(cfg, net, crops, features):
    copies = 3
    rows = features.repeat(copies, 1, 1)
    rules = tp.artrack_rules(cfg.MODEL.BINS, cfg.MODEL.RANGE, temperature=2.0)
    prefix = tp.tile_prefix(prefix_of(cfg, crops["history"]), copies)
    prefix[2 * CLIPS:, :4] = prefix[2 * CLIPS:, 4:8]  # copy 2 has another trajectory: its own history
    step = lambda seq: head_logits(net, rows, seq)[:, -1]  # noqa: E731
    out = tp.decode_boxes(step, prefix, rules, "half", ClipRandom([(5, 0, i) for i in range(CLIPS)]))
    assert not torch.equal(out.tokens[CLIPS:], out.tokens[:CLIPS].repeat(copies - 1, 1))
    scored = torch.isfinite(out.log_prob)  # a greedy START/END has log pi = -inf: the policy samples coordinates
    assert bool(scored[~out.greedy].all())
    logits = head_logits(net, rows, tp.teacher_forcing_input(prefix, out.tokens))[scored, -4:]
    log_prob = tp.teacher_forced_log_prob(logits, out.tokens[scored], rules)
    torch.testing.assert_close(log_prob.detach().double(), out.log_prob[scored], rtol=0, atol=1e-4)
    log_prob[~out.greedy[scored]].sum().backward()
    assert float(net.pix_head.output_bias.grad.abs().sum()) > 0


def test_step_decoding_needs_embedding_rows_within_max_norm(cfg, net, crops, features):
    """The head's embedding has ``max_norm=1``: a lookup renormalises the rows it reads, in place, while the stock
    loop projects with weights cloned at the start of its one call (``head_seq.py:836-837``). Per-step decoding
    equals the stock loop when no row exceeds the norm; renormalising every row first restores that."""
    emb = net.pix_head.word_embeddings
    saved = emb.weight.detach().clone()
    assert float(saved.norm(dim=1).max()) <= 1.0  # random init: lookups change nothing
    rules = tp.artrack_rules(cfg.MODEL.BINS, cfg.MODEL.RANGE)
    step = lambda prefix: head_logits(net, features, prefix)[:, -1]  # noqa: E731
    try:
        with torch.no_grad():
            emb.weight.mul_(4.0)
            torch.embedding_renorm_(emb.weight, torch.arange(emb.num_embeddings), 1.0, 2.0)
            stock = net.forward(template=crops["template"], search=crops["search"],
                                seq_input=stock_history(cfg, crops["history"]), stage="sequence")
        got = tp.decode_boxes(step, prefix_of(cfg, crops["history"]), rules, "argmax")
        assert torch.equal(got.tokens, stock["seqs"])
    finally:
        with torch.no_grad():
            emb.weight.copy_(saved)
