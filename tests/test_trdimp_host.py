"""SLT-TrDiMP against a real TransformerTrack checkout (594422814/TransformerTrack, ``slt patch-host trdimp``).

Set ``TRDIMP_ROOT`` to the patched checkout. Networks are the full TrDiMP with random weights. On a CPU,
PreciseRoIPooling (a CUDA extension) is replaced by the RoIAlign stand-in of
:mod:`slt_pytracking.prroi_standin` in every network here, the stock tracker's included: these tests check
shapes, decisions and the flow of gradients, not TrDiMP's numbers. With a GPU the real extension is used.
Run this module in its own pytest process (the TransT host tests import another ``ltr`` package).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

ROOT = os.environ.get("TRDIMP_ROOT")
if not ROOT:
    pytest.skip("TRDIMP_ROOT is not set (a TransformerTrack checkout patched with 'slt patch-host trdimp')",
                allow_module_level=True)
pytest.importorskip("torchvision", reason="the TransformerTrack host needs torchvision")
HOST = Path(ROOT).resolve()
_loaded = sys.modules.get("ltr")
if _loaded is not None and not Path(next(iter(_loaded.__path__))).resolve().is_relative_to(HOST):
    pytest.skip(f"another host tree's ltr package ({next(iter(_loaded.__path__))}) is already imported in this "
                f"process: run the TrDiMP host tests in their own pytest process", allow_module_level=True)
if str(HOST) not in sys.path:
    sys.path.insert(0, str(HOST))

from ltr_helpers import (ReplayStockRandom, copy_tree, patch_host, read_video, run_python,  # noqa: E402
                         stock_trdimp_track, synthetic_got10k, tree_digest, write_ltr_local, write_pytracking_local)

from slt.crop import to_uint8  # noqa: E402
from slt.policy import ClipRandom  # noqa: E402
from slt.rollout import Samples  # noqa: E402
from slt.sampling import SequenceSampler  # noqa: E402
from slt.update import UpdateConfig  # noqa: E402
from slt_pytracking import trdimp_net  # noqa: E402
from slt_pytracking.loader import build_dataset, sequence_loader  # noqa: E402
from slt_pytracking.parameter import trdimp as trdimp_parameters  # noqa: E402
from slt_pytracking.prroi_standin import RoIAlignStandIn, roi_align_differentiable, use_roi_align_standin  # noqa: E402
from slt_pytracking.train_settings import trdimp as trdimp_settings  # noqa: E402
from slt_pytracking.trainer import SLTTrainer  # noqa: E402
from slt_pytracking.trdimp_actor import SLTTrDiMPActor, trdimp_box_objective  # noqa: E402
from slt_pytracking.trdimp_net import trdimp_offline  # noqa: E402
from slt_pytracking.trdimp_tracker import SLTTrDiMP, TrDiMPExplorationConfig, stock_parameters  # noqa: E402

pytestmark = [pytest.mark.host, pytest.mark.slow]
logger = logging.getLogger(__name__)
GPU = torch.cuda.is_available()
DEVICE = "cuda" if GPU else "cpu"
MINIMAL_TEMPLATE = {"fliplr": False, "blur": (), "rotate": (), "relativeshift": ()}
"""Exploration with the identity template crop only (K=1): a cheaper run where the template is not the point."""


def network(seed: int) -> torch.nn.Module:
    """A random-weight TrDiMP on the test device, with the RoIAlign stand-in when there is no GPU."""
    torch.manual_seed(seed)
    net = trdimp_offline()
    if not GPU:
        assert use_roi_align_standin(net) == 5  # 4 IoU-Net pools + the filter initialiser's
    return net.to(DEVICE).eval()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Synthetic GOT-10k 'train' folder: 3 videos of 30 frames, 128 x 128."""
    return synthetic_got10k(tmp_path_factory.mktemp("got10k"), videos=3, frames=30, seed=0)


