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
    # float32 probabilities from two code paths (forward_decoder vs decoder.inference): equal to a few ulp
    # (measured 5.8e-11 absolute, 1.6e-7 relative with 2 threads)
    torch.testing.assert_close(got.scores, stock["confidence"], rtol=1e-6, atol=1e-12)
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


# --- SLT-SeqTrack: exploration tracker, actor, entry points ------------------------------------------------------


def every_frame_updates(cfg):
    """A copy of ``cfg`` whose template update fires on every frame for every row (interval 1, threshold 0),
    so the test exercises the host's update rule (a random network's confidences, ~1e-3, never pass 0.6)."""
    updated = copy.deepcopy(cfg)
    updated.TEST.UPDATE_INTERVALS.DEFAULT = 1
    updated.TEST.UPDATE_THRESHOLD.DEFAULT = 0.0
    return updated


@pytest.mark.parametrize("updates", [False, True], ids=["static-templates", "update-every-frame"])
def test_greedy_rows_are_the_stock_tracker(cfg, net, tmp_path, updates):
    """Host crops: the greedy rows' boxes equal the stock ``SEQTRACK.track`` boxes on the same frames to 1e-4 px
    (same tokens, then the host's own float32 / Python-float mapping row by row), with the host's template update
    (``[z1, z2]``, append + ``pop(1)``) driven by each row's own confidence."""
    import logging

    from ostrack_helpers import clip_batch
    from seqtrack_helpers import stock_tracker
    from slt.rollout import explore
    from slt_ostrack.seqtrack.tracker import SLTSeqTrack

    config = every_frame_updates(cfg) if updates else cfg
    batch = clip_batch(clips=2, frames=3, seed=0)
    tracker = SLTSeqTrack(net, config, crop_backend="host")
    assert tracker.update_interval == (1 if updates else 9999)
    rollout = explore(tracker, batch, ClipRandom(batch["key"]), samples=1)
    stock = stock_tracker(net, config, tmp_path)
    for i, (images, annos) in enumerate(zip(batch["search_images"], batch["search_annos"])):
        stock.initialize(images[0], {"init_bbox": annos[0].tolist()})
        expected = torch.tensor([stock.track(image)["target_bbox"] for image in images[1:]], dtype=torch.float64)
        got = rollout.boxes[0, i].double()
        error = float((got - expected).abs().max())
        logging.getLogger(__name__).info("greedy vs stock SeqTrack, clip %d: max box error %.2e px", i, error)
        assert error < 1e-4, (got, expected)  # the rollout's boxes are float32, the host's Python floats
        assert len(stock.template_list) == 2
    assert rollout.actions.shape == (2, 2, 4) and rollout.actions.dtype == torch.long
    assert rollout.crops.dtype == torch.uint8 and rollout.crops.shape == (2, 2, 3, 256, 256)
    assert rollout.extras["templates"].shape == (2, 2, 1, 3, 256, 256)
    # frame 1 is tracked with [z1, z1]; frame 2 with [z1, z1] too, or with updates [z1, crop at the frame-1 box]
    assert torch.equal(rollout.extras["templates"][0, :, 0], rollout.templates)
    second = rollout.extras["templates"][1, :, 0]
    assert not torch.equal(second, rollout.templates) if updates else torch.equal(second, rollout.templates)


def explore_and_actor(cfg, net, seed: int, backend: str = "torch"):
    from ostrack_helpers import clip_batch
    from slt.rollout import explore
    from slt_ostrack.seqtrack.actor import SLTSeqTrackActor
    from slt_ostrack.seqtrack.tracker import SLTSeqTrack

    batch = clip_batch(clips=2, frames=3, seed=seed)
    tracker = SLTSeqTrack(net, every_frame_updates(cfg), crop_backend=backend, temperature=1.5)
    rollout = explore(tracker, batch, ClipRandom(batch["key"]), samples=1)
    return batch, rollout, SLTSeqTrackActor(net, cfg, tracker.rules)


def test_teacher_forced_log_prob_of_recorded_samples_equals_exploration(cfg, net):
    """The actor re-encodes the recorded crops and templates and teacher-forces the recorded tokens: its
    ``log pi(box)`` equals the one recorded while decoding (1e-4), on sampled rows whose tokens left greedy's."""
    from slt.update import rollout_advantages, UpdateConfig

    _, rollout, actor = explore_and_actor(cfg, net, seed=2)
    samples = rollout.samples(rollout_advantages(rollout, UpdateConfig()), "frame")
    with torch.no_grad():
        _, logits, log_prob = actor.teacher_forced(samples)
    assert logits.shape == (4, 4, cfg.MODEL.BINS + 2)
    torch.testing.assert_close(log_prob.double(), samples.extras["log_prob"], rtol=0, atol=1e-4)
    assert bool(torch.isfinite(samples.extras["log_prob"]).all())
    assert not torch.equal(rollout.boxes[1], rollout.boxes[0])  # the sampled rows left the greedy ones


