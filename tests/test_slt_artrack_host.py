"""SLT-ARTrack against a real ARTrack checkout (MIV-XJTU/ARTrack 5931f4a), random weights, on the CPU.

Set ``ARTRACK_ROOT`` to the checkout; it is imported read-only (no bytecode written; the tree commits ``.pyc`` files),
the CPU shims of :mod:`slt_ostrack.compat` are installed from outside. Config ``artrack_seq_256_full`` (202.5 M
parameters, forward 4-5 s on 2 shared cores): N = 2 clips of T = 3 frames, one shared rollout for the in-process
tests (explored once, about 45 s), one SLT step per subprocess.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
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

from artrack_helpers import BASE, clip_batch  # noqa: E402
from slt import scst  # noqa: E402
from slt.boxes import box_iou_xywh  # noqa: E402
from slt.policy import ClipRandom  # noqa: E402
from slt.rollout import explore  # noqa: E402
from slt.update import UpdateConfig, slt_update  # noqa: E402
from slt_ostrack.artrack.actor import SLTARTrackActor  # noqa: E402
from slt_ostrack.artrack.network import build_network, load_config  # noqa: E402
from slt_ostrack.artrack.tracker import SLTARTrack  # noqa: E402

pytestmark = [pytest.mark.host, pytest.mark.slow]
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def cfg():
    return load_config(HOST / "experiments" / "artrack_seq" / f"{BASE}.yaml")


@pytest.fixture(scope="module")
def net(cfg) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_network(cfg).eval()


@pytest.fixture(scope="module")
def batch() -> dict[str, list]:
    return clip_batch(clips=2, frames=3, seed=0)


@pytest.fixture(scope="module")
def tracker(net, cfg) -> SLTARTrack:
    return SLTARTrack(net, cfg, crop_backend="host")


@pytest.fixture(scope="module")
def rollout(tracker, batch):
    """One greedy and one sampled trajectory per clip (host crops), explored once for the module."""
    start = time.perf_counter()
    result = explore(tracker, batch, ClipRandom(batch["key"]), samples=1)
    log.info("explore N=2, T=3, 4 rows: %.1f s", time.perf_counter() - start)
    return result


def stock_tracker(net: torch.nn.Module, cfg, tmp_path: Path):
    """The host's ``ARTrackSeq`` tracker with ``net``'s weights (TrackerParams built here, no local.py needed)."""
    from lib.test.tracker.artrack_seq import ARTrackSeq
    from lib.test.utils import TrackerParams

    checkpoint = tmp_path / "net.pth"
    torch.save({"net": net.state_dict()}, checkpoint)
    params = TrackerParams()
    params.cfg = copy.deepcopy(cfg)
    params.cfg.MODEL.PRETRAIN_PTH = str(checkpoint)  # build_artrack_seq loads it before the tracker does
    params.template_factor, params.template_size = cfg.TEST.TEMPLATE_FACTOR, cfg.TEST.TEMPLATE_SIZE
    params.search_factor, params.search_size = cfg.TEST.SEARCH_FACTOR, cfg.TEST.SEARCH_SIZE
    params.checkpoint = str(checkpoint)
    params.debug = 0
    params.save_all_boxes = False
    return ARTrackSeq(params, "got10k")


def test_greedy_rows_are_the_stock_tracker(net, cfg, batch, rollout, tmp_path) -> None:
    """Greedy rows (each with its own 7-box history) give the stock tracker's boxes to 1e-3 px: the same tokens,
    the float32 box arithmetic up to batched-vs-single rounding of the network (~1e-6 relative) times crop sides
    of ~150 px."""
    stock = stock_tracker(net, cfg, tmp_path)
    for i, (images, annos) in enumerate(zip(batch["search_images"], batch["search_annos"])):
        stock.initialize(images[0], {"init_bbox": annos[0].tolist()})
        expected = torch.tensor([stock.track(image)["target_bbox"] for image in images[1:]])
        error = float((rollout.boxes[0, i].double() - expected).abs().max())
        log.info("greedy vs stock ARTrack, clip %d: max box error %.2e px", i, error)
        assert error < 1e-3, (rollout.boxes[0, i], expected)
    assert rollout.actions.shape == (2, 2, 4) and rollout.crops.shape == (2, 2, 3, 256, 256)
    assert rollout.extras["prefix"].shape == (2, 2, 29)


def test_teacher_forced_log_prob_is_the_recorded_one_and_trains(net, cfg, tracker, rollout) -> None:
    """The update's teacher-forced ``log pi(box)`` of the sampled tokens equals exploration's record (1e-4), and
    the SCST loss on it reaches the tied embedding, the head and the backbone."""
    actor = SLTARTrackActor(net, cfg, tracker.rules)
    samples = rollout.samples(torch.ones(1, 2), "clip")
    log_prob = actor.log_probs(samples)
    torch.testing.assert_close(log_prob.detach().double(), samples.extras["log_prob"], rtol=0, atol=1e-4)
    try:
        scst.log_prob_scst_loss(log_prob, samples.advantages, samples.mask).backward()
        for name in ("pix_head.word_embeddings.weight", "pix_head.output_bias", "backbone.blocks.0.attn.qkv.weight"):
            grad = dict(net.named_parameters())[name].grad
            assert grad is not None and float(grad.abs().sum()) > 0, name
    finally:
        net.zero_grad(set_to_none=True)


def test_vot_kind_serves_the_stock_tracker_from_a_checkpoint(net, batch, rollout, tmp_path) -> None:
    """``slt.vot`` kind ``artrack``: the host's tracker built from a weights-only ``'net'`` checkpoint and the host
    yaml tracks as the greedy rows do (1e-3 px)."""
    from slt.vot.trackers import TrackerSpec, build_tracker

    weights = tmp_path / "ARTrackSeq_ep0001.pth.tar"
    torch.save({"epoch": 1, "net": net.state_dict()}, weights)
    served = build_tracker(TrackerSpec("artrack", weights, HOST / "experiments" / "artrack_seq" / f"{BASE}.yaml"))
    images, annos = batch["search_images"][1], batch["search_annos"][1]
    served.init(images[0], annos[0])
    boxes, scores = zip(*(served.track(image) for image in images[1:]))
    assert scores == (None, None)
    error = float((torch.tensor(np.stack(boxes)) - rollout.boxes[0, 1].double()).abs().max())
    assert error < 1e-3, (boxes, rollout.boxes[0, 1])


def one_update(net, cfg, tracker, rollout, objective: str) -> tuple[dict[str, float], set[str]]:
    """One SLT update of a copy of ``net`` on the shared rollout (explored with equal weights); changed names."""
    model = copy.deepcopy(net)
    actor = SLTARTrackActor(model, cfg, tracker.rules, objective=objective)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    start = time.perf_counter()
    stats = slt_update(actor, model.parameters(), optimizer, rollout, UpdateConfig(chunk_size=0, grad_clip=0.0))
    log.info("one SLT update (%s, 4 samples): %.1f s", objective, time.perf_counter() - start)
    changed = {name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])}
    return stats, changed


TRAINED = ("pix_head.word_embeddings.weight", "pix_head.output_bias", "pix_head.decoder.layers.0.mlpz.fc1.weight",
           "backbone.blocks.0.attn.qkv.weight", "backbone.patch_embed.proj.weight")


def test_one_slt_iteration(net, cfg, tracker, batch, rollout) -> None:
    """N = 2, T = 3, objective 'scst': finite loss, head, embedding and backbone change, the reward is the mIoU
    gap of the sampled and greedy trajectories."""
    stats, changed = one_update(net, cfg, tracker, rollout, "scst")
    assert np.isfinite(stats["Loss/total"]) and stats["skipped"] == 0 and stats["grad_norm"] > 0
    gt = torch.as_tensor(np.stack(batch["search_annos"]), dtype=torch.float32)[:, 1:]
    miou = box_iou_xywh(rollout.boxes, gt[None]).mean(-1)  # (2, N): greedy, sampled
    assert stats["reward"] == pytest.approx(float((miou[1] - miou[0]).mean()), abs=1e-6)
    assert stats["greedy_miou"] == pytest.approx(float(miou[0].mean()), abs=1e-6)
    assert "Loss/scst" in stats and "Loss/siou" in stats
    for name in TRAINED:
        assert name in changed, name


def test_rollout_supervised_objective(net, cfg, tracker, rollout) -> None:
    """ARTrack's own objective (greedy re-decoding from the recorded history, SIoU, no reward) runs and trains."""
    stats, changed = one_update(net, cfg, tracker, rollout, "rollout")
    assert np.isfinite(stats["Loss/total"]) and stats["skipped"] == 0 and stats["grad_norm"] > 0
    assert "Loss/siou_rollout" in stats and "Loss/scst" not in stats
    assert stats["Loss/total"] == pytest.approx(cfg.TRAIN.GIOU_WEIGHT * stats["Loss/siou_rollout"], rel=1e-5)
    for name in TRAINED:
        assert name in changed, name


