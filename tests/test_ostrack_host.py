"""SLT-OSTrack against a real OSTrack checkout (botaoye/OSTrack 33b5e12), random weights, on the CPU.

Set ``OSTRACK_ROOT`` to the checkout; it is imported read-only (no bytecode written), the CPU shims of
:mod:`slt_ostrack.compat` are installed from outside. Config ``vitb_256_mae_ce_32x4_ep300`` (ViT-B, 92.5 M
parameters); small inputs (N = 2 clips, T = 3 frames).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = os.environ.get("OSTRACK_ROOT")
if not ROOT:
    pytest.skip("OSTRACK_ROOT is not set (a botaoye/OSTrack checkout at 33b5e12)", allow_module_level=True)
pytest.importorskip("timm", reason="the OSTrack host needs timm")
HOST = Path(ROOT).resolve()
sys.dont_write_bytecode = True
if str(HOST) not in sys.path:
    sys.path.insert(0, str(HOST))

from slt.policy import ClipRandom  # noqa: E402
from slt.rollout import explore  # noqa: E402
from slt_ostrack.network import build_network, load_config  # noqa: E402
from slt_ostrack.tracker import SLTOSTrack  # noqa: E402

from lib.test.tracker.ostrack import OSTrack  # noqa: E402  (the stock tracker)
from lib.test.utils import TrackerParams  # noqa: E402
from ostrack_helpers import clip_batch  # noqa: E402

pytestmark = [pytest.mark.host, pytest.mark.slow]
CONFIG = "vitb_256_mae_ce_32x4_ep300"


@pytest.fixture(scope="module")
def cfg():
    return load_config(HOST / "experiments" / "ostrack" / f"{CONFIG}.yaml")


@pytest.fixture(scope="module")
def net(cfg) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_network(cfg).eval()


def stock_tracker(net: torch.nn.Module, cfg, tmp_path: Path) -> OSTrack:
    """The host tracker with ``net``'s weights; TrackerParams built here (lib/test/parameter needs local.py)."""
    checkpoint = tmp_path / "net.pth"
    torch.save({"net": net.state_dict()}, checkpoint)
    params = TrackerParams()
    params.cfg = cfg
    params.template_factor, params.template_size = cfg.TEST.TEMPLATE_FACTOR, cfg.TEST.TEMPLATE_SIZE
    params.search_factor, params.search_size = cfg.TEST.SEARCH_FACTOR, cfg.TEST.SEARCH_SIZE
    params.checkpoint = str(checkpoint)
    params.debug = 0
    params.save_all_boxes = False
    return OSTrack(params, "got10k")


@pytest.mark.parametrize("backend, tolerance", [("host", 1e-3), ("torch", None)])
def test_greedy_rows_are_the_stock_tracker(net, cfg, tmp_path, backend, tolerance) -> None:
    """Host crops: greedy boxes equal the stock tracker's to 1e-3 px (same float32 network outputs up to
    batched-vs-single matmul rounding, ~1e-6 relative, times crop sides of ~150 px). Torch crops: OpenCV's
    fixed-point resize changes the inputs by about half a grey level and a random network's regressed sizes
    and offsets follow them (measured 2.1 px on a 140 px crop), so only the first frame is compared, at 5 px."""
    batch = clip_batch(clips=2, frames=3, seed=0)
    tracker = SLTOSTrack(net, cfg, crop_backend=backend)
    rollout = explore(tracker, batch, ClipRandom(batch["key"]), samples=1)
    stock = stock_tracker(net, cfg, tmp_path)
    for i, (images, annos) in enumerate(zip(batch["search_images"], batch["search_annos"])):
        stock.initialize(images[0], {"init_bbox": annos[0].tolist()})
        expected = torch.tensor([stock.track(image)["target_bbox"] for image in images[1:]])
        got = rollout.boxes[0, i].double()
        if tolerance is None:
            assert float((got[0] - expected[0]).abs().max()) < 5.0
        else:
            error = float((got - expected).abs().max())
            logging.getLogger(__name__).info("greedy vs stock (host crops), clip %d: max box error %.2e px", i, error)
            assert error < tolerance, (got, expected)
    assert rollout.crops.dtype == torch.uint8 and rollout.crops.shape == (2, 2, 3, 256, 256)