def test_standin_is_roi_align_with_box_gradients():
    torch.manual_seed(0)
    features = torch.randn(3, 4, 11, 9, dtype=torch.float64)
    corner = torch.rand(20, 2, dtype=torch.float64) * 90 - 10
    rois = torch.cat((torch.randint(0, 3, (20, 1)).double(), corner, corner + torch.rand(20, 2).double() * 80 + 0.5), 1)
    import torchvision

    for size, scale in (((3, 3), 1 / 8), ((5, 5), 1 / 8), ((1, 1), 1 / 16), ((4, 4), 1 / 16)):
        expected = torchvision.ops.roi_align(features, rois, size, scale, 2, aligned=False)
        torch.testing.assert_close(roi_align_differentiable(features, rois, size, scale, 2), expected)
    coords = rois[:4, 1:].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda c: roi_align_differentiable(features, torch.cat((rois[:4, :1], c), 1), (2, 2), 1 / 8, 2), (coords,))
    net = trdimp_offline()
    keys = set(net.state_dict())
    assert use_roi_align_standin(net) == 5 and set(net.state_dict()) == keys
    assert sum(isinstance(m, RoIAlignStandIn) for m in net.modules()) == 5


def test_greedy_rows_match_the_stock_tracker_frame_after_frame(data, record_property):
    net = network(0)
    sequences = sorted(p for p in data.iterdir() if p.is_dir())[:2]
    loaded = [read_video(seq, 4) for seq in sequences]  # init frame + 3 tracked frames
    videos = [frames for frames, _ in loaded]
    boxes = torch.as_tensor(np.stack([gt[0] for _, gt in loaded]))
    seeds = [11, 12]
    flags = {name: p.requires_grad for name, p in net.named_parameters()}
    tracker = SLTTrDiMP(net, TrDiMPExplorationConfig(), random=ReplayStockRandom(seeds))
    greedy, sampled_actions, greedy_actions = [], [], []
    start = time.perf_counter()
    with torch.inference_mode():
        templates = tracker.batch_init([v[0] for v in videos], boxes, boxes, copies=2)
        for t in range(1, len(videos[0])):
            step = tracker.batch_track([v[t] for v in videos], "half", torch.Generator(DEVICE).manual_seed(t))
            greedy.append(step.boxes[:2].double().cpu().numpy())
            greedy_actions.append(step.actions[:2].cpu())
            sampled_actions.append(step.actions[2:].cpu())
    explore_seconds = time.perf_counter() - start
    # exploration left the training network alone: no gradients, no requires_grad flag changed (B7, B8)
    assert all(p.grad is None for p in net.parameters())
    assert {name: p.requires_grad for name, p in net.named_parameters()} == flags
    assert templates.shape == (2, 13, 3, 352, 352) and templates.dtype == torch.uint8
    assert step.crops.shape == (4, 3, 352, 352) and step.extras["proposal_offsets"].shape == (4, 128, 4)
    assert step.extras["template_boxes"].shape == (4, 13, 4)
    assert all(bool((a >= 0).all() and (a < 529).all()) for a in greedy_actions + sampled_actions)

    stock = np.stack([stock_trdimp_track(net, lambda w: stock_parameters(TrDiMPExplorationConfig(), w), frames,
                                         box.numpy(), seed) for frames, box, seed in zip(videos, boxes, seeds)])
    error = float(np.abs(np.stack(greedy, axis=1) - stock).max())
    record_property("greedy_max_error_px", error)
    record_property("exploration_seconds", explore_seconds)
    logger.warning("greedy parity with the stock TrDiMP (%s): max |diff| %.2e px; exploration of 2 clips x 3 "
                   "frames: %.1f s", "PrRoIPool" if GPU else "RoIAlign stand-in", error, explore_seconds)
    assert error < 1e-3