def test_patch_set_applies_and_reverts_byte_identical(tmp_path) -> None:
    from ltr_helpers import copy_tree, patch_host, tree_digest

    tree = copy_tree(HOST, tmp_path / "tree")
    before = tree_digest(tree)
    patch_host("artrack", tree)
    assert "from slt_ostrack.artrack.train import hand_over" in (tree / "lib/train/run_training.py").read_text()
    assert "compat.install()" in (tree / "tracking/test.py").read_text()
    patch_host("artrack", tree, "--revert")
    assert tree_digest(tree) == before


@pytest.fixture(scope="module")
def got10k(tmp_path_factory) -> Path:
    from ltr_helpers import synthetic_got10k

    return synthetic_got10k(tmp_path_factory.mktemp("got10k"), videos=2, frames=20, seed=0)


def test_host_train_py_writes_a_checkpoint_test_py_evaluates(tmp_path, got10k) -> None:
    """``tracking/train.py --script slt_artrack --mode single`` in a tree patched by ``slt patch-host artrack``: one
    epoch of one SLT step on synthetic GOT-10k writes ``ARTrackSeq_ep0001.pth.tar`` (weights-only loadable), which
    the host's ``tracking/test.py artrack_seq`` evaluates on a synthetic GOT-10k val video."""
    from artrack_helpers import write_slt_config, write_test_yaml
    from ltr_helpers import copy_tree, patch_host, run_python, synthetic_got10k
    from ostrack_helpers import write_test_local, write_train_local

    tree = copy_tree(HOST, tmp_path / "tree")
    patch_host("artrack", tree)
    write_train_local(tree, tmp_path / "workspace", got10k)
    out = tmp_path / "out"
    bin_dir = str(Path(sys.executable).parent)
    path = f"{bin_dir}:{os.environ['PATH']}"
    args = ["tracking/train.py", "--script", "slt_artrack", "--save_dir", str(out), "--mode", "single",
            "--config", str(write_slt_config(tmp_path / "smoke.yaml", epochs=1))]
    start = time.perf_counter()
    train = run_python(args, tree, timeout=1200, PATH=path)
    log.info("tracking/train.py, one SLT step: %.1f s", time.perf_counter() - start)
    checkpoint = out / "checkpoints" / "train" / "artrack_seq" / "smoke" / "ARTrackSeq_ep0001.pth.tar"
    assert checkpoint.is_file(), train.stdout[-3000:] + train.stderr[-3000:]
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and state["net_type"] == "ARTrackSeq" and "pix_head.output_bias" in state["net"]
    assert "[train: 1, 1 / 1]" in train.stdout + train.stderr

    val = synthetic_got10k(tmp_path / "got10k", videos=1, frames=5, seed=3, split="val")
    write_test_local(tree, tmp_path / "got10k", out, tmp_path / "results")
    write_test_yaml(tree, "smoke", epoch=1, weights=checkpoint)
    evaluation = run_python(["tracking/test.py", "artrack_seq", "smoke", "--dataset_name", "got10k_val",
                             "--threads", "0", "--num_gpus", "1"], tree, timeout=1200)
    results = sorted((tmp_path / "results").rglob("*.txt"))
    sequence = (val / "list.txt").read_text().split()[0]
    found = [p for p in results if p.name == f"{sequence}.txt"]
    assert found, evaluation.stdout[-3000:] + evaluation.stderr[-3000:]
    boxes = np.loadtxt(found[0], delimiter="\t")
    assert boxes.shape == (5, 4) and np.isfinite(boxes).all() and (boxes[:, 2:] >= 10).all()


