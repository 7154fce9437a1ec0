"""slt_pysot's SLT-SiamAttn against a real SiamAttn checkout (``SIAMATTN_ROOT``), on CPU with random weights.

The checkout is copied to a temporary folder and patched there (``slt patch-host siamattn``); the user's tree is
never written. SiamAttn's deformable ops run through :mod:`slt_pysot.deform_ops` (its CUDA extension is not
built). The network is heavy (140 M parameters): clips are N = 2, T = 3.
"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

SIAMATTN_ROOT = os.environ.get("SIAMATTN_ROOT")
if not SIAMATTN_ROOT:
    pytest.skip("SIAMATTN_ROOT not set: point it at a msight-tech/research-siamattn checkout to run the SiamAttn "
                "host tests", allow_module_level=True)
pytest.importorskip("yacs", reason="yacs is missing: run the SiamAttn host tests in the host's environment")
pytest.importorskip("torchvision", reason="torchvision is missing: SiamAttn's model builder imports it")
SOURCE = Path(SIAMATTN_ROOT).resolve()
if not (SOURCE / "pysot" / "models" / "head" / "dcn" / "deform_pool.py").is_file():
    pytest.skip(f"SIAMATTN_ROOT={SOURCE} holds no pysot/models/head/dcn/deform_pool.py", allow_module_level=True)

from slt import patching  # noqa: E402

WORK = Path(tempfile.mkdtemp(prefix="slt-siamattn-"))
atexit.register(shutil.rmtree, WORK, True)
ROOT = WORK / "siamattn"
shutil.copytree(SOURCE, ROOT, ignore=shutil.ignore_patterns("*.pyc", "__pycache__"))
patching.apply("siamattn", ROOT)
sys.path.insert(0, str(ROOT))
sys.dont_write_bytecode = True

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import slt_pysot.siamattn as siamattn  # noqa: E402  (installs the deformable ops before the models import)
from pysot.core.config import cfg  # noqa: E402
from pysot.models.model_builder import ModelBuilder  # noqa: E402
from pysot.tracker.siammask_tracker import SiamMaskTracker  # noqa: E402
from pysot.tracker.tracker_builder import TRACKS  # noqa: E402

from slt.data.synthetic import SyntheticConfig, generate_video  # noqa: E402
from slt_pysot.config import register_slt_cfg  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "experiments" / "slt_siamattn" / "config.yaml"
pytestmark = pytest.mark.host
PRISTINE = register_slt_cfg(cfg).clone()


def use_config() -> None:
    """SiamAttn's global cfg back to its defaults plus SLT's keys, the SLT-SiamAttn config merged, on CPU."""
    cfg.clear()
    cfg.update(PRISTINE.clone())
    cfg.merge_from_file(str(CONFIG))
    cfg.CUDA = False


@pytest.fixture(autouse=True)
def siamattn_cfg():
    """The merged config and one thread for every test; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    use_config()
    yield cfg
    cfg.clear()
    cfg.update(PRISTINE.clone())
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    """One random-weight SiamAttn network for the module (building it takes seconds)."""
    use_config()
    torch.manual_seed(0)
    return calibrated(ModelBuilder())