def test_template_masks_are_the_stock_trackers_for_every_host_range(net, cfg, tmp_path) -> None:
    """CE_TEMPLATE_RANGE ALL, CTR_POINT, CTR_REC and GT_BOX: every row's template mask is the one the stock
    tracker's ``initialize`` builds for its clip (both call the host's ``generate_mask_cond``), and exploration
    records each sampled row's mask for the update. GT_BOX: greedy boxes still equal the stock tracker's."""
    import copy

    variant = copy.deepcopy(cfg)
    batch = clip_batch(clips=2, frames=2, seed=2)
    tall = np.array([60.0, 40.0, 24.0, 56.0])  # a tall box in clip 1: GT_BOX masks differ by clip
    batch["template_annos"][1] = tall
    batch["search_annos"][1][0] = tall  # the template frame is the first frame, where tracking starts
    stock = stock_tracker(net, variant, tmp_path)
    for kind in ("ALL", "CTR_POINT", "CTR_REC", "GT_BOX"):
        variant.MODEL.BACKBONE.CE_TEMPLATE_RANGE = kind
        tracker = SLTOSTrack(net, variant, crop_backend="host")
        rollout = explore(tracker, batch, ClipRandom(batch["key"]), samples=1)
        for i, (image, box) in enumerate(zip(batch["template_images"], batch["template_annos"])):
            stock.initialize(image, {"init_bbox": box.tolist()})
            if kind == "ALL":
                assert stock.box_mask_z is None and tracker.template_mask is None
                assert "template_mask" not in rollout.extras
                continue
            assert tracker.template_mask.dtype == torch.bool
            assert torch.equal(tracker.template_mask[i], stock.box_mask_z[0]), (kind, i)
            assert torch.equal(tracker.template_mask[2 + i], stock.box_mask_z[0]), (kind, i)
            assert torch.equal(rollout.extras["template_mask"][0, i], stock.box_mask_z[0]), (kind, i)
        if kind == "GT_BOX":
            assert not torch.equal(tracker.template_mask[0], tracker.template_mask[1])
            for i, images in enumerate(batch["search_images"]):
                stock.initialize(batch["template_images"][i], {"init_bbox": batch["template_annos"][i].tolist()})
                expected = torch.tensor(stock.track(images[1])["target_bbox"])
                assert float((rollout.boxes[0, i, 0].double() - expected).abs().max()) < 1e-3
    variant.MODEL.BACKBONE.CE_TEMPLATE_RANGE = "CTR_BOX"
    with pytest.raises(ValueError, match="CE_TEMPLATE_RANGE='CTR_BOX'"):
        SLTOSTrack(net, variant).batch_init(batch["template_images"], torch.zeros(2, 4) + 30, torch.zeros(2, 4))


def test_rows_in_the_same_state_share_one_forward(net, cfg) -> None:
    """On the first tracked frame every copy of a clip starts from the same box: the network runs once per
    clip, and the boxes are those of a tracker that runs every row."""
    batch = clip_batch(clips=2, frames=2, seed=4)
    tracker = SLTOSTrack(net, cfg)
    seen = []
    handle = net.register_forward_hook(lambda module, args, kwargs, out: seen.append(kwargs["search"].shape[0]),
                                       with_kwargs=True)
    try:
        shared = explore(tracker, batch, ClipRandom(batch["key"]), samples=2)
    finally:
        handle.remove()
    assert seen == [2]  # 3 copies x 2 clips, one forward of the 2 distinct rows
    first, inverse = tracker.distinct_rows()
    assert first.shape[0] <= 6 and torch.equal(tracker.state, tracker.state[first][inverse])

    class EveryRow(SLTOSTrack):
        def distinct_rows(self):
            order = torch.arange(self.state.shape[0])
            return order, order

    every = explore(EveryRow(net, cfg), batch, ClipRandom(batch["key"]), samples=2)
    assert float((shared.boxes - every.boxes).abs().max()) < 1e-3
    assert torch.equal(shared.actions, every.actions)