def test_actor_logits_on_recorded_crops_have_the_greedy_action_as_argmax(data):
    """The actor shapes with the tracker's own :class:`slt.policy.Shaping`: on the crops exploration recorded
    (uint8-rounded, ``round_crops`` so the tracker decided on the same ones), the logits it rebuilds with
    gradients from the recorded template crops pick the greedy rows' recorded actions. Exploration draws its
    jitter and proposals from a :class:`~slt.policy.ClipRandom`."""
    net = network(2)
    sequences = sorted(p for p in data.iterdir() if p.is_dir())[:2]
    loaded = [read_video(seq, 3) for seq in sequences]
    videos = [frames for frames, _ in loaded]
    boxes = torch.as_tensor(np.stack([gt[0] for _, gt in loaded]))
    tracker = SLTTrDiMP(net, TrDiMPExplorationConfig(round_crops=True, **MINIMAL_TEMPLATE))
    actor = SLTTrDiMPActor(net, trdimp_box_objective(), tracker.shaping, tracker.config)
    assert actor.shaping is tracker.shaping
    random = ClipRandom([(0, 1, 0), (0, 1, 1)])
    crops, actions, template_boxes = [], [], []
    with torch.inference_mode():
        templates = tracker.batch_init([v[0] for v in videos], boxes, boxes, copies=1)
        for t in range(1, len(videos[0])):
            step = tracker.batch_track([v[t] for v in videos], "argmax", random)
            crops.append(to_uint8(step.crops))
            actions.append(step.actions)
            template_boxes.append(step.extras["template_boxes"])
    assert step.extras["proposal_offsets"].shape == (2, 128, 4)
    count = len(crops) * len(videos)
    samples = Samples(sequence=torch.arange(len(videos)).repeat(len(crops)).to(DEVICE),
                      actions=torch.cat(actions), crops=torch.cat(crops),
                      gt_in_crop=torch.full((count, 4), float("nan"), device=DEVICE),
                      extras={"template_boxes": torch.cat(template_boxes)},
                      advantages=torch.zeros(count, device=DEVICE),
                      mask=torch.ones(count, dtype=torch.bool, device=DEVICE), templates=templates)
    logits, _, _ = actor.outputs(samples)
    assert logits.requires_grad and logits.shape == (count, 23 * 23)
    assert torch.equal(logits.argmax(-1), samples.actions)


def train_one_iteration(data: Path, tmp_path: Path, freeze: bool, config: TrDiMPExplorationConfig):
    """One SLT step (N=2 clips, T=3 frames, one backward chunk) through the actor and the LTR trainer."""
    net = network(1)
    env = SimpleNamespace(got10k_dir=str(data), workspace_dir=str(tmp_path / "ws"),
                          tensorboard_dir=str(tmp_path / "ws" / "tensorboard"))
    sampler = SequenceSampler([build_dataset(env, "got10k")], [1], samples_per_epoch=2, num_frames=3, seed=2)
    loader = sequence_loader("train", sampler, num_seq=2)
    if freeze:
        trdimp_net.freeze_iounet(net)
    tracker = SLTTrDiMP(net, config)
    actor = SLTTrDiMPActor(net, trdimp_box_objective(), tracker.shaping, tracker.config)
    groups = trdimp_settings.parameter_groups(net, {prefix: 1e-4 for prefix in trdimp_settings.LEARNING_RATES})
    optimizer = torch.optim.Adam(groups)
    settings = SimpleNamespace(env=env, project_path="ltr/slt/test", device=DEVICE, module_name="slt",
                               script_name="test", print_interval=1, description="")
    trainer = SLTTrainer(actor, tracker, [loader], optimizer, settings, torch.optim.lr_scheduler.StepLR(optimizer, 8),
                         update=UpdateConfig(chunk_size=4, chunk_norm="sum", grad_clip=40.0))
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    start = time.perf_counter()
    trainer.train(1, load_latest=False, fail_safe=False)
    seconds = time.perf_counter() - start
    stats = {name: meter.history[-1] for name, meter in trainer.stats["train"].items() if hasattr(meter, "count")}
    changed = {name for name, p in net.named_parameters() if not torch.equal(before[name], p.detach())}
    return SimpleNamespace(net=net, stats=stats, changed=changed, seconds=seconds)


def changed_modules(changed: set[str]) -> set[str]:
    return {prefix for prefix in trdimp_settings.LEARNING_RATES if any(n.startswith(prefix + ".") for n in changed)}


