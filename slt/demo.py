"""``slt demo``: frame-level training, then SLT fine-tuning, on synthetic videos, with a before/after table.

Steps: make (or reuse) synthetic GOT-10k-layout training and held-out videos -> pre-train the reference
SiamRPN frame by frame (FLT) -> evaluate -> fine-tune it with SLT from the FLT weights -> evaluate again ->
table, success plot, training curves, TensorBoard scalars under ``--out``. Every stage checkpoints; running
the demo again with the same ``--out`` and ``--seed`` resumes or reuses what is done.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slt.data.got10k import Got10k
from slt.data.synthetic import SyntheticConfig, is_written_dataset, write_dataset
from slt.evaluation import evaluate_dataset
from slt.metrics import iou_xywh
from slt.plots import success_plot, training_curves
from slt.reference.tracker import ReferenceTracker
from slt.reference.train import FLTRecipe, RunOptions, SLTRecipe, build_model, run_flt, run_slt
from slt.sampling import SequenceSampler, list_collate

logger = logging.getLogger(__name__)

METRICS = (("auc", "AUC"), ("precision", "Prec@20"), ("norm_precision", "NormPrec"), ("ao", "AO"),
           ("sr50", "SR0.5"), ("sr75", "SR0.75"))
PROTOCOL_OF = {"auc": "lasot", "precision": "lasot", "norm_precision": "lasot", "ao": "got10k", "sr50": "got10k",
               "sr75": "got10k"}
"""Protocol (:data:`slt.metrics.PROTOCOLS`) each demo metric is computed under."""


@dataclass(frozen=True)
class DataSpec:
    """A synthetic dataset: ``videos`` videos of ``frames`` frames of ``size`` pixels from ``seed``."""

    videos: int
    frames: int
    seed: int
    size: int = 160


@dataclass(frozen=True)
class DemoPlan:
    """What the demo trains and evaluates on, and for how long."""

    train: DataSpec
    test: DataSpec
    val: DataSpec
    flt: FLTRecipe
    slt: SLTRecipe
    eval_batch: int = 25
    val_frames: int = 32


FULL = DemoPlan(
    train=DataSpec(videos=160, frames=100, seed=1),
    test=DataSpec(videos=100, frames=100, seed=2),
    val=DataSpec(videos=24, frames=100, seed=3),
    flt=FLTRecipe(steps=1500, batch_size=32),
    slt=SLTRecipe(steps=200, num_seq=8, num_frames=16),
)
QUICK = DemoPlan(
    train=DataSpec(videos=16, frames=48, seed=1),
    test=DataSpec(videos=8, frames=40, seed=2),
    val=DataSpec(videos=4, frames=40, seed=3),
    flt=FLTRecipe(steps=60, batch_size=16),
    slt=SLTRecipe(steps=8, num_seq=4, num_frames=8, val_every=4),
    val_frames=16,
    eval_batch=8,
)


@dataclass
class DemoOptions:
    out: Path = Path("slt_out")
    seed: int = 0
    device: str = "cpu"
    quick: bool = False
    progress: bool = True
    plan: DemoPlan | None = field(default=None)

    def resolved_plan(self) -> DemoPlan:
        return self.plan or (QUICK if self.quick else FULL)


@dataclass
class DemoResult:
    """Metrics per model (``"FLT"``, ``"SLT"``), the SLT history and the files written."""

    metrics: dict[str, dict[str, float]]
    history: list[dict[str, float]]
    files: dict[str, Path]

    def table(self) -> str:
        header = f"{'model':<6}" + "".join(f"{label:>10}" for _, label in METRICS)
        rows = ["AUC, Prec@20, NormPrec: LaSOT protocol; AO, SR0.5, SR0.75: GOT-10k protocol", header,
                "-" * len(header)]
        for name, values in self.metrics.items():
            rows.append(f"{name:<6}" + "".join(f"{values[key]:>10.1f}" for key, _ in METRICS))
        flt, slt = self.metrics.get("FLT"), self.metrics.get("SLT")
        if flt and slt:
            rows.append(f"{'gain':<6}" + "".join(f"{slt[key] - flt[key]:>+10.1f}" for key, _ in METRICS))
        return "\n".join(rows)


def check_writable(folder: Path) -> None:
    """Create ``folder`` and prove it writable, or raise ``PermissionError``/``OSError`` naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".slt_write_probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise type(error)(f"--out {folder} is not writable: {error}") from error


