"""slt_pysot against a real STVIR/pysot checkout (``PYSOT_ROOT``), on CPU with random weights.

Proves: greedy parity of the batched tracker with PySOT's own ``SiamRPNTracker``; one SLT iteration and its
resumption; PySOT's ``tools/train.py`` and ``tools/test.py`` in a patched copy of the tree, and the byte-exact
revert; the failure messages of bad configs, missing data and non-PySOT trees.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
from pathlib import Path

import pytest

PYSOT_ROOT = os.environ.get("PYSOT_ROOT")
if not PYSOT_ROOT:
    pytest.skip("PYSOT_ROOT not set: point it at a STVIR/pysot checkout to run the PySOT host tests",
                allow_module_level=True)
pytest.importorskip("yacs", reason="yacs is missing: run the PySOT host tests in the host's environment")
ROOT = Path(PYSOT_ROOT).resolve()
if not (ROOT / "pysot" / "core" / "config.py").is_file():
    pytest.skip(f"PYSOT_ROOT={ROOT} holds no pysot/core/config.py", allow_module_level=True)
sys.path.insert(0, str(ROOT))
WROTE_BYTECODE, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # leave the user's checkout untouched

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pysot.core.config import cfg  # noqa: E402
from pysot.tracker.siamrpn_tracker import SiamRPNTracker  # noqa: E402
from pysot.tracker.tracker_builder import TRACKS  # noqa: E402

from pysot_helpers import ALEX_CONFIG, PAPER_CONFIG, derived_config, run_python, run_slt_cli, tree_digest  # noqa: E402
from slt.data.synthetic import SyntheticConfig, generate_video, write_dataset  # noqa: E402
from slt import patching  # noqa: E402
from slt.crop import to_uint8  # noqa: E402
from slt.rollout import Samples  # noqa: E402
from slt.runner import ScheduleChanged  # noqa: E402
from slt.siamrpn import SiamRPNState, crop_gt_to_corners, rpn_foreground_prob  # noqa: E402
from slt_pysot import train as slt_train  # noqa: E402
from slt_pysot.actor import SLTSiamRPNActor  # noqa: E402
from slt_pysot.config import register_slt_cfg  # noqa: E402
from slt_pysot.model_builder import SLTModelBuilder  # noqa: E402
from slt_pysot.testdata import write_toolkit_json  # noqa: E402
from slt_pysot.tracker import SLTSiamRPNTracker  # noqa: E402

sys.dont_write_bytecode = WROTE_BYTECODE
pytestmark = pytest.mark.host
PRISTINE = register_slt_cfg(cfg).clone()


@pytest.fixture(autouse=True)
def one_thread():
    """A busy 2-core machine: one intra-op thread, restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def reset_cfg() -> None:
    """PySOT's global cfg back to its defaults plus SLT's keys (``new_allowed`` nodes such as ``RPN.KWARGS``
    keep merged keys under a merge, so the content is replaced)."""
    cfg.clear()
    cfg.update(PRISTINE.clone())


def use_config(path: Path) -> None:
    """Reset PySOT's global cfg, merge ``path``, run on CPU."""
    reset_cfg()
    cfg.merge_from_file(str(path))
    cfg.CUDA = False


@pytest.fixture
def pysot_cfg():
    reset_cfg()
    yield cfg
    reset_cfg()


@pytest.fixture(scope="module")
def got10k_root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("got10k")
    return write_dataset(out, "got10k", num_videos=4, num_frames=30, seed=0,
                         config=SyntheticConfig(height=128, width=128), progress=False)


def clips(num: int, frames: int) -> tuple[list[np.ndarray], np.ndarray]:
    """``num`` synthetic videos as BGR frame stacks and their float32 xywh boxes."""
    videos = [generate_video(k, SyntheticConfig(height=144, width=176, num_frames=frames)) for k in range(num)]
    return [np.ascontiguousarray(v.frames[..., ::-1]) for v in videos], np.stack([v.boxes for v in videos])


