"""SLT-TransT against a real TransT checkout (chenxin-dlut/TransT, patched with ``slt patch-host transt``).

Set ``TRANST_ROOT`` to the patched checkout. Networks have random weights; in-process tests use a TransT with a
small transformer (the ResNet-50 backbone and 128/256 crops are the real ones), the subprocess runs of
``ltr/run_training.py`` and ``pytracking/run_tracker.py`` the full TransT.
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

ROOT = os.environ.get("TRANST_ROOT")
if not ROOT:
    pytest.skip("TRANST_ROOT is not set (a TransT checkout patched with 'slt patch-host transt')",
                allow_module_level=True)
pytest.importorskip("torchvision", reason="the TransT host needs torchvision")
HOST = Path(ROOT).resolve()
if str(HOST) not in sys.path:
    sys.path.insert(0, str(HOST))

from ltr_helpers import (copy_tree, patch_host, read_video, run_python, synthetic_got10k,  # noqa: E402
                         tree_digest, write_ltr_local, write_pytracking_local)

from slt.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from slt.crop import to_uint8  # noqa: E402
from slt.distributed import DistContext, StepShardSampler  # noqa: E402
from slt.rollout import Samples  # noqa: E402
from slt.sampling import SequenceSampler  # noqa: E402
from slt.update import UpdateConfig  # noqa: E402
from slt_pytracking import ltr_weights, transt_net  # noqa: E402
from slt_pytracking.loader import build_dataset, sequence_loader, training_loader  # noqa: E402
from slt_pytracking.parameter.slt_transt import parameters  # noqa: E402
from slt_pytracking.train_settings import transt as transt_settings  # noqa: E402
from slt_pytracking.trainer import SLTTrainer  # noqa: E402
from slt_pytracking.transt_actor import SLTTransTActor, transt_box_objective  # noqa: E402
from slt_pytracking.transt_tracker import SLTTransT, TransTExplorationConfig  # noqa: E402

from pytracking.tracker.transt import TransT  # noqa: E402  (the stock tracker)
from pytracking.utils import TrackerParams  # noqa: E402

pytestmark = [pytest.mark.host, pytest.mark.slow]
logger = logging.getLogger(__name__)
SMALL = {"hidden_dim": 64, "dim_feedforward": 128, "featurefusion_layers": 1}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Synthetic GOT-10k 'train' folder: 3 videos of 30 frames, 128 x 128."""
    return synthetic_got10k(tmp_path_factory.mktemp("got10k"), videos=3, frames=30, seed=0)


@pytest.fixture(scope="module")
def small_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return transt_net.transt_offline(**SMALL).eval()


def stock_track(net: torch.nn.Module, frames: list[np.ndarray], box: np.ndarray) -> np.ndarray:
    """The stock TransT tracker (initialize + track) on one video -> (len(frames) - 1, 4) xywh."""
    params = TrackerParams()
    params.net = net
    params.use_gpu = False
    tracker = TransT(params)
    tracker.features_initialized = True
    tracker.initialize(frames[0], {"init_bbox": [float(v) for v in box]})
    return np.array([tracker.track(frame)["target_bbox"] for frame in frames[1:]], dtype=np.float64)


def explore_greedy(net: torch.nn.Module, videos: list, boxes: np.ndarray, backend: str,
                   copies: int) -> tuple[np.ndarray, torch.Tensor]:
    """Greedy rows of the batched tracker over the videos -> ((N, F, 4) xywh, first search crops (B, 3, S, S))."""
    tracker = SLTTransT(net, TransTExplorationConfig(crop_backend=backend))
    init = torch.as_tensor(boxes)
    mode = "half" if copies == 2 else "argmax"
    out, first = [], None
    with torch.inference_mode():
        tracker.batch_init([v[0] for v in videos], init, init, copies=copies)
        for t in range(1, len(videos[0])):
            step = tracker.batch_track([v[t] for v in videos], mode, torch.Generator().manual_seed(t))
            out.append(step.boxes[: len(videos)].double().numpy())
            first = step.crops if first is None else first
    return np.stack(out, axis=1), first