def test_one_slt_iteration(cfg, net):
    """N = 2, T = 3: finite loss, encoder, decoder and vocabulary head change, nothing frozen changes, the reward
    is the mIoU gap of the sampled and greedy trajectories."""
    import logging
    import resource
    import time

    from slt.boxes import box_iou_xywh
    from slt.update import UpdateConfig, slt_update

    model = copy.deepcopy(net)
    start = time.perf_counter()
    batch, rollout, actor = explore_and_actor(cfg, model, seed=1)
    logging.getLogger(__name__).info("SLT-SeqTrack exploration, 2 clips x 2 rows x 2 frames: %.1f s",
                                     time.perf_counter() - start)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    stats = slt_update(actor, model.parameters(), optimizer, rollout, UpdateConfig(chunk_size=0, grad_clip=0.0))
    logging.getLogger(__name__).info("one SLT-SeqTrack update (4 samples, one chunk): %.1f s, peak RSS %.1f GB",
                                     time.perf_counter() - start,
                                     resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20)
    assert np.isfinite(stats["Loss/total"]) and stats["skipped"] == 0 and stats["grad_norm"] > 0
    assert stats["Loss/ce"] > 0 and np.isfinite(stats["Loss/scst"])
    gt = torch.as_tensor(np.stack(batch["search_annos"]), dtype=torch.float32)[:, 1:]
    miou = box_iou_xywh(rollout.boxes, gt[None]).mean(-1)  # (2, N) greedy, sampled
    assert stats["reward"] == pytest.approx(float((miou[1] - miou[0]).mean()), abs=1e-6)
    assert stats["greedy_miou"] == pytest.approx(float(miou[0].mean()), abs=1e-6)
    changed = {name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])}
    for name in ("vocab_embed.layers.2.weight", "bottleneck.weight", "decoder.embedding.word_embeddings.weight",
                 "encoder.body.blocks.0.attn.qkv.weight", "encoder.body.patch_embed.proj.weight"):
        assert name in changed, name
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert not (frozen & changed)


@pytest.fixture(scope="module")
def got10k(tmp_path_factory) -> Path:
    from ltr_helpers import synthetic_got10k

    return synthetic_got10k(tmp_path_factory.mktemp("got10k"), videos=2, frames=20, seed=0)


def test_patch_host_applies_and_reverts_byte_identical(tmp_path) -> None:
    """``slt patch-host seqtrack`` then ``--revert`` leaves the copy byte-identical (the copy, not HOST: VideoX
    commits a ``lib/models/__pycache__/__init__.cpython-38.pyc`` that the copy leaves out)."""
    from ltr_helpers import copy_tree, patch_host, tree_digest

    tree = copy_tree(HOST, tmp_path / "tree")
    pristine = tree_digest(tree)
    patch_host("seqtrack", tree)
    assert "hand_over(sys.argv[1:])" in (tree / "lib" / "train" / "run_training.py").read_text()
    assert "from slt_ostrack.seqtrack import host_root" in (tree / "tracking" / "test.py").read_text()
    assert tree_digest(tree) != pristine
    patch_host("seqtrack", tree, "--revert")
    assert tree_digest(tree) == pristine


def test_host_train_py_runs_slt_test_py_evaluates_and_resume(tmp_path, got10k) -> None:
    """``tracking/train.py --script slt_seqtrack --mode single``, one epoch (one SLT step) on synthetic GOT-10k,
    writes a weights-only ``SEQTRACK_ep0001.pth.tar`` that the host's ``tracking/test.py seqtrack`` evaluates
    (GOT-10k val layout); rerun with two epochs, it resumes from it and trains epoch 2 only."""
    from ltr_helpers import run_python, synthetic_got10k
    from ostrack_helpers import write_test_local, write_train_local
    from seqtrack_helpers import patched_copy, write_slt_config, write_test_yaml

    tree = patched_copy(HOST, tmp_path / "tree")
    write_train_local(tree, tmp_path / "workspace", got10k)
    out = tmp_path / "out"
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    args = ["tracking/train.py", "--script", "slt_seqtrack", "--save_dir", str(out), "--mode", "single",
            "--config", str(write_slt_config(tmp_path / "smoke.yaml", epochs=1))]
    first = run_python(args, tree, PATH=path)
    checkpoint = out / "checkpoints" / "train" / "seqtrack" / "smoke" / "SEQTRACK_ep0001.pth.tar"
    assert checkpoint.is_file(), first.stdout[-3000:] + first.stderr[-3000:]
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and state["net_type"] == "SEQTRACK" and "vocab_embed.layers.2.weight" in state["net"]

    val = synthetic_got10k(tmp_path / "got10k", videos=1, frames=6, seed=3, split="val")
    write_test_local(tree, tmp_path / "got10k", out, tmp_path / "results")
    write_test_yaml(tree, HOST / "experiments" / "seqtrack" / f"{CONFIG}.yaml", "smoke", epoch=1)
    evaluation = run_python(["tracking/test.py", "seqtrack", "smoke", "--dataset_name", "got10k_val",
                             "--threads", "0", "--num_gpus", "1"], tree)
    results = sorted((tmp_path / "results").rglob("*.txt"))
    sequence = (val / "list.txt").read_text().split()[0]
    assert f"{sequence}.txt" in [p.name for p in results], evaluation.stdout[-3000:] + evaluation.stderr[-3000:]
    boxes = np.loadtxt(next(p for p in results if p.name == f"{sequence}.txt"), delimiter="\t")
    assert boxes.shape == (6, 4) and np.isfinite(boxes).all() and (boxes[:, 2:] >= 10).all()

    write_slt_config(tmp_path / "smoke.yaml", epochs=2)
    second = run_python(args, tree, PATH=path)
    log = second.stdout + second.stderr
    assert "resumed from" in log and "SEQTRACK_step_00000001.pth at step 1 (epoch 2, 0/1 done)" in log, log[-3000:]
    assert torch.load(checkpoint.with_name("SEQTRACK_ep0002.pth.tar"), weights_only=True)["epoch"] == 2
    assert "[train: 1," not in log and "[train: 2, 1 / 1]" in log