def test_tracker_is_registered_in_pysot_tracks():
    assert TRACKS["SLTSiamRPNTracker"] is SLTSiamRPNTracker


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_greedy_rows_reproduce_stock_siamrpn_tracker_with_host_crops_and_stay_close_with_torch_crops(
    pysot_cfg, record_property
):
    """Acceptance 1, with the AlexNet SLT config. oneDNN convolutions round differently for different batch
    sizes (~1e-5 on the head outputs, ~1e-4 px on boxes after a few frames), so the batched and the stock host
    trackers run with oneDNN off: what is compared is the tracker's logic. The 'torch' backend is stepped once
    per frame from the host tracker's state (its crops differ by resampling, so a flat random-weight score map
    can flip a decision; a trajectory would then drift apart)."""
    use_config(ALEX_CONFIG)
    torch.manual_seed(0)
    model = SLTModelBuilder().eval()
    num, steps = 3, 10
    frames, boxes = clips(num, steps + 1)
    first = torch.from_numpy(boxes[:, 0].astype(np.float32))
    # PySOT keeps template features on the model: one model per tracker
    host, fast = SLTSiamRPNTracker(model, crop="host"), SLTSiamRPNTracker(copy.deepcopy(model), crop="torch")
    stock = SiamRPNTracker(copy.deepcopy(model))
    def exact():
        return torch.backends.mkldnn.flags(enabled=False)

    greedy, stock_boxes, one_step = [], np.zeros((num, steps, 4)), []
    with torch.inference_mode():
        fast.batch_init([f[0] for f in frames], first, first, copies=1)
        with exact():
            host.batch_init([f[0] for f in frames], first, first, copies=2)
        for t in range(1, steps + 1):
            fast.state = SiamRPNState(host.state.centre[:num].clone(), host.state.size[:num].clone())
            images = [f[t] for f in frames]
            with exact():
                step = host.batch_track(images, "half", torch.Generator().manual_seed(t))
            greedy.append(step.boxes[:num].double().numpy())
            one_step.append((fast.batch_track(images, "argmax").boxes - step.boxes[:num]).abs().amax(1))
        with exact():
            for i in range(num):
                stock.init(frames[i][0], [float(v) for v in first[i]])
                for t in range(1, steps + 1):
                    stock_boxes[i, t - 1] = stock.track(frames[i][t])["bbox"]
    error = np.abs(np.stack(greedy, axis=1) - stock_boxes).max()
    torch_error = torch.cat(one_step)
    record_property("host_crop_max_error_px", float(error))
    record_property("torch_crop_one_step_median_px", float(torch_error.median()))
    assert error < 1e-4
    assert float(torch_error[:num].max()) < 1.0  # first tracked frame
    assert float(torch_error.median()) < 1.0


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
@pytest.mark.parametrize("no_neg_logit", [False, True])
def test_actor_logits_on_the_recorded_crops_have_the_greedy_action_as_argmax(pysot_cfg, tmp_path, no_neg_logit):
    """Exploration and loss share one shaping (official bug B15 fixed): the actor is built from the tracker and
    uses its shaping object and score rule; on host crops (integers, so recording them as uint8 is exact) the
    actor's float32 logits rebuilt with the recorded penalty pick the exploration's greedy action in every row and
    equal the exploration's float64 logits up to float32 rounding."""
    use_config(derived_config(tmp_path / "cfg.yaml", TRAIN__NO_NEG_LOGIT=no_neg_logit, TRAIN__TEMP=8.0))
    torch.manual_seed(1)
    model = SLTModelBuilder().eval()
    frames, boxes = clips(2, 4)
    first = torch.from_numpy(boxes[:, 0].astype(np.float32))
    tracker = SLTSiamRPNTracker(model, crop="host")
    cfg.TRAIN.TEMP, cfg.TRACK.WINDOW_INFLUENCE = 1.0, 0.0  # read once by the tracker: later changes do not matter
    logits_seen = []
    with torch.backends.mkldnn.flags(enabled=False), torch.inference_mode():
        templates = tracker.batch_init([f[0] for f in frames], first, first, copies=1)
        steps = []
        for t in (1, 2, 3):
            steps.append(tracker.batch_track([f[t] for f in frames], "argmax"))
            outputs = tracker.model.track(steps[-1].crops)
            fg_prob = rpn_foreground_prob(outputs["cls"], no_neg_logit).double()
            logits_seen.append(tracker.shaping.logits(fg_prob, {"penalty": steps[-1].extras["penalty"]}))
    count = 2 * len(steps)
    samples = Samples(
        sequence=torch.arange(2).repeat(len(steps)), actions=torch.cat([s.actions for s in steps]),
        crops=torch.cat([to_uint8(s.crops) for s in steps]), gt_in_crop=torch.full((count, 4), float("nan")),
        extras={"penalty": torch.cat([s.extras["penalty"] for s in steps])}, advantages=torch.ones(count),
        mask=torch.ones(count, dtype=torch.bool), templates=templates,
    )
    actor = SLTSiamRPNActor(tracker)
    assert actor.shaping is tracker.shaping and actor.no_neg_logit is no_neg_logit
    assert (tracker.shaping.temperature, tracker.shaping.window.dtype) == (8.0, torch.float64)
    with torch.backends.mkldnn.flags(enabled=False), torch.no_grad():
        logits = actor.logits(samples)[0]
    assert logits.dtype == torch.float32
    assert torch.equal(logits.argmax(-1), samples.actions)
    torch.testing.assert_close(logits.double(), torch.cat(logits_seen), rtol=0, atol=1e-4)