def test_greedy_rows_match_the_stock_tracker_frame_after_frame(data, small_net, record_property):
    sequences = sorted(p for p in data.iterdir() if p.is_dir())[:2]
    loaded = [read_video(seq, 6) for seq in sequences]  # init frame + 5 tracked frames
    videos = [frames for frames, _ in loaded]
    boxes = np.stack([gt[0] for _, gt in loaded])
    host_boxes, host_crops = explore_greedy(small_net, videos, boxes, "host", copies=2)
    assert "zf" not in vars(small_net) and "pos_template" not in vars(small_net)  # nothing cached on the network
    stock = np.stack([stock_track(small_net, frames, box) for frames, box in zip(videos, boxes)])
    host_error = float(np.abs(host_boxes - stock).max())
    torch_boxes, torch_crops = explore_greedy(small_net, [v[:4] for v in videos], boxes, "torch", copies=1)
    torch_error = float(np.abs(torch_boxes - stock[:, :3]).max())  # 3 tracked frames: a measurement
    crop_error = float((torch_crops.float() - host_crops[: len(videos)].float()).abs().mean())
    record_property("greedy_max_error_px_host", host_error)
    record_property("greedy_max_error_px_torch", torch_error)
    logger.warning("greedy parity: host crops %.2e px, torch crops %.3f px (first-crop mean |diff| %.3f grey)",
                   host_error, torch_error, crop_error)
    assert host_error < 1e-3
    assert crop_error < 1.0  # OpenCV's fixed-point resize against bilinear grid_sample
    assert torch_error < 8.0  # loose: one cell of the 32 x 32 grid is s_x / 32 pixels


def test_actor_logits_on_recorded_crops_have_the_greedy_action_as_argmax(data, small_net):
    """The actor shapes with the tracker's own :class:`slt.policy.Shaping`: on the crops exploration recorded,
    its logits (with gradients, the update's computation) pick the greedy rows' recorded actions."""
    sequences = sorted(p for p in data.iterdir() if p.is_dir())[:2]
    loaded = [read_video(seq, 4) for seq in sequences]
    videos = [frames for frames, _ in loaded]
    boxes = torch.as_tensor(np.stack([gt[0] for _, gt in loaded]))
    tracker = SLTTransT(small_net)
    actor = SLTTransTActor(small_net, transt_box_objective(), tracker.shaping)
    assert actor.shaping is tracker.shaping
    crops, actions = [], []
    with torch.inference_mode():
        templates = tracker.batch_init([v[0] for v in videos], boxes, boxes, copies=1)
        for t in range(1, len(videos[0])):
            step = tracker.batch_track([v[t] for v in videos], "argmax")
            crops.append(to_uint8(step.crops))
            actions.append(step.actions)
    count = len(crops) * len(videos)
    samples = Samples(sequence=torch.arange(len(videos)).repeat(len(crops)), actions=torch.cat(actions),
                      crops=torch.cat(crops), gt_in_crop=torch.full((count, 4), float("nan")), extras={},
                      advantages=torch.zeros(count), mask=torch.ones(count, dtype=torch.bool), templates=templates)
    logits, _, _ = actor.outputs(samples)
    assert logits.requires_grad and logits.shape == (count, 32 * 32)
    assert torch.equal(logits.argmax(-1), samples.actions)


class CheckingActor(SLTTransTActor):
    """The real actor, asserting that it leaves its inputs unchanged (docs/method.md#b17)."""

    calls = 0

    def __call__(self, samples):
        before = [t.clone() for t in (samples.crops, samples.gt_in_crop, samples.templates, samples.actions)]
        result = super().__call__(samples)
        for old, new in zip(before, (samples.crops, samples.gt_in_crop, samples.templates, samples.actions)):
            torch.testing.assert_close(new, old, rtol=0, atol=0, equal_nan=True)
        type(self).calls += 1
        return result


