"""PNG figures: OPE success plots and SLT training curves (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from slt.metrics import success_curve  # noqa: E402


def success_plot(ious: Mapping[str, np.ndarray], path: str | Path, title: str = "Success plot (OPE)") -> Path:
    """One success curve per tracker; ``ious``: name -> all evaluated frames' IoUs. Legend shows AUC."""
    thresholds = np.linspace(0, 1, 21)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for name, values in ious.items():
        curve = success_curve(values, thresholds)
        ax.plot(thresholds, curve, linewidth=2, label=f"{name} [AUC {100 * curve.mean():.1f}]")
    ax.set(xlabel="Overlap threshold", ylabel="Success rate", xlim=(0, 1), ylim=(0, 1), title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    return _save(fig, path)


def training_curves(history: Sequence[Mapping[str, float]], path: str | Path, window: int = 10,
                    validation: Sequence[tuple[int, float]] = ()) -> Path:
    """SLT training: reward (mean IoU gap) and greedy / sampled mean IoU per step, raw and smoothed, and the
    greedy mean IoU on fixed validation clips where the history has it (``val_greedy_miou``) or, measured
    outside the loop, as ``validation`` ``(step, mean IoU)`` pairs (step 0: the starting weights)."""
    steps = np.array([h["step"] for h in history])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for key, label in (("greedy_miou", "greedy mIoU"), ("sampled_miou", "sampled mIoU")):
        values = np.array([h[key] for h in history])
        line, = bottom.plot(steps, values, alpha=0.25)
        bottom.plot(steps, _smooth(values, window), color=line.get_color(), linewidth=2, label=label)
    measured = [(h["step"], h["val_greedy_miou"]) for h in history if "val_greedy_miou" in h] + list(validation)
    if measured:
        bottom.plot(*zip(*sorted(measured)), "o-", color="black",
                    linewidth=2, label="greedy mIoU, validation clips")
    reward = np.array([h["reward"] for h in history])
    top.plot(steps, reward, alpha=0.25, color="tab:green")
    top.plot(steps, _smooth(reward, window), color="tab:green", linewidth=2, label="reward (sampled - greedy)")
    top.axhline(0.0, color="black", linewidth=0.8)
    top.set(ylabel="reward", title="SLT training")
    bottom.set(xlabel="step", ylabel="mean IoU of the clip")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    return _save(fig, path)


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    kernel = np.ones(min(window, len(values)))
    return np.convolve(values, kernel, mode="same") / np.convolve(np.ones_like(values), kernel, mode="same")


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