def test_one_slt_iteration_trains_the_classifier_and_the_iounet(data, tmp_path, record_property):
    run = train_one_iteration(data, tmp_path, freeze=False, config=TrDiMPExplorationConfig())
    record_property("slt_iteration_seconds", run.seconds)
    logger.warning("one SLT-TrDiMP iteration (N=2, T=3, full TrDiMP, %s): %.1f s", DEVICE, run.seconds)
    assert {"Loss/total", "Loss/bb_ce", "Loss/loss_bb_ce", "Loss/sl_target_clf", "ClfTrain/sl_loss", "reward",
            "mIoU", "e_mIoU", "grad_norm"} <= set(run.stats)
    assert all(math.isfinite(value) for value in run.stats.values()) and run.stats["skipped"] == 0
    assert changed_modules(run.changed) == set(trdimp_settings.LEARNING_RATES)  # the IoU-Net included
    assert not any(n.startswith(("feature_extractor.conv1", "feature_extractor.layer1", "feature_extractor.layer2"))
                   for n in run.changed)  # TrDiMP's frozen backbone layers
    assert all(p.requires_grad for p in run.net.bb_regressor.parameters())
    assert (tmp_path / "ws" / "checkpoints" / "ltr" / "slt" / "test" / "DiMPnet_ep0001.pth.tar").is_file()


def test_freeze_iounet_option_reproduces_the_official_frozen_iounet(data, tmp_path):
    run = train_one_iteration(data, tmp_path, freeze=True, config=TrDiMPExplorationConfig(**MINIMAL_TEMPLATE))
    assert all(math.isfinite(value) for value in run.stats.values()) and run.stats["skipped"] == 0
    assert not any(p.requires_grad for p in run.net.bb_regressor.parameters())
    assert changed_modules(run.changed) == set(trdimp_settings.LEARNING_RATES) - {"bb_regressor"}


@pytest.fixture(scope="module")
def host_runs(tmp_path_factory, data):
    """A copy of TRDIMP_ROOT: reverted to pristine (digest), patched, smoke training and evaluation run with
    local.py files pointing at synthetic data, local.py files restored, reverted again (digest)."""
    base = tmp_path_factory.mktemp("host")
    tree = copy_tree(HOST, base / "trdimp")
    patch_host("trdimp", tree, "--revert")
    pristine = tree_digest(tree)
    shipped = {name: (tree / name).read_bytes() for name in ("ltr/admin/local.py", "pytracking/evaluation/local.py")}
    patch_host("trdimp", tree)
    workspace = base / "workspace"
    write_ltr_local(tree, workspace, data)
    evaluation = synthetic_got10k(base / "eval", videos=2, frames=3, seed=5, split="val").parent
    write_pytracking_local(tree, evaluation, base / "results", base / "networks")
    start = time.perf_counter()
    train = run_python(["ltr/run_training.py", "slt", "trdimp_smoke"], tree, timeout=900, threads=1)
    middle = time.perf_counter()
    checkpoints = workspace / "checkpoints" / "ltr" / "slt" / "trdimp_smoke"
    evaluate = run_python(["pytracking/run_tracker.py", "trdimp", "slt_trdimp", "--dataset_name", "got10k_val"], tree,
                          timeout=900, threads=1, SLT_TRDIMP_CHECKPOINT=str(checkpoints), SLT_TRUST_CHECKPOINTS="1",
                          **({} if GPU else {"SLT_PRROI_STANDIN": "1"}))
    logger.warning("run_training slt trdimp_smoke: %.0f s; run_tracker trdimp slt_trdimp: %.0f s",
                   middle - start, time.perf_counter() - middle)
    for name, content in shipped.items():
        (tree / name).write_bytes(content)
    patch_host("trdimp", tree, "--revert")
    return SimpleNamespace(tree=tree, pristine=pristine, reverted=tree_digest(tree), train=train,
                           checkpoints=checkpoints, evaluate=evaluate, results=base / "results")


def test_run_training_slt_trdimp_smoke_writes_a_checkpoint(host_runs):
    assert host_runs.train.returncode == 0, host_runs.train.stderr[-3000:]
    assert "complete (1 epochs)" in host_runs.train.stderr
    assert "random TrDiMP weights" in host_runs.train.stderr
    assert GPU or "RoIAlign CPU stand-in" in host_runs.train.stderr
    assert (host_runs.checkpoints / "DiMPnet_ep0001.pth.tar").is_file()