def test_one_slt_iteration_through_the_actor_and_trainer(data, tmp_path, record_property):
    torch.manual_seed(1)
    net = transt_net.transt_offline(**SMALL)
    env = SimpleNamespace(got10k_dir=str(data), workspace_dir=str(tmp_path / "ws"),
                          tensorboard_dir=str(tmp_path / "ws" / "tensorboard"))
    sampler = SequenceSampler([build_dataset(env, "got10k")], [1], samples_per_epoch=2, num_frames=3, seed=2)
    loader = sequence_loader("train", sampler, num_seq=2)
    tracker = SLTTransT(net)
    actor = CheckingActor(net, transt_box_objective(), tracker.shaping, slt_loss_weight=15.0)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=1e-4)
    settings = SimpleNamespace(env=env, project_path="ltr/slt/test", device="cpu", module_name="slt",
                               script_name="test", print_interval=1, description="")
    trainer = SLTTrainer(actor, tracker, [loader], optimizer, settings,
                         torch.optim.lr_scheduler.StepLR(optimizer, 100),
                         update=UpdateConfig(chunk_size=2, chunk_norm="sum", grad_clip=100.0))
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    start = time.perf_counter()
    trainer.train(1, load_latest=False, fail_safe=False)
    seconds = time.perf_counter() - start
    record_property("slt_iteration_seconds", seconds)
    logger.warning("one SLT iteration (N=2, T=3, small transformer, CPU): %.1f s", seconds)
    stats = {name: meter.history[-1] for name, meter in trainer.stats["train"].items() if hasattr(meter, "count")}
    assert {"Loss/total", "Loss/sl_clf", "Loss/bbox", "Loss/giou", "bbox_iou", "reward", "mIoU", "e_mIoU",
            "grad_norm"} <= set(stats)
    assert all(math.isfinite(value) for value in stats.values()) and stats["skipped"] == 0
    assert CheckingActor.calls == 2  # 2 clips x 2 tracked frames in chunks of 2 samples
    changed = [name for name, p in net.named_parameters() if not torch.equal(before[name], p.detach())]
    assert any(n.startswith("bbox_embed") for n in changed) and any(n.startswith("backbone") for n in changed)
    assert "zf" not in vars(net)
    assert (tmp_path / "ws" / "checkpoints" / "ltr" / "slt" / "test" / "TransT_ep0001.pth.tar").is_file()


def test_two_sampled_trajectories_per_clip_with_the_mean_of_samples_baseline(data, tmp_path):
    """``samples=2`` reaches the exploration (3 rows per clip) and ``baseline='mean_of_samples'`` the update: the
    advantages of a clip's samples then sum to zero, so the logged reward (their mean) is 0."""
    torch.manual_seed(1)
    net = transt_net.transt_offline(**SMALL)
    env = SimpleNamespace(got10k_dir=str(data), workspace_dir=str(tmp_path / "ws"),
                          tensorboard_dir=str(tmp_path / "ws" / "tensorboard"))
    sampler = SequenceSampler([build_dataset(env, "got10k")], [1], samples_per_epoch=2, num_frames=3, seed=4)
    tracker = SLTTransT(net)
    actor = CheckingActor(net, transt_box_objective(), tracker.shaping)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    settings = SimpleNamespace(env=env, project_path="ltr/slt/test", device="cpu", module_name="slt",
                               script_name="test", print_interval=1, description="")
    trainer = SLTTrainer(actor, tracker, [sequence_loader("train", sampler, num_seq=2)], optimizer, settings,
                         torch.optim.lr_scheduler.StepLR(optimizer, 100),
                         update=UpdateConfig(chunk_size=4, baseline="mean_of_samples"), samples=2)
    calls = CheckingActor.calls
    trainer.train(1, load_latest=False, fail_safe=False)
    stats = {name: meter.history[-1] for name, meter in trainer.stats["train"].items() if hasattr(meter, "count")}
    assert tracker.copies == 3 and CheckingActor.calls - calls == 2  # 2 clips x 2 samples x 2 frames, chunks of 4
    assert abs(stats["reward"]) < 1e-6 and stats["skipped"] == 0
    assert all(math.isfinite(value) for value in stats.values())