def calibrated(model: torch.nn.Module) -> torch.nn.Module:
    """Random weights with BatchNorm statistics of synthetic frames, in eval mode: identity statistics let a
    random ResNet-50 blow 0-255 inputs up to 1e7 (non-finite anchor boxes); these keep outputs near 1."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    frames, _ = clips(2, 2)

    def batch(size: int) -> torch.Tensor:
        images = [cv2.resize(f[1], (size, size)) for f in frames]
        return torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).astype(np.float32))

    model.train()
    with torch.no_grad():
        model.template(batch(127))
        model.track(batch(255))
    return model.eval()


def clips(num: int, frames: int) -> tuple[list[np.ndarray], np.ndarray]:
    """``num`` synthetic videos as BGR frame stacks and their float32 xywh boxes."""
    videos = [generate_video(k, SyntheticConfig(height=144, width=176, num_frames=frames)) for k in range(num)]
    return [np.ascontiguousarray(v.frames[..., ::-1]) for v in videos], np.stack([v.boxes for v in videos])


def box_masks(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(T, H, W) uint8 0/1 masks filling each frame's xywh box (rounded to whole pixels)."""
    masks = np.zeros(frames.shape[:3], np.uint8)
    for mask, (x, y, w, h) in zip(masks, np.round(boxes).astype(int)):
        mask[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = 1
    return masks


MASK_HEAD = "mask_head."
TRAINED = ("rpn_head.", "feature_enhance.", "bbox_head.tail_det_box", MASK_HEAD, "backbone.layer4")


@pytest.fixture(scope="module")
def masked_rollout(model):
    """One exploration (N = 2 clips of T = 3 frames with box-shaped masks, greedy + sampled) of a copy of the
    network: ``(net, actor, rollout, seconds)``."""
    import time

    from slt.rollout import explore
    from slt_pysot.siamattn_actor import SLTSiamAttnActor

    use_config()
    net = copy.deepcopy(model)
    frames, boxes = clips(2, 3)
    batch = {"template_images": [f[0] for f in frames], "template_annos": [b[0] for b in boxes],
             "search_images": [f for f in frames], "search_annos": [b for b in boxes],
             "search_masks": [box_masks(f, b) for f, b in zip(frames, boxes)], "key": [(0, 0, 0), (0, 0, 1)]}
    tracker = siamattn.SLTSiamAttnTracker(net)
    actor = SLTSiamAttnActor(tracker, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    rollout = explore(tracker, batch)
    return net, actor, rollout, time.perf_counter() - start


def test_patched_tree_uses_the_pytorch_deformable_ops_and_registers_the_tracker():
    import pysot.models.head.dcn.deform_pool as deform_pool

    assert getattr(deform_pool.deform_roi_pooling, "slt_deform_ops", False)
    assert TRACKS["SLTSiamAttnTracker"] is siamattn.SLTSiamAttnTracker
    assert patching.status("siamattn", ROOT)


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_greedy_rows_reproduce_the_stock_siamattn_tracker_with_box_refinement(model, record_property):
    """Acceptance 2a: greedy rows (of a greedy + sampled batch) against SiamAttn's own ``SiamMaskTracker.track``
    (box refinement included; its mask branch does not move the box). Both run with oneDNN off (its convolutions
    round differently per batch size) and the 'host' crops (PySOT's ``get_subwindow``); what remains is float32
    network rounding between batch 4 and batch 1 and the float64 vs mixed NumPy box maths."""
    num, steps = 2, 2
    frames, boxes = clips(num, steps + 1)
    first = torch.from_numpy(boxes[:, 0].astype(np.float32))
    batched = siamattn.SLTSiamAttnTracker(model, crop="host")
    stock = SiamMaskTracker(copy.deepcopy(model))
    greedy, actions, stock_boxes = [], [], np.zeros((num, steps, 4))
    with torch.inference_mode(), torch.backends.mkldnn.flags(enabled=False):
        batched.batch_init([f[0] for f in frames], first, first, copies=2)
        for t in range(1, steps + 1):
            step = batched.batch_track([f[t] for f in frames], "half", torch.Generator().manual_seed(t))
            greedy.append(step.boxes[:num].double().numpy())
            actions.append(step.actions)
        for i in range(num):
            stock.init(frames[i][0], [float(v) for v in first[i]])
            for t in range(1, steps + 1):
                stock_boxes[i, t - 1] = stock.track(frames[i][t])["bbox"]
    error = np.abs(np.stack(greedy, axis=1) - stock_boxes).max()
    record_property("greedy_max_error_px", float(error))
    assert error < 1e-4
    assert torch.isfinite(torch.stack(actions)).all()


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_one_slt_iteration_gives_a_finite_loss_and_trains_the_rpn_attention_refinement_and_mask_heads(
        masked_rollout, record_property):
    """Acceptance 2b: one Adam step through the actor on the 4 recorded samples of the masked rollout: every
    term finite, the mask term (0.2 x OHEM BCE) positive, and the RPN, attention, box and mask heads and layer4
    changed. BatchNorm stays in eval mode (its statistics are the calibration's)."""
    import time

    from slt.update import UpdateConfig, slt_update

    net, actor, rollout, explore_seconds = masked_rollout
    assert rollout.masks is not None and bool(rollout.has_mask.all())
    assert int(rollout.masks.sum()) > 0
    watched = {name: p.detach().clone() for name, p in net.named_parameters() if name.startswith(TRAINED)}
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    start = time.perf_counter()
    stats = slt_update(actor, net.parameters(), optimizer, rollout, UpdateConfig(chunk_size=96, grad_clip=10.0))
    record_property("slt_step_seconds", explore_seconds + time.perf_counter() - start)
    record_property("stats", stats)
    assert stats["skipped"] == 0 and np.isfinite(stats["loss"]) and stats["loss_box"] > 0
    assert np.isfinite(stats["loss_mask"]) and stats["loss_mask"] > 0
    assert np.isfinite(stats["grad_norm"]) and stats["grad_norm"] > 0
    changed = {name for name, p in net.named_parameters() if name in watched and not torch.equal(p, watched[name])}
    for prefix in TRAINED:
        assert any(name.startswith(prefix) for name in changed), prefix


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_samples_without_masks_give_the_mask_head_no_gradient(masked_rollout):
    """Samples of the same rollout as from clips without masks (what explore records then): no mask term, and the
    mask head is not run (its gradients stay None, so Adam's weight decay does not move it either), while the
    box head still trains."""
    import dataclasses

    net, actor, rollout, _ = masked_rollout
    plain = dataclasses.replace(rollout, masks=None, has_mask=None)
    samples = next(plain.samples(torch.ones(1, 2)).chunks(2))  # frame 1 of both clips: half the cost
    net.zero_grad(set_to_none=True)
    loss, stats = actor(samples)
    loss.backward()
    assert np.isfinite(stats["loss"]) and stats["loss_mask"] == 0.0 and stats["loss_box"] > 0
    assert all(p.grad is None for name, p in net.named_parameters() if name.startswith(MASK_HEAD))
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0)
               for name, p in net.named_parameters() if name.startswith("bbox_head."))
    net.zero_grad(set_to_none=True)