def test_anchor_targets_put_a_box_equal_to_the_centre_anchor_on_it(pysot_cfg, tmp_path):
    """A 64x64 box centred on the crop centre (continuous 127.5, PySOT index 127) is the ratio-1 anchor of the
    central cell: zero deltas and positive weight there."""
    use_config(derived_config(tmp_path / "alex.yaml"))
    actor = SLTSiamRPNActor(SLTSiamRPNTracker(SLTModelBuilder()))
    gt = torch.tensor([[127.5 - 32, 127.5 - 32, 64.0, 64.0], [float("nan")] * 4])
    np.testing.assert_allclose(crop_gt_to_corners(gt.numpy())[0], [95.0, 95.0, 159.0, 159.0])
    samples = Samples(sequence=torch.zeros(2, dtype=torch.long), actions=torch.zeros(2, dtype=torch.long),
                      crops=torch.zeros(2, 3, 255, 255, dtype=torch.uint8), gt_in_crop=gt, extras={},
                      advantages=torch.zeros(2), mask=torch.ones(2, dtype=torch.bool), templates=torch.zeros(1))
    label_loc, weight = actor.anchor_targets(samples)
    centre = 17 // 2
    assert weight[0, 2, centre, centre] > 0 and torch.all(label_loc[0, :, 2, centre, centre].abs() < 1e-6)
    assert not label_loc[1].any() and not weight[1].any()


