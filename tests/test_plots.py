"""slt.plots: the validation points of the training-curves figure."""

from __future__ import annotations

import numpy as np
import pytest

from slt import plots


@pytest.fixture
def captured(monkeypatch):
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or path)
    return figures


def validation_line(figure):
    bottom = figure.axes[1]
    (line,) = [ln for ln in bottom.get_lines() if ln.get_label() == "greedy mIoU, validation clips"]
    return list(line.get_xdata()), list(line.get_ydata())


def history(steps: int, val_at: dict[int, float]) -> list[dict[str, float]]:
    rows = [{"step": s, "reward": 0.01 * s, "greedy_miou": 0.5, "sampled_miou": 0.5} for s in range(1, steps + 1)]
    for row in rows:
        if row["step"] in val_at:
            row["val_greedy_miou"] = val_at[row["step"]]
    return rows


def test_validation_pairs_from_outside_the_loop_join_the_history_points_in_step_order(captured, tmp_path):
    plots.training_curves(history(6, {3: 0.62}), tmp_path / "c.png", validation=[(6, 0.64), (0, 0.60)])
    steps, values = validation_line(captured[0])
    assert steps == [0, 3, 6]
    assert np.allclose(values, [0.60, 0.62, 0.64])


def test_no_validation_line_without_measurements(captured, tmp_path):
    plots.training_curves(history(4, {}), tmp_path / "c.png")
    labels = [ln.get_label() for ln in captured[0].axes[1].get_lines()]
    assert "greedy mIoU, validation clips" not in labels
    assert {"greedy mIoU", "sampled mIoU"} <= set(labels)