def test_ohem_bce_equals_siamattn_mask_loss_bce():
    """slt.mask_loss.ohem_bce is SiamAttn's own ``mask_loss_bce`` (OHEM on, every image weighted 1): (B, R, 64,
    64) logits against 0/1 targets, hardest 70 % of all pixels."""
    from pysot.models.loss import mask_loss_bce

    from slt.mask_loss import ohem_bce

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 64, 64, generator=generator, dtype=torch.float64) * 3
    targets = (torch.rand(3, 4, 64, 64, generator=generator) > 0.6).double()
    theirs = mask_loss_bce(logits, targets, torch.ones(3), ohem=True)[0]
    assert ohem_bce(logits, targets).item() == pytest.approx(theirs.item(), rel=1e-12)


def test_mask_targets_are_the_roi_pixels_of_the_crop_mask():
    """The patched tree's ``build_mask_target`` on the CPU: a RoI's target is its pixels of the crop's mask,
    nearest-resized to MASK.MASK_OUTSIZE (a RoI on the mask's left half gives a left-half target)."""
    from pysot.utils.mask_target_builder import build_mask_target

    mask = np.zeros((1, 1, 255, 255), np.float32)  # (B, 1, S, S), as the tree's frame-level training passes it
    mask[0, 0, 100:164, 100:132] = 1  # left half of the RoI below
    boxes = np.array([[[100.0, 100.0, 163.0, 163.0]]], np.float32)
    targets, _ = build_mask_target(boxes, mask, np.ones((1, 1)), cfg.MASK.MASK_OUTSIZE, device="cpu")
    assert targets.shape == (1, 1, 64, 64) and targets.device.type == "cpu"
    assert targets[0, 0, :, :32].min() == 1 and targets[0, 0, :, 32:].max() == 0