def test_paper_config_merges_with_the_paper_recipe_and_optimizer(pysot_cfg):
    """experiments/slt_siamrpnpp: docs/method.md#hyper-parameters (N 8, T 24, TEMP 8, Adam 1e-5, backbone x0.1 on layers 2-4,
    log LR 0.005 -> 0.0005 over 20 epochs, 25 000 steps), a consistent anchor geometry, the optimizer groups."""
    use_config(PAPER_CONFIG)
    assert (cfg.TRAIN.NUM_SEQ, cfg.TRAIN.NUM_FRAMES, cfg.TRAIN.TEMP, cfg.TRAIN.OPTIM) == (8, 24, 8.0, "adam")
    assert cfg.DATASET.VIDEOS_PER_EPOCH * cfg.TRAIN.EPOCH // cfg.TRAIN.NUM_SEQ == 25000
    multipliers = slt_train.epoch_multipliers(cfg.TRAIN.EPOCH)
    np.testing.assert_allclose(multipliers, np.logspace(np.log10(0.005), np.log10(0.0005), 20) / 0.005)
    torch.manual_seed(0)
    model = SLTModelBuilder()
    actor = SLTSiamRPNActor(SLTSiamRPNTracker(model))  # checks TRAIN.OUTPUT_SIZE against the tracker's score size
    assert actor.score_size == 25
    optimizer = slt_train.build_optimizer(model)
    lrs = {group["name"]: group["lr"] for group in optimizer.param_groups}
    assert lrs == pytest.approx({"backbone": 1e-6, "neck": 1e-5, "rpn_head": 1e-5})
    trainable = {name.split(".")[1] for name, p in model.backbone.named_parameters(prefix="b") if p.requires_grad}
    assert trainable == {"layer2", "layer3", "layer4"}
    scheduler = slt_train.build_scheduler(optimizer, steps_per_epoch=2, epochs=cfg.TRAIN.EPOCH)
    seen = []
    for _ in range(5):
        seen.append(optimizer.param_groups[2]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([1e-5, 1e-5, 1e-5 * multipliers[1], 1e-5 * multipliers[1], 1e-5 * multipliers[2]])


def test_one_slt_iteration_on_cpu_updates_parameters_writes_a_checkpoint_and_resumes(
    pysot_cfg, got10k_root, tmp_path, caplog
):
    """Acceptance 2: N=2, T=4, synthetic GOT-10k; a second run with one more epoch resumes at step 1."""
    snapshots = tmp_path / "snap"
    first = derived_config(tmp_path / "one.yaml", TRAIN__EPOCH=1, TRAIN__SNAPSHOT_DIR=str(snapshots),
                           DATASET__VIDEOS_PER_EPOCH=2, SLT__DATASET={"NAMES": ["GOT10K"],
                                                                      "GOT10K": {"ROOT": str(got10k_root)}})
    caplog.set_level("INFO")
    assert slt_train.main(["--cfg", str(first), "--seed", "3", "--device", "cpu"]) == 0
    checkpoints = snapshots / "slt" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["slt_00000001.pth"]
    state = torch.load(checkpoints / "slt_00000001.pth", weights_only=True)
    assert state["step"] == 1 and np.isfinite(state["history"][0]["loss"])
    snapshot = torch.load(snapshots / "checkpoint_e1.pth", weights_only=True)
    assert snapshot["epoch"] == 1 and set(snapshot) == {"epoch", "state_dict", "optimizer"}
    torch.manual_seed(3)
    initial = SLTModelBuilder().state_dict()
    changed = [k for k, v in snapshot["state_dict"].items() if not torch.equal(v, initial[k])]
    assert any(k.startswith("rpn_head.") for k in changed)
    assert not any(k.startswith("backbone.") for k in changed)  # frozen: RL_TRAIN_BACKBONE False

    longer = derived_config(tmp_path / "two.yaml", base=first, TRAIN__EPOCH=2)
    with pytest.raises(ScheduleChanged, match=r"snap/slt .*TRAIN\.EPOCH: 1 there, 2 now"):
        slt_train.main(["--cfg", str(longer), "--seed", "3", "--device", "cpu"])  # another LR schedule: refused

    two = tmp_path / "snap2"
    second = derived_config(tmp_path / "two_fresh.yaml", base=first, TRAIN__EPOCH=2, TRAIN__SNAPSHOT_DIR=str(two))
    assert slt_train.main(["--cfg", str(second), "--seed", "3", "--device", "cpu"]) == 0
    (two / "slt" / "checkpoints" / "slt_00000002.pth").unlink()  # as if killed during the second step
    caplog.clear()
    assert slt_train.main(["--cfg", str(second), "--seed", "3", "--device", "cpu"]) == 0
    assert "at step 1" in caplog.text
    state = torch.load(two / "slt" / "checkpoints" / "slt_00000002.pth", weights_only=True)
    assert state["step"] == 2 and len(state["history"]) == 2
    assert (two / "checkpoint_e2.pth").is_file()


def test_one_retention_rule_prunes_pysot_snapshots_and_resumable_checkpoints_alike(pysot_cfg, got10k_root, tmp_path):
    """SLT.KEEP_CHECKPOINTS 2 over 3 one-step epochs: the newest 2 of each kind remain (the issue: PySOT snapshots
    were never pruned)."""
    snapshots = tmp_path / "snap"
    config = derived_config(tmp_path / "three.yaml", TRAIN__SNAPSHOT_DIR=str(snapshots), DATASET__VIDEOS_PER_EPOCH=2,
                            SLT__DATASET={"NAMES": ["GOT10K"], "GOT10K": {"ROOT": str(got10k_root)}})
    assert slt_train.main(["--cfg", str(config), "--seed", "3", "--device", "cpu", "--opts", "TRAIN.EPOCH", "3",
                           "SLT.KEEP_CHECKPOINTS", "2"]) == 0
    assert sorted(p.name for p in snapshots.glob("checkpoint_e*.pth")) == ["checkpoint_e2.pth", "checkpoint_e3.pth"]
    assert sorted(p.name for p in (snapshots / "slt" / "checkpoints").iterdir()) == ["slt_00000002.pth",
                                                                                      "slt_00000003.pth"]


def test_several_samples_per_clip_train_with_the_mean_of_samples_baseline(pysot_cfg, got10k_root, tmp_path, caplog):
    """``SLT.SAMPLES: 2`` reaches ``explore``: the leave-one-out baseline needs two sampled trajectories per clip
    and fails with ``SLT.SAMPLES: 1``, naming the key, before anything is built."""
    snapshots = tmp_path / "snap"
    keys = dict(TRAIN__EPOCH=1, TRAIN__SNAPSHOT_DIR=str(snapshots), DATASET__VIDEOS_PER_EPOCH=2,
                SLT__BASELINE="mean_of_samples",
                SLT__DATASET={"NAMES": ["GOT10K"], "GOT10K": {"ROOT": str(got10k_root)}})
    with pytest.raises(ValueError, match="SLT.SAMPLES >= 2"):
        slt_train.main(["--cfg", str(derived_config(tmp_path / "one.yaml", **keys)), "--device", "cpu"])
    caplog.set_level("INFO")
    config = derived_config(tmp_path / "two.yaml", SLT__SAMPLES=2, **keys)
    assert slt_train.main(["--cfg", str(config), "--seed", "5", "--device", "cpu"]) == 0
    assert "2 sampled trajectories per clip" in caplog.text
    state = torch.load(snapshots / "slt" / "checkpoints" / "slt_00000001.pth", weights_only=True)
    history = state["history"][0]
    assert np.isfinite(history["loss"]) and history["skipped"] == 0
    assert history["reward"] == pytest.approx(0.0, abs=1e-6)  # leave-one-out advantages of S = 2 cancel out


@pytest.mark.slow
def test_torchrun_two_ranks_train_and_only_rank_zero_writes(got10k_root, tmp_path):
    """Issue 'speed and scale': ``torchrun --nproc_per_node=2 -m slt_pysot.train`` (gloo on the CPU)."""
    snapshots = tmp_path / "snap"
    config = derived_config(tmp_path / "ddp.yaml", TRAIN__EPOCH=1, TRAIN__SNAPSHOT_DIR=str(snapshots),
                            DATASET__VIDEOS_PER_EPOCH=4, SLT__DATASET={"NAMES": ["GOT10K"],
                                                                       "GOT10K": {"ROOT": str(got10k_root)}})
    out = run_python(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "slt_pysot.train",
                      "--cfg", str(config), "--device", "cpu"], cwd=tmp_path, pysot_root=ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "rank 1 of 2" in out.stderr and "rank 0 of 2" in out.stderr
    state = torch.load(snapshots / "slt" / "checkpoints" / "slt_00000002.pth", weights_only=True)
    assert state["step"] == 2 and all(np.isfinite(h["loss"]) for h in state["history"])
    assert sorted(p.name for p in snapshots.glob("checkpoint_e*.pth")) == ["checkpoint_e1.pth"]


@pytest.fixture(scope="module")
def host_run(tmp_path_factory, got10k_root):
    """Acceptances 3 and 4 in one pass over a copy of the tree: patch, ``tools/train.py``, ``tools/test.py``,
    revert. Returns the outcomes; the tests below check them one by one."""
    work = tmp_path_factory.mktemp("host")
    tree = work / "pysot"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns("__pycache__"))
    patching.revert("pysot", tree)  # in case PYSOT_ROOT itself was patched
    if not list((tree / "toolkit" / "utils").glob("region*.so")):
        build = run_python(["setup.py", "build_ext", "--inplace"], tree, tree)
        assert build.returncode == 0, build.stderr[-3000:]
    out = {"tree": tree, "before": tree_digest(tree), "applied": patching.apply("pysot", tree),
           "check": run_slt_cli(["patch-host", "pysot", str(tree), "--check"], work)}
    snapshots = work / "snapshot"
    config = derived_config(work / "slt_alex.yaml", TRAIN__SNAPSHOT_DIR=str(snapshots),
                            DATASET__VIDEOS_PER_EPOCH=2,
                            SLT__DATASET={"NAMES": ["GOT10K"], "GOT10K": {"ROOT": str(got10k_root)}})
    out["snapshots"] = snapshots
    out["train"] = run_python([str(tree / "tools" / "train.py"), "--cfg", str(config)], work, tree)
    lasot = write_dataset(work / "lasot", "lasot", num_videos=2, num_frames=12, seed=5,
                          config=SyntheticConfig(height=128, width=128), progress=False)
    write_toolkit_json(lasot, "lasot", "LaSOT", tree / "testing_dataset" / "LaSOT")
    out["results"] = work / "results" / "LaSOT" / "slt_alex_checkpoint_e2"  # <experiment>_<snapshot>
    if out["train"].returncode == 0:
        test = [str(tree / "tools" / "test.py"), "--dataset", "LaSOT", "--config", str(config), "--snapshot",
                str(snapshots / "checkpoint_e2.pth")]
        out["test"] = run_python(test, work, tree)
        out["retest"] = run_python(test, work, tree)
        out["scores"] = run_slt_cli(["evaluate", "--data", str(lasot), "--layout", "lasot", "--results",
                                     str(out["results"])], work)
    shutil.rmtree(tree / "testing_dataset" / "LaSOT")
    out["reverted"] = patching.revert("pysot", tree)
    out["after"] = tree_digest(tree)
    return out