def synthetic_dataset(folder: Path, spec: DataSpec, progress: bool = True) -> Got10k:
    """The GOT-10k-layout dataset of ``spec`` in ``folder``, generated unless a valid copy is cached there.

    A cache is reused when its ``slt_synthetic.json`` records the same parameters and every video is complete
    (ground truth and all frame files present). Otherwise -- a different spec, an interrupted write, a deleted
    or truncated file -- the folder is deleted and written again (logged).
    """
    config = SyntheticConfig(height=spec.size, width=spec.size, num_frames=spec.frames)
    if is_written_dataset(folder, "got10k", spec.videos, spec.frames, spec.seed, config):
        logger.info("reusing synthetic videos in %s", folder)
        return Got10k(folder / "train")
    if folder.exists():
        logger.warning("synthetic dataset cache %s is missing, stale or incomplete: writing it again", folder)
        shutil.rmtree(folder)
    root = write_dataset(folder, "got10k", num_videos=spec.videos, num_frames=spec.frames, seed=spec.seed,
                         config=config, progress=progress)
    return Got10k(root)


def run_demo(options: DemoOptions) -> DemoResult:
    """Run the whole demo; returns metrics, SLT history and the files written (see module doc)."""
    plan = options.resolved_plan()
    out = Path(options.out)
    check_writable(out)
    device = torch.device(options.device)
    data_dir = out / "data"
    train_set = synthetic_dataset(data_dir / _data_name("train", plan.train), plan.train, options.progress)
    test_set = synthetic_dataset(data_dir / _data_name("test", plan.test), plan.test, options.progress)
    val_set = synthetic_dataset(data_dir / _data_name("val", plan.val), plan.val, options.progress)
    runs = out / ("quick" if plan is QUICK else "runs") / f"seed{options.seed}"
    opts = RunOptions(out_dir=runs, device=device, seed=options.seed, progress=options.progress)

    model = build_model(device, seed=options.seed)
    run_flt(model, [train_set], plan.flt, opts)
    flt_model = copy.deepcopy(model).eval()
    history = run_slt(model, [train_set], plan.slt, opts, validation=validation_clips(val_set, plan.val_frames))
    slt_model = model.eval()

    metrics, ious = {}, {}
    for name, net in (("FLT", flt_model), ("SLT", slt_model)):
        tracker = ReferenceTracker(net, plan.slt.tracker)
        result = evaluate_dataset(tracker, test_set, batch_size=plan.eval_batch, progress=options.progress,
                                  desc=f"evaluate {name}", protocols=("lasot", "got10k"))
        metrics[name] = {key: float(result[PROTOCOL_OF[key]][key]) for key, _ in METRICS}
        ious[name] = _frame_ious(result, test_set)
    files = {
        "success_plot": success_plot(ious, out / "success_plot.png",
                                     title=f"Held-out synthetic videos ({test_set.get_num_sequences()})"),
        "training_curves": training_curves(history, out / "training_curves.png"),
        "tensorboard": runs,
        "metrics": out / "metrics.json",
    }
    files["metrics"].write_text(json.dumps(metrics, indent=2) + "\n")
    return DemoResult(metrics=metrics, history=history, files=files)


def validation_clips(dataset: Got10k, num_frames: int) -> dict[str, list[Any]]:
    """As many sequential clips of ``num_frames`` frames as there are validation videos, drawn with a fixed seed
    and collated: the same clips at every measurement and in every run."""
    sampler = SequenceSampler([dataset], samples_per_epoch=dataset.get_num_sequences(), num_frames=num_frames,
                              max_gap=-1, frame_sample_mode="sequential", seed=0, min_visible=0)
    return list_collate([sampler[k] for k in range(len(sampler))])


def _data_name(split: str, spec: DataSpec) -> str:
    return f"{split}_v{spec.videos}_f{spec.frames}_s{spec.seed}_px{spec.size}"


def _frame_ious(result: dict[str, Any], dataset: Got10k) -> np.ndarray:
    """IoUs of the visible frames after frame 0, pooled (the ``'pooled'`` protocol's frames), for the plot."""
    values = []
    for seq, pred in enumerate(result["predictions"]):
        info = dataset.get_sequence_info(seq)
        keep = info["visible"].numpy().copy()
        keep[0] = False
        values.append(iou_xywh(pred[keep], info["bbox"].numpy()[keep]))
    return np.concatenate(values)