def test_config_reaches_the_tracker_actor_optimizer_and_update():
    """The keys of experiments/slt_siamattn (the official SLT-SiamAttn recipe) reach what the training loop
    builds: the tracker's policy (penalty_k 0.10, window 0.25, temperature 8, eps 0.01, 3125 anchors, size lr
    0.45), the actor's weights (1.0 / 0.5 / 0.5 / 0.2 read from the cfg), Adam at 1e-5 on every head (mask head
    included) and 5e-7 on the backbone, weight decay 1e-4, the log schedule x1 -> x0.1 over 20 epochs, clip 10,
    chunks of 96, N 12, T 24."""
    from slt_pysot.siamattn_actor import SLTSiamAttnActor
    from slt_pysot.siamattn_train import HEADS
    from slt_pysot.train import build_optimizer, epoch_multipliers

    use_config()
    torch.manual_seed(0)
    net = ModelBuilder().eval()
    tracker = siamattn.SLTSiamAttnTracker(net)
    actor = SLTSiamAttnActor(tracker)
    shaping = tracker.shaping
    assert (shaping.window_influence, shaping.temperature, shaping.sig_eps) == (0.25, 8.0, 0.01)
    assert shaping.window.numel() == 3125 and tracker.anchors_t.shape[0] == 3125
    assert tracker.rules.penalty_k == pytest.approx(0.10) and tracker.rules.size_lr == pytest.approx(0.45)
    assert actor.shaping is shaping and actor.model is net
    assert (cfg.TRAIN.CLS_WEIGHT, cfg.TRAIN.LOC_WEIGHT, cfg.TRAIN.BBOX_WEIGHT, cfg.TRAIN.MASK_WEIGHT) == \
        (1.0, 0.5, 0.5, 0.2)
    optimizer = build_optimizer(net, HEADS)
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["weight_decay"] == 1e-4
    lrs = {group["name"]: group["lr"] for group in optimizer.param_groups}
    assert lrs == {"backbone": pytest.approx(5e-7), "neck": 1e-5, "rpn_head": 1e-5, "feature_enhance": 1e-5,
                   "feature_fusion": 1e-5, "bbox_head": 1e-5, "mask_head": 1e-5}
    assert (cfg.TRAIN.GRAD_CLIP, cfg.SLT.CHUNK_SIZE, cfg.TRAIN.NUM_SEQ, cfg.TRAIN.NUM_FRAMES) == (10.0, 96, 12, 24)
    multipliers = epoch_multipliers(cfg.TRAIN.EPOCH)
    assert len(multipliers) == 20 and multipliers[0] == pytest.approx(1.0) and multipliers[-1] == pytest.approx(0.1)


def test_config_merges_with_the_slt_siamattn_recipe():
    """experiments/slt_siamattn loads in the tree (yacs refuses unknown keys) with the official recipe."""
    assert (cfg.TRACK.TYPE, cfg.TRACK.PENALTY_K, cfg.TRACK.WINDOW_INFLUENCE) == ("SLTSiamAttnTracker", 0.10, 0.25)
    assert (cfg.TRAIN.TEMP, cfg.TRAIN.SIG_EPS, cfg.TRAIN.NUM_SEQ, cfg.TRAIN.NUM_FRAMES) == (8.0, 0.01, 12, 24)
    assert (cfg.TRAIN.CLS_WEIGHT, cfg.TRAIN.LOC_WEIGHT, cfg.TRAIN.BBOX_WEIGHT, cfg.TRAIN.MASK_WEIGHT) == \
        (1.0, 0.5, 0.5, 0.2)
    assert (cfg.TRAIN.OPTIM, cfg.TRAIN.BASE_LR, cfg.TRAIN.GRAD_CLIP, cfg.SLT.CHUNK_SIZE) == ("adam", 1e-5, 10.0, 96)
    assert cfg.ANCHOR.ANCHOR_NUM * cfg.TRAIN.OUTPUT_SIZE ** 2 == 3125