def test_training_loader_shards_each_step_and_keeps_the_clip_keys(data):
    """The loader of every rank is built from the same sampler seed and reads its share of each step's global
    batch; its batches keep the clips' ``(seed, epoch, index)`` keys, the epoch included."""
    env = SimpleNamespace(got10k_dir=str(data))
    settings = SimpleNamespace(seed=7, device="cpu", num_seq=2, samples_per_epoch=4, num_frames=3, max_gap=300,
                               frame_sample_mode="sequential", max_interval=10, interval_prob=0.3, num_workers=0)
    context, loader = training_loader(settings, [build_dataset(env, "got10k")], [1])
    assert context.world_size == 1
    loader.dataset.set_epoch(3)
    assert [batch["key"] for batch in loader] == [[(7, 3, 0), (7, 3, 1)], [(7, 3, 2), (7, 3, 3)]]
    rank1 = sequence_loader("train", loader.dataset, 1, indices=StepShardSampler(0, 2, 2, DistContext(1, 2)))
    batches = list(rank1)
    assert [batch["key"] for batch in batches] == [[(7, 3, 1)], [(7, 3, 3)]]
    whole = list(loader)
    np.testing.assert_array_equal(batches[1]["search_images"][0], whole[1]["search_images"][1])


@pytest.fixture(scope="module")
def host_runs(tmp_path_factory, data):
    """A copy of TRANST_ROOT: reverted to pristine (digest), patched, smoke training and evaluation run with
    local.py files pointing at synthetic data, local.py files restored, reverted again (digest)."""
    base = tmp_path_factory.mktemp("host")
    tree = copy_tree(HOST, base / "transt")
    patch_host("transt", tree, "--revert")
    pristine = tree_digest(tree)
    shipped = {name: (tree / name).read_bytes() for name in ("ltr/admin/local.py", "pytracking/evaluation/local.py")}
    patch_host("transt", tree)
    workspace = base / "workspace"
    write_ltr_local(tree, workspace, data)
    evaluation = synthetic_got10k(base / "eval", videos=2, frames=3, seed=5, split="val").parent
    write_pytracking_local(tree, evaluation, base / "results", base / "networks")
    start = time.perf_counter()
    train = run_python(["ltr/run_training.py", "slt", "transt_smoke"], tree)
    middle = time.perf_counter()
    checkpoints = workspace / "checkpoints" / "ltr" / "slt" / "transt_smoke"
    evaluate = run_python(["pytracking/run_tracker.py", "transt", "slt_transt", "--dataset_name", "got10k_val"], tree,
                          SLT_TRANST_CHECKPOINT=str(checkpoints), SLT_TRUST_CHECKPOINTS="1")
    logger.warning("run_training slt transt_smoke: %.0f s; run_tracker transt slt_transt: %.0f s",
                   middle - start, time.perf_counter() - middle)
    write_ltr_local(tree, base / "workspace_ddp", data)
    ddp = run_python(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "ltr/run_training.py",
                      "slt", "transt_smoke"], tree)
    for name, content in shipped.items():
        (tree / name).write_bytes(content)
    patch_host("transt", tree, "--revert")
    return SimpleNamespace(tree=tree, pristine=pristine, reverted=tree_digest(tree), train=train,
                           checkpoints=checkpoints, evaluate=evaluate, results=base / "results", ddp=ddp,
                           ddp_checkpoints=base / "workspace_ddp" / "checkpoints" / "ltr" / "slt" / "transt_smoke")