@pytest.mark.slow
def test_patch_host_applies_our_patches_to_the_real_tree(host_run):
    assert host_run["applied"] == ["10-train-slt-hook.patch", "20-test-cpu.patch"]
    check = host_run["check"]
    assert check.returncode == 0, check.stdout + check.stderr
    assert [line.split() for line in check.stdout.splitlines()] == [["applied", "10-train-slt-hook.patch"],
                                                                     ["applied", "20-test-cpu.patch"]]


@pytest.mark.slow
def test_pysot_tools_train_py_runs_slt_to_completion_on_cpu(host_run):
    """Acceptance 3: PySOT's own entry point hands over to slt_pysot before dist_init() and finishes."""
    train = host_run["train"]
    assert train.returncode == 0, train.stderr[-4000:]
    snapshots = host_run["snapshots"]
    assert sorted(p.name for p in snapshots.glob("checkpoint_e*.pth")) == ["checkpoint_e1.pth", "checkpoint_e2.pth"]
    assert sorted(p.name for p in (snapshots / "slt" / "checkpoints").iterdir()) == ["slt_00000001.pth",
                                                                                      "slt_00000002.pth"]
    assert "step 2/2" in train.stderr


@pytest.mark.slow
def test_pysot_tools_test_py_tracks_synthetic_videos_with_the_trained_snapshot(host_run):
    """Acceptance 4: ``tools/test.py --dataset LaSOT`` on the converted synthetic videos, on CPU."""
    test = host_run.get("test")
    assert test is not None and test.returncode == 0, (test.stderr[-4000:] if test else "test.py did not run")
    results = sorted(host_run["results"].glob("*.txt"))
    assert len(results) == 2
    for result in results:
        rows = [line.split(",") for line in result.read_text().splitlines()]
        assert len(rows) == 12 and all(len(row) == 4 for row in rows)
        assert np.isfinite(np.asarray(rows, dtype=float)).all()