def write_mask_data(root: Path) -> tuple[Path, Path, Path]:
    """A YouTube-VOS split (2 videos x 4 frames, palette-PNG masks of the target's box) and a COCO-style folder
    (2 images with polygon masks) from synthetic videos -> ``(vos root, coco images, coco json)``."""
    import json

    from PIL import Image

    from slt.data import write_jpeg

    vos, images = root / "ytbvos", root / "coco"
    meta, coco = {}, {"images": [], "annotations": [], "categories": [{"id": 1, "name": "thing"}]}
    images.mkdir(parents=True)
    for k in range(2):
        video = generate_video(k, SyntheticConfig(height=128, width=128, num_frames=4))
        names = [f"{5 * t:05d}" for t in range(4)]
        (vos / "JPEGImages" / f"v{k}").mkdir(parents=True)
        (vos / "Annotations" / f"v{k}").mkdir(parents=True)
        for t, name in enumerate(names):
            write_jpeg(vos / "JPEGImages" / f"v{k}" / f"{name}.jpg", video.frames[t])
            x, y, w, h = (int(round(v)) for v in video.boxes[t])
            ids = np.zeros((128, 128), np.uint8)
            ids[max(y, 0):y + h, max(x, 0):x + w] = 1
            png = Image.fromarray(ids, mode="P")
            png.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
            png.save(vos / "Annotations" / f"v{k}" / f"{name}.png")
        meta[f"v{k}"] = {"objects": {"1": {"category": "thing", "frames": names}}}
        write_jpeg(images / f"{k}.jpg", video.frames[0])
        x, y, w, h = (float(v) for v in video.boxes[0])
        coco["images"].append({"id": k, "file_name": f"{k}.jpg", "width": 128, "height": 128})
        coco["annotations"].append({"id": k, "image_id": k, "category_id": 1, "bbox": [x, y, w, h], "iscrowd": 0,
                                    "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]})
    (vos / "meta.json").write_text(json.dumps({"videos": meta}))
    (root / "instances.json").write_text(json.dumps(coco))
    return vos, images, root / "instances.json"


@pytest.mark.slow
def test_tools_train_py_runs_one_short_slt_epoch_on_cpu(model, tmp_path):
    """Acceptance 2c: SiamAttn's own tools/train.py, patched, hands the SLT config over to slt_pysot's loop: one
    epoch of one step (N = 2, T = 3) on YouTube-VOS and COCO-style data (images and masks) the test writes, with
    the spatial sequence augmentation on, from a snapshot of the calibrated random weights (uncalibrated ones
    overflow); the mask term is active (its loss is logged > 0); a PySOT-format snapshot at the epoch's end."""
    import subprocess

    import yaml

    vos, images, annotations = write_mask_data(tmp_path / "data")
    weights = tmp_path / "calibrated.pth"
    torch.save({"state_dict": model.state_dict()}, weights)
    config = yaml.safe_load(CONFIG.read_text())
    config["TRAIN"].update(EPOCH=1, NUM_SEQ=2, NUM_FRAMES=3, NUM_WORKERS=0, PRINT_FREQ=1,
                           PRETRAINED=str(weights), SNAPSHOT_DIR=str(tmp_path / "snap"))
    config["DATASET"]["VIDEOS_PER_EPOCH"] = 2
    config["SLT"].update(DEVICE="cpu", DATASET={
        "NAMES": ["COCO", "YTBVOS"], "MIX": "prob", "MIN_VISIBLE": 1,
        "COCO": {"ROOT": str(images), "ANNOTATION": str(annotations)}, "YTBVOS": {"ROOT": str(vos)}})
    derived = tmp_path / "config.yaml"
    derived.write_text(yaml.safe_dump(config, sort_keys=False))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(REPO)]), PYTHONDONTWRITEBYTECODE="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "tools/train.py", "--cfg", str(derived)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "snap" / "checkpoint_e1.pth").is_file()
    assert "step 1/1" in done.stderr
    import re

    loss_mask = re.search(r"step 1/1 .*loss_mask ([-0-9.naninf]+)", done.stderr)
    assert loss_mask and float(loss_mask.group(1)) > 0, done.stderr[-2000:]  # the masks reached the mask head