def test_run_tracker_evaluates_the_slt_checkpoint(host_runs):
    assert host_runs.evaluate.returncode == 0, host_runs.evaluate.stderr[-3000:]
    results = sorted((host_runs.results / "trdimp" / "slt_trdimp").glob("GOT-10k_*[0-9].txt"))
    assert len(results) == 2
    for path in results:
        boxes = np.loadtxt(path, delimiter="\t")
        assert boxes.shape == (3, 4) and np.isfinite(boxes).all()


def test_revert_leaves_the_tree_byte_identical(host_runs):
    assert host_runs.reverted == host_runs.pristine


def test_unpatched_tree_names_the_patch_command(host_runs):
    plugin = run_python(["-c", "import slt_pytracking.train_settings.trdimp"], host_runs.tree, threads=1)
    assert plugin.returncode != 0
    assert f"slt patch-host trdimp {host_runs.tree}" in plugin.stderr
    entry = run_python(["ltr/run_training.py", "slt", "trdimp"], host_runs.tree, threads=1)
    assert entry.returncode != 0 and "ltr.train_settings.slt" in entry.stderr  # the shims are part of the patch


def paper_settings(tmp_path: Path, **dirs: str) -> SimpleNamespace:
    folders = {"workspace_dir": str(tmp_path / "ws"), "tensorboard_dir": str(tmp_path / "tb"), "lasot_dir": "",
               "got10k_dir": "", "trackingnet_dir": "", **dirs}
    return SimpleNamespace(env=SimpleNamespace(**folders), project_path="ltr/slt/trdimp", module_name="slt",
                           script_name="trdimp")


@pytest.mark.skipif(GPU, reason="checks the CPU refusal")
def test_paper_settings_refuse_a_cpu_with_the_reason(tmp_path):
    with pytest.raises(RuntimeError, match="needs a CUDA GPU.*PreciseRoIPooling.*trdimp_smoke"):
        trdimp_settings.run(paper_settings(tmp_path))


def test_missing_pretrained_weights_name_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(trdimp_net.WEIGHTS_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="SLT_TRDIMP_WEIGHTS=.*pretrained_networks"):
        trdimp_net.pretrained_weights_path(SimpleNamespace())
    monkeypatch.setenv(trdimp_net.WEIGHTS_ENV, str(tmp_path / "absent.pth"))
    with pytest.raises(FileNotFoundError, match="SLT_TRDIMP_WEIGHTS=.*is not a file"):
        trdimp_net.pretrained_weights_path(SimpleNamespace())


def test_paper_settings_hold_the_paper_hyper_parameters():
    settings = SimpleNamespace()
    trdimp_settings.configure(settings)
    assert (settings.num_epochs, settings.samples_per_epoch, settings.num_seq, settings.num_frames,
            settings.num_seq_backward) == (40, 5000, 8, 24, 4)
    assert (settings.slt_loss_weight, settings.bb_ce_weight, settings.grad_max_norm) == (4.0, 0.01, 40.0)
    assert (settings.lr_step, settings.lr_gamma, settings.weight_decay) == (8, 0.5, 0.0)
    assert settings.freeze_iounet is False and settings.score_norm_meanmax == (-7.0, 7.0)
    assert (settings.samples, settings.baseline) == (1, "greedy")
    groups = trdimp_settings.parameter_groups(trdimp_offline(), settings.learning_rates)
    assert [g["lr"] for g in groups] == [2e-6, 2e-5, 2e-6, 4e-5, 4e-5, 8e-7]


def test_missing_slt_checkpoint_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(trdimp_net.CHECKPOINT_ENV, raising=False)
    import pytracking.evaluation.environment as environment

    monkeypatch.setattr(environment, "env_settings", lambda: SimpleNamespace(network_path=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match="SLT_TRDIMP_CHECKPOINT="):
        trdimp_parameters.parameters()