@pytest.mark.slow
def test_results_are_named_after_the_experiment_reuse_is_announced_and_slt_evaluate_scores_them(host_run):
    retest = host_run.get("retest")
    assert retest is not None and retest.returncode == 0, retest.stderr[-3000:] if retest else "no rerun"
    assert "results/LaSOT/slt_alex_checkpoint_e2 already holds results of slt_alex_checkpoint_e2" in retest.stderr
    scores = host_run["scores"]
    assert scores.returncode == 0, scores.stderr[-3000:]
    header, row = scores.stdout.splitlines()
    assert header.split()[:3] == ["results", "lasot", "auc"] and row.split()[-1] == "2"
    assert all(0.0 <= float(value) <= 100.0 for value in row.split()[1:-1])


@pytest.mark.slow
def test_revert_leaves_the_tree_byte_identical(host_run):
    assert host_run["reverted"] == ["20-test-cpu.patch", "10-train-slt-hook.patch"]
    assert host_run["after"] == host_run["before"]


def test_unknown_cfg_key_fails_with_yacs_error_naming_it(pysot_cfg, tmp_path):
    for key in ("SLT__CHUNK_SIZ", "TRAIN__NUM_SEQS", "DATASET__SEQUENCE__SHIFT"):
        path = derived_config(tmp_path / "bad.yaml", **{key: 1})
        with pytest.raises(KeyError, match=f"Non-existent config key: {key.replace('__', '.')}"):
            slt_train.main(["--cfg", str(path), "--device", "cpu"])