def test_torchrun_two_ranks_equal_one_process(tmp_path, got10k, cfg) -> None:
    """One SLT step on a global batch of 2 clips through ``python -m slt_ostrack.seqtrack.train``: ``torchrun``
    with 2 gloo ranks (1 clip each) writes the same weights as one process (1e-5), both moved from the start."""
    import logging

    from ltr_helpers import copy_tree, run_python
    from ostrack_helpers import write_train_local
    from seqtrack_helpers import write_slt_config
    from slt_ostrack.seqtrack.network import build_network

    tree = copy_tree(HOST, tmp_path / "tree")
    write_train_local(tree, tmp_path / "workspace", got10k)
    config = write_slt_config(tmp_path / "smoke.yaml", epochs=1, OPTIMIZER="sgd", LR=1e-3, WEIGHT_DECAY=0.0)
    args = ["-m", "slt_ostrack.seqtrack.train", "--config", str(config), "--seed", "42"]
    single = run_python([*args, "--save_dir", str(tmp_path / "one")], tree)
    double = run_python(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29527", *args,
                         "--save_dir", str(tmp_path / "two")], tree, OMP_NUM_THREADS="1")
    name = Path("checkpoints") / "train" / "seqtrack" / "smoke" / "SEQTRACK_ep0001.pth.tar"
    assert (tmp_path / "one" / name).is_file(), single.stderr[-3000:]
    assert (tmp_path / "two" / name).is_file(), double.stderr[-3000:]
    one = torch.load(tmp_path / "one" / name, weights_only=True)["net"]
    two = torch.load(tmp_path / "two" / name, weights_only=True)["net"]
    torch.manual_seed(42)
    start = build_network(cfg).state_dict()
    gap = max(float((one[k].float() - two[k].float()).abs().max()) for k in one)
    moved = max(float((one[k].float() - start[k].float()).abs().max()) for k in one)
    logging.getLogger(__name__).info("torchrun 2 ranks vs 1 process: max weight gap %.2e, max move %.2e", gap, moved)
    assert gap < 1e-5 and moved > 1e-4, (gap, moved)


def test_vot_kind_serves_the_stock_tracker_with_the_checkpoint(cfg, net, tmp_path) -> None:
    """``SLT_TRACKER=seqtrack``: the registry's factory builds the host tracker from the experiment yaml and a
    weights-only checkpoint; its boxes are the stock tracker's with those weights (same frames, VOT schedule)."""
    from ostrack_helpers import clip_batch
    from seqtrack_helpers import stock_tracker
    from slt.vot.trackers import TrackerSpec, build_tracker

    weights = tmp_path / "slt.pth.tar"
    torch.save({"net": net.state_dict(), "epoch": 1}, weights)
    tracker = build_tracker(TrackerSpec("seqtrack", weights, HOST / "experiments" / "seqtrack" / f"{CONFIG}.yaml"))
    stock = stock_tracker(net, cfg, tmp_path, dataset_name="vot22")
    batch = clip_batch(clips=1, frames=2, seed=4)
    images, box = batch["search_images"][0], batch["search_annos"][0][0]
    tracker.init(images[0], box)
    stock.initialize(images[0], {"init_bbox": box.tolist()})
    got, confidence = tracker.track(images[1])
    assert confidence is None and got.shape == (4,)
    np.testing.assert_array_equal(got, np.asarray(stock.track(images[1])["target_bbox"]))