def test_torchrun_two_ranks_equal_one_process(tmp_path, got10k, cfg) -> None:
    """One SLT step on a global batch of 2 clips: ``torchrun`` with 2 gloo ranks (1 clip each) writes the same
    weights as one process (1e-5), both moved from the initial weights. SGD: the update is linear in the
    averaged gradient. ``python -m slt_ostrack.artrack.train`` in an unpatched tree."""
    from artrack_helpers import write_slt_config
    from ltr_helpers import copy_tree, run_python
    from ostrack_helpers import write_train_local

    tree = copy_tree(HOST, tmp_path / "tree")
    write_train_local(tree, tmp_path / "workspace", got10k)
    config = write_slt_config(tmp_path / "smoke.yaml", epochs=1, OPTIMIZER="sgd", LR=1e-2, WEIGHT_DECAY=0.0)
    args = ["-m", "slt_ostrack.artrack.train", "--config", str(config), "--seed", "42"]
    start = time.perf_counter()
    single = run_python([*args, "--save_dir", str(tmp_path / "one")], tree, timeout=1200)
    middle = time.perf_counter()
    double = run_python(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533", *args,
                         "--save_dir", str(tmp_path / "two")], tree, timeout=1200, threads=1)
    log.info("one process %.1f s, 2 ranks %.1f s", middle - start, time.perf_counter() - middle)
    name = Path("checkpoints") / "train" / "artrack_seq" / "smoke" / "ARTrackSeq_ep0001.pth.tar"
    assert (tmp_path / "one" / name).is_file(), single.stderr[-3000:]
    assert (tmp_path / "two" / name).is_file(), double.stderr[-3000:]
    one = torch.load(tmp_path / "one" / name, weights_only=True)["net"]
    two = torch.load(tmp_path / "two" / name, weights_only=True)["net"]
    torch.manual_seed(42)
    start_weights = build_network(cfg).state_dict()
    gap = max(float((one[k].float() - two[k].float()).abs().max()) for k in one)
    moved = max(float((one[k].float() - start_weights[k].float()).abs().max()) for k in one)
    log.info("torchrun 2 ranks vs 1 process: max weight gap %.2e, max move %.2e", gap, moved)
    assert gap < 1e-5 and moved > 1e-4, (gap, moved)