def test_one_slt_iteration(net, cfg) -> None:
    """N = 2, T = 3: finite loss, the head and backbone change, the reward is the two trajectories' mIoU gap."""
    import copy
    import time

    from slt.boxes import box_iou_xywh
    from slt.update import UpdateConfig, slt_update
    from slt_ostrack.actor import SLTOSTrackActor

    model = copy.deepcopy(net)
    batch = clip_batch(clips=2, frames=3, seed=1)
    tracker = SLTOSTrack(model, cfg)
    actor = SLTOSTrackActor(model, cfg, tracker.shaping)
    model.eval()
    rollout = explore(tracker, batch, ClipRandom(batch["key"]), samples=1)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    stats = slt_update(actor, model.parameters(), optimizer, rollout, UpdateConfig(chunk_size=0, grad_clip=0.0))
    logging.getLogger(__name__).info("one SLT update (4 samples): %.1f s", time.perf_counter() - start)
    assert np.isfinite(stats["Loss/total"]) and stats["skipped"] == 0 and stats["grad_norm"] > 0
    gt = torch.as_tensor(np.stack(batch["search_annos"]), dtype=torch.float32)[:, 1:]
    miou = box_iou_xywh(rollout.boxes, gt[None]).mean(-1)  # (2, N) greedy, sampled
    assert stats["reward"] == pytest.approx(float((miou[1] - miou[0]).mean()), abs=1e-6)
    assert stats["greedy_miou"] == pytest.approx(float(miou[0].mean()), abs=1e-6)
    changed = {name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])}
    # conv5_offset is not required: a random head's boxes (sigmoid sizes ~0.5, 128 px) enclose the targets,
    # where L1 on the corners and GIoU do not depend on the box centre
    for name in ("box_head.conv5_ctr.weight", "box_head.conv5_size.weight", "backbone.blocks.0.attn.qkv.weight", "backbone.patch_embed.proj.weight"):
        assert name in changed, name
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert not (frozen & changed)


@pytest.fixture(scope="module")
def got10k(tmp_path_factory) -> Path:
    from ltr_helpers import synthetic_got10k

    return synthetic_got10k(tmp_path_factory.mktemp("got10k"), videos=2, frames=20, seed=0)


def test_patch_set_applies_and_reverts_byte_identical(tmp_path) -> None:
    from ostrack_helpers import patched_copy, revert
    from ltr_helpers import tree_digest

    tree = patched_copy(HOST, tmp_path / "tree")
    assert "hand_over(sys.argv[1:])" in (tree / "lib" / "train" / "run_training.py").read_text()
    revert(tree)
    assert tree_digest(tree) == tree_digest(HOST)