def test_run_training_slt_transt_smoke_writes_a_checkpoint(host_runs):
    assert host_runs.train.returncode == 0, host_runs.train.stderr[-3000:]
    assert "complete (1 epochs)" in host_runs.train.stderr
    assert "random TransT weights" in host_runs.train.stderr
    assert (host_runs.checkpoints / "TransT_ep0001.pth.tar").is_file()


def test_torchrun_two_ranks_run_the_smoke_epoch_and_rank_zero_writes_the_checkpoint(host_runs):
    assert host_runs.ddp.returncode == 0, host_runs.ddp.stderr[-3000:]
    assert "rank 0 of 2" in host_runs.ddp.stderr and "rank 1 of 2" in host_runs.ddp.stderr
    assert [p.name for p in host_runs.ddp_checkpoints.glob("*.pth.tar")] == ["TransT_ep0001.pth.tar"]


def test_torchrun_two_ranks_equal_one_process_on_the_same_global_batch(host_runs, record_property):
    """Same sampler seed on every rank, each rank its share of the step's clips, exploration keyed by clip: the
    2-rank job explores and scores exactly what the single process does (the logged epoch statistics, averaged
    over ranks), and takes the same optimizer step."""
    one = load_checkpoint(host_runs.checkpoints / "TransT_ep0001.pth.tar", trusted=True)
    two = load_checkpoint(host_runs.ddp_checkpoints / "TransT_ep0001.pth.tar", trusted=True)
    names = ["Loss/total", "Loss/sl_clf", "Loss/bbox", "Loss/giou", "bbox_iou", "reward", "mIoU", "e_mIoU"]
    single = {name: one["stats"]["train"][name].history[-1] for name in names}
    ranks = {name: two["stats"]["train"][name].history[-1] for name in names}
    logger.warning("one process %s; two ranks %s", single, ranks)
    for name in names:
        assert math.isclose(ranks[name], single[name], rel_tol=1e-5, abs_tol=1e-5), name
    # chunk_norm='sum' (B9): one process sums its 2 one-clip chunks, the ranks average their one chunk each
    grad_norms = (one["stats"]["train"]["grad_norm"].history[-1], two["stats"]["train"]["grad_norm"].history[-1])
    assert math.isclose(grad_norms[0], 2 * grad_norms[1], rel_tol=1e-4)
    weights = max(float((one["net"][k].float() - two["net"][k].float()).abs().max()) for k in one["net"])
    record_property("ddp_max_weight_diff", weights)
    # AdamW's first step moves every weight by about lr = 1e-5 in its gradient's sign whatever the gradient's
    # scale (the factor 2 above shows only through eps): a rank disagreeing on a sign would differ by 2e-5
    assert weights < 5e-6


def test_run_tracker_evaluates_the_slt_checkpoint(host_runs):
    assert host_runs.evaluate.returncode == 0, host_runs.evaluate.stderr[-3000:]
    results = sorted((host_runs.results / "transt" / "slt_transt").glob("GOT-10k_*[0-9].txt"))
    assert len(results) == 2
    for path in results:
        boxes = np.loadtxt(path, delimiter="\t")
        assert boxes.shape == (3, 4) and np.isfinite(boxes).all()


def test_slt_checkpoints_need_the_trust_flag(host_runs, monkeypatch):
    checkpoint = host_runs.checkpoints / "TransT_ep0001.pth.tar"
    monkeypatch.delenv(ltr_weights.TRUST_ENV, raising=False)
    with pytest.raises(CheckpointError, match="set SLT_TRUST_CHECKPOINTS=1"):
        ltr_weights.load_state(checkpoint)
    monkeypatch.setenv(ltr_weights.TRUST_ENV, "1")
    state = ltr_weights.load_state(checkpoint)
    assert transt_net.network_kwargs_from_state(state, "smoke")["hidden_dim"] == 64  # the smoke's small transformer


def test_revert_leaves_the_tree_byte_identical(host_runs):
    assert host_runs.reverted == host_runs.pristine