def test_missing_dataset_root_fails_naming_the_cfg_key_and_the_path(pysot_cfg, tmp_path):
    missing = tmp_path / "no_such_got10k"
    path = derived_config(tmp_path / "cfg.yaml", SLT__DATASET={"NAMES": ["GOT10K"], "GOT10K": {"ROOT": str(missing)}})
    with pytest.raises(FileNotFoundError, match="SLT.DATASET.GOT10K.ROOT") as error:
        slt_train.main(["--cfg", str(path), "--device", "cpu"])
    assert str(missing) in str(error.value)


def test_missing_pretrained_weights_given_with_opts_name_the_cfg_key(pysot_cfg, got10k_root, tmp_path):
    from slt.checkpoint import CheckpointError

    missing = tmp_path / "model.pth"
    path = derived_config(tmp_path / "cfg.yaml",
                          SLT__DATASET={"NAMES": ["GOT10K"], "GOT10K": {"ROOT": str(got10k_root)}})
    with pytest.raises(CheckpointError, match=f"TRAIN.PRETRAINED = '{missing}': no such file; set TRAIN.PRETRAINED"):
        slt_train.main(["--cfg", str(path), "--device", "cpu", "--opts", "TRAIN.PRETRAINED", str(missing)])


def test_patch_host_refuses_a_tree_without_pysot_and_changes_nothing(tmp_path):
    tree = tmp_path / "not_pysot"
    shutil.copytree(ROOT / "tools", tree / "tools")
    (tree / "README.md").write_text("a tools/ folder, but no pysot package\n")
    before = tree_digest(tree)
    run = run_slt_cli(["patch-host", "pysot", str(tree)], tmp_path)
    assert run.returncode == 1
    assert "does not look like a STVIR/pysot checkout" in run.stderr and "pysot/core/config.py" in run.stderr
    assert tree_digest(tree) == before