def test_host_train_py_runs_slt_evaluates_and_resumes(tmp_path, got10k) -> None:
    """``tracking/train.py --script slt_ostrack --mode single`` for two epochs, killed during epoch 2: epoch 1
    left a weights-only checkpoint that the host's ``tracking/test.py`` evaluates (GOT-10k val layout); the same
    command rerun resumes from it and trains only epoch 2."""
    import signal
    import subprocess
    import time

    from ostrack_helpers import patched_copy, write_slt_config, write_train_local
    from ltr_helpers import host_env, run_python

    tree = patched_copy(HOST, tmp_path / "tree")
    write_train_local(tree, tmp_path / "workspace", got10k)
    out = tmp_path / "out"
    path = os.environ["PATH"]
    bin_dir = str(Path(sys.executable).parent)
    args = ["tracking/train.py", "--script", "slt_ostrack", "--save_dir", str(out), "--mode", "single",
            "--config", str(write_slt_config(tmp_path / "smoke.yaml", epochs=2))]
    checkpoint = out / "checkpoints" / "train" / "ostrack" / "smoke" / "OSTrack_ep0001.pth.tar"
    first = subprocess.Popen([sys.executable, "-W", "ignore", *args], cwd=tree, start_new_session=True,
                             env=host_env(tree, 2, PATH=f"{bin_dir}:{path}"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not checkpoint.is_file() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # the job: tracking/train.py and its run_training.py child
    first.wait()
    assert checkpoint.is_file()
    assert not checkpoint.with_name("OSTrack_ep0002.pth.tar").exists()  # killed during epoch 2
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and "box_head.conv5_ctr.weight" in state["net"]

    from ostrack_helpers import write_test_local, write_test_yaml
    from ltr_helpers import synthetic_got10k

    val = synthetic_got10k(tmp_path / "got10k", videos=1, frames=6, seed=3, split="val")
    write_test_local(tree, tmp_path / "got10k", out, tmp_path / "results")
    write_test_yaml(tree, HOST / "experiments" / "ostrack" / f"{CONFIG}.yaml", "smoke", epoch=1)
    evaluation = run_python(["tracking/test.py", "ostrack", "smoke", "--dataset_name", "got10k_val",
                             "--threads", "0", "--num_gpus", "1"], tree)
    results = sorted((tmp_path / "results").rglob("*.txt"))
    names = [p.name for p in results]
    sequence = (val / "list.txt").read_text().split()[0]
    assert f"{sequence}.txt" in names, evaluation.stdout[-3000:] + evaluation.stderr[-3000:]
    boxes = np.loadtxt(next(p for p in results if p.name == f"{sequence}.txt"), delimiter="\t")
    assert boxes.shape == (6, 4) and np.isfinite(boxes).all() and (boxes[:, 2:] >= 10).all()
    second = run_python(args, tree, PATH=f"{bin_dir}:{path}")
    log = second.stdout + second.stderr
    assert "resumed from" in log and "OSTrack_step_00000001.pth at step 1 (epoch 2, 0/1 done)" in log, log[-3000:]
    resumed = torch.load(checkpoint.with_name("OSTrack_ep0002.pth.tar"), map_location="cpu", weights_only=True)
    assert resumed["epoch"] == 2
    assert "[train: 1," not in log and "[train: 2, 1 / 1]" in log


def test_sigint_mid_epoch_checkpoints_the_step_and_the_rerun_resumes_inside_the_epoch(tmp_path, got10k) -> None:
    """``python -m slt_ostrack.train``, one epoch of 3 steps, checkpoints every step with the newest 2 kept:
    SIGINT once step 1 is logged stops after the step it interrupts (1, or 2 when it lands in step 2's work),
    writes its checkpoint, prints one line, exits 130 without a traceback; the same command then resumes at that
    step inside the epoch, trains only the rest and writes the epoch's weights. Logs name integer steps and each
    parameter group's learning rate; TensorBoard gets every step."""
    import re
    import signal
    import subprocess
    import time

    from ostrack_helpers import write_slt_config, write_train_local
    from ltr_helpers import copy_tree, host_env, run_python

    from slt.checkpoint import CheckpointManager

    tree = copy_tree(HOST, tmp_path / "tree")
    write_train_local(tree, tmp_path / "workspace", got10k)
    config = write_slt_config(tmp_path / "smoke.yaml", epochs=1, SAMPLES_PER_EPOCH=6, CHECKPOINT_EVERY=1,
                              KEEP_CHECKPOINTS=2)
    args = ["-m", "slt_ostrack.train", "--config", str(config), "--save_dir", str(tmp_path / "out")]
    folder = tmp_path / "out" / "checkpoints" / "train" / "ostrack" / "smoke"
    manager = CheckpointManager(folder, "OSTrack_step")
    log = tmp_path / "first.log"
    with log.open("w") as stream:
        first = subprocess.Popen([sys.executable, "-W", "ignore", *args], cwd=tree, env=host_env(tree, 2),
                                 stdout=stream, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 900
        while "step 1/3" not in log.read_text() and time.monotonic() < deadline:
            assert first.poll() is None, log.read_text()[-3000:]
            time.sleep(0.1)
        first.send_signal(signal.SIGINT)
        code = first.wait(timeout=900)
    text = log.read_text()
    assert code == 128 + signal.SIGINT, text[-3000:]
    assert "Traceback" not in text and "\r" not in text
    lines = [line for line in text.splitlines() if "run the same command again to resume" in line]
    assert len(lines) == 1, text[-3000:]
    step = int(re.search(r"SLT-OSTrack interrupted at step (\d+);", lines[0]).group(1))
    assert step in (1, 2)
    assert manager.steps() == list(range(1, step + 1)) and not (folder / "OSTrack_ep0001.pth.tar").exists()
    assert "step 1/3 (epoch 1, 1/3)" in text and "lr 0.0001 1e-05" in text
    state = torch.load(manager.latest(), map_location="cpu", weights_only=True)
    assert (state["epoch"], state["epoch_step"], state["step"]) == (0, step, step)

    rerun = run_python(args, tree, timeout=1200)
    again = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, again[-3000:]
    assert f"resumed from {manager.path(step)} at step {step} (epoch 1, {step}/3 done)" in again, again[-3000:]
    assert "step 3/3 (epoch 1, 3/3)" in again and f"step {step}/3" not in again
    assert manager.steps() == [2, 3]  # the newest 2 kept
    assert torch.load(folder / "OSTrack_ep0001.pth.tar", weights_only=True)["epoch"] == 1
    events = list((tmp_path / "workspace" / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard events"


def test_torchrun_two_ranks_equal_one_process(tmp_path, got10k, cfg) -> None:
    """One SLT step on a global batch of 2 clips: ``torchrun`` with 2 gloo ranks (1 clip each) writes the same
    weights as one process (1e-5), and both moved away from the initial weights. SGD, so the update is linear
    in the averaged gradient."""
    from ostrack_helpers import write_slt_config, write_train_local
    from ltr_helpers import copy_tree, run_python

    from slt_ostrack.network import build_network

    tree = copy_tree(HOST, tmp_path / "tree")
    write_train_local(tree, tmp_path / "workspace", got10k)
    config = write_slt_config(tmp_path / "smoke.yaml", epochs=1, OPTIMIZER="sgd", LR=1e-3, WEIGHT_DECAY=0.0)
    args = ["-m", "slt_ostrack.train", "--config", str(config), "--seed", "42"]
    single = run_python([*args, "--save_dir", str(tmp_path / "one")], tree)
    double = run_python(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517", *args,
                         "--save_dir", str(tmp_path / "two")], tree, OMP_NUM_THREADS="1")
    name = Path("checkpoints") / "train" / "ostrack" / "smoke" / "OSTrack_ep0001.pth.tar"
    assert (tmp_path / "one" / name).is_file(), single.stderr[-3000:]
    assert (tmp_path / "two" / name).is_file(), double.stderr[-3000:]
    one = torch.load(tmp_path / "one" / name, weights_only=True)["net"]
    two = torch.load(tmp_path / "two" / name, weights_only=True)["net"]
    torch.manual_seed(42)
    start = build_network(cfg).state_dict()
    gap = max(float((one[k].float() - two[k].float()).abs().max()) for k in one)
    moved = max(float((one[k].float() - start[k].float()).abs().max()) for k in one)
    logging.getLogger(__name__).info("torchrun 2 ranks vs 1 process: max weight gap %.2e, max move %.2e", gap, moved)
    assert gap < 1e-5 and moved > 1e-3, (gap, moved)