def test_unpatched_tree_names_the_patch_command(host_runs):
    plugin = run_python(["-c", "import slt_pytracking.train_settings.transt"], host_runs.tree)
    assert plugin.returncode != 0
    assert f"slt patch-host transt {host_runs.tree}" in plugin.stderr
    entry = run_python(["ltr/run_training.py", "slt", "transt"], host_runs.tree)
    assert entry.returncode != 0 and "ltr.train_settings.slt" in entry.stderr  # the shims are part of the patch


def paper_settings(tmp_path: Path, **dirs: str) -> SimpleNamespace:
    folders = {"workspace_dir": str(tmp_path / "ws"), "tensorboard_dir": str(tmp_path / "tb"), "lasot_dir": "",
               "got10k_dir": "", "trackingnet_dir": "", **dirs}
    return SimpleNamespace(env=SimpleNamespace(**folders), project_path="ltr/slt/transt", module_name="slt",
                           script_name="transt")


def test_missing_pretrained_weights_name_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(transt_net.WEIGHTS_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="SLT_TRANST_WEIGHTS=.*pretrained_networks"):
        transt_settings.run(paper_settings(tmp_path))
    monkeypatch.setenv(transt_net.WEIGHTS_ENV, str(tmp_path / "absent.pth"))
    with pytest.raises(FileNotFoundError, match="SLT_TRANST_WEIGHTS=.*is not a file"):
        transt_settings.run(paper_settings(tmp_path))


def test_missing_folders_name_the_local_py_attribute(tmp_path, monkeypatch, data):
    (tmp_path / "transt.pth").write_bytes(b"")
    monkeypatch.setenv(transt_net.WEIGHTS_ENV, str(tmp_path / "transt.pth"))
    with pytest.raises(FileNotFoundError, match="workspace_dir is empty.*ltr/admin/local.py"):
        transt_settings.run(paper_settings(tmp_path, workspace_dir=""))
    with pytest.raises(FileNotFoundError, match="settings.env.lasot_dir = '' is not a folder: set lasot_dir"):
        transt_settings.run(paper_settings(tmp_path))
    with pytest.raises(FileNotFoundError, match="settings.env.got10k_dir = '/nowhere' is not a folder"):
        transt_settings.run(paper_settings(tmp_path, lasot_dir=str(data), got10k_dir="/nowhere"))
    with pytest.raises(FileNotFoundError, match="trackingnet_dir = '' is not a folder"):
        build_dataset(SimpleNamespace(trackingnet_dir=""), "trackingnet")


def test_missing_slt_checkpoint_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(transt_net.CHECKPOINT_ENV, raising=False)
    import pytracking.evaluation.environment as environment

    monkeypatch.setattr(environment, "env_settings", lambda: SimpleNamespace(network_path=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match="SLT_TRANST_CHECKPOINT="):
        parameters()


def test_untrusted_pickles_are_refused_with_the_flag_named(tmp_path, monkeypatch):
    monkeypatch.delenv(ltr_weights.TRUST_ENV, raising=False)
    torch.save({"net": {}, "settings": SimpleNamespace(device="cpu")}, tmp_path / "ltr.pth.tar")
    with pytest.raises(CheckpointError, match="SLT_TRUST_CHECKPOINTS=1"):
        ltr_weights.load_state(tmp_path / "ltr.pth.tar")


INTERRUPT_SETTINGS = '''from slt_pytracking.loader import build_dataset
from slt_pytracking.train_settings.transt import configure, train
from slt_pytracking.train_settings.transt_smoke import SMALL_TRANSFORMER


def run(settings):
    configure(settings)
    settings.num_epochs, settings.samples_per_epoch, settings.num_seq, settings.num_frames = 2, 3, 1, 3
    settings.num_seq_backward, settings.num_workers = 1, 0
    settings.checkpoint_every, settings.keep_checkpoints = 2, 1
    settings.lr = float(__import__("os").environ.get("STEER_LR", settings.lr))
    for name, value in SMALL_TRANSFORMER.items():
        setattr(settings, name, value)
    train(settings, [build_dataset(settings.env, "got10k")], p_datasets=[1], weights=None)
'''
"""A custom recipe: 2 epochs of 3 one-clip steps, a checkpoint every 2 steps, only the newest kept."""


def tensorboard_steps(folder: Path, tag: str) -> list[int]:
    """The steps of ``tag`` in the event files of ``folder`` as TensorBoard shows them (purged events dropped)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), purge_orphaned_data=True)
    events.Reload()
    return [event.step for event in events.Scalars(tag)]


def test_sigint_inside_an_epoch_checkpoints_and_the_rerun_resumes_at_the_next_step(tmp_path, data):
    """``ltr/run_training.py`` with a custom recipe, redirected to a file, SIGINTed in epoch 2: one line, exit
    130, a step checkpoint (the only file: retention 1); the rerun resumes at that step, ends with the epoch's
    checkpoint alone and TensorBoard steps 1..6 once each; a third run says the run is complete."""
    import signal
    import subprocess

    tree = copy_tree(HOST, tmp_path / "transt")
    patch_host("transt", tree)
    (tree / "ltr" / "train_settings" / "slt" / "steer_interrupt.py").write_text(INTERRUPT_SETTINGS)
    workspace = tmp_path / "workspace"
    write_ltr_local(tree, workspace, data)
    command = [sys.executable, "-W", "ignore", "ltr/run_training.py", "slt", "steer_interrupt"]
    from ltr_helpers import host_env

    log = tmp_path / "first.log"
    with log.open("w") as stream:
        proc = subprocess.Popen(command, cwd=tree, env=host_env(tree, 2), stdout=stream, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        while "[train: 2, 1 / 3]" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=600)
    text = log.read_text()
    assert code == 128 + signal.SIGINT, text[-3000:]
    assert "Traceback" not in text and "\r" not in text
    lines = [line for line in text.splitlines() if "run the same command again to resume" in line]
    assert len(lines) == 1, text[-3000:]
    step = int(lines[0].split("interrupted at step ")[1].split(";")[0])
    assert step in (4, 5), lines  # epoch 2's first or second step: finished, then stopped
    folder = workspace / "checkpoints" / "ltr" / "slt" / "steer_interrupt"
    assert [p.name for p in folder.iterdir()] == [f"TransT_ep0002_step{step - 3:06d}.pth.tar"]
    assert "tensorboard --logdir" in text and "lr/group1: " in text

    rerun = run_python(["ltr/run_training.py", "slt", "steer_interrupt"], tree)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"at step {step} (1 epochs and {step - 3} steps done; 3 steps per epoch)" in rerun.stderr
    assert f"epoch 2: continuing at step {step - 2} of 3" in rerun.stderr
    assert [p.name for p in folder.iterdir()] == ["TransT_ep0002.pth.tar"]
    board = Path(str(workspace / "tensorboard")) / "ltr" / "slt" / "steer_interrupt"
    assert tensorboard_steps(board / "train_steps", "mIoU") == [1, 2, 3, 4, 5, 6]
    assert tensorboard_steps(board / "train_steps", "lr/group0") == [1, 2, 3, 4, 5, 6]
    assert tensorboard_steps(board / "train", "mIoU") == [1, 2]
    state = load_checkpoint(folder / "TransT_ep0002.pth.tar", trusted=True)
    assert state["epoch"] == 2 and state["slt_progress"]["epoch_step"] == 0
    assert state["stats"]["train"]["mIoU"].count == 0 and len(state["stats"]["train"]["mIoU"].history) == 2

    again = run_python(["ltr/run_training.py", "slt", "steer_interrupt"], tree)
    assert again.returncode == 0 and "complete (2 epochs)" in again.stderr, again.stderr[-3000:]
    changed = run_python(["ltr/run_training.py", "slt", "steer_interrupt"], tree, STEER_LR="2e-5")
    assert changed.returncode != 0
    assert f"{folder} holds a run with other settings (lr: 1e-05 there, 2e-05 now)" in changed.stderr


def test_evaluation_loads_the_weights_once_for_all_sequences(small_net, tmp_path, caplog):
    """run_tracker.py builds a tracker, and its parameters' network, per sequence: the file is read once."""
    path = tmp_path / "slt_transt.pth"
    torch.save(small_net.state_dict(), path)
    with caplog.at_level(logging.INFO, logger="slt_pytracking.transt_net"):
        first = transt_net.TransTWeights(net_path=str(path), use_gpu=False)
        first.initialize()
        second = transt_net.TransTWeights(net_path=str(path), use_gpu=False)
        second.initialize()
    assert second.net is first.net
    assert sum("loaded TransT weights" in r.getMessage() for r in caplog.records) == 1
    torch.save(small_net.state_dict(), path)  # a new file (size or time) is read again
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    third = transt_net.TransTWeights(net_path=str(path), use_gpu=False)
    third.initialize()
    assert third.net is not first.net


def test_make_data_trackingnet_layout_is_read_by_the_hosts_trackingnet(tmp_path):
    """``slt make-data --layout trackingnet``: PyTracking's own ``TrackingNet`` reads the recipe's chunks, with
    the boxes and frames slt.data reads."""
    from slt.data import SyntheticConfig, TrackingNet
    from slt.data.synthetic import write_dataset

    root = write_dataset(tmp_path, "trackingnet", 5, 4, 1, SyntheticConfig(height=64, width=80), progress=False)
    host = build_dataset(SimpleNamespace(trackingnet_dir=str(root)), "trackingnet", set_ids=list(range(4)))
    ours = TrackingNet(root, set_ids=[0, 1, 2, 3])
    assert host.get_num_sequences() == ours.get_num_sequences() == 4  # video 5 went to TRAIN_4
    names = {host.sequence_list[i][1]: i for i in range(4)}
    for seq in range(4):
        hosted = names[ours.get_sequence_name(seq)]
        info = host.get_sequence_info(hosted)
        np.testing.assert_allclose(info["bbox"].numpy(), ours.get_sequence_info(seq)["bbox"].numpy())
        frames, _, _ = host.get_frames(hosted, [0, 3], info)
        mine, _, _ = ours.get_frames(seq, [0, 3], ours.get_sequence_info(seq))
        assert frames[0].shape == (64, 80, 3)
        # the host may decode with jpeg4py, slt.data with OpenCV: the same JPEGs, within rounding
        assert all(np.abs(a.astype(float) - b).mean() < 1.0 for a, b in zip(frames, mine))


def test_official_splits_on_other_data_say_to_drop_the_split(data, tmp_path):
    from slt.data.synthetic import write_dataset

    with pytest.raises(ValueError, match="the split 'vottrain' lists the official Got10k videos.*split=None"):
        build_dataset(SimpleNamespace(got10k_dir=str(data)), "got10k", split="vottrain")
    lasot = write_dataset(tmp_path, "lasot", 2, 3, 0, progress=False)
    with pytest.raises(FileNotFoundError, match=r"Lasot at .*: 1120 of 1120 sequences are not there"):
        build_dataset(SimpleNamespace(lasot_dir=str(lasot)), "lasot", split="train")
    with pytest.raises(FileNotFoundError, match="slt_synthetic.json counts as a class"):
        build_dataset(SimpleNamespace(lasot_dir=str(lasot)), "lasot", vid_ids=[1])
    (lasot / "slt_synthetic.json").unlink()
    classes = {p.name for p in lasot.iterdir() if p.is_dir()}  # each class folder starts at <class>-1
    assert build_dataset(SimpleNamespace(lasot_dir=str(lasot)), "lasot", vid_ids=[1]).get_num_sequences() == len(classes)
