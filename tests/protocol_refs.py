"""One set of tracker predictions, and the reference toolkits' own evaluation code run on it.

``tests/data/protocol_case.json`` (written once by :func:`make_case`, seed 0) holds 6 videos of 40-90 frames:
integer ground-truth boxes (as LaSOT's), a visibility flag and a GOT-10k ``cover`` per frame (invisible frames
have cover 0; some of them have the all-zero box LaSOT uses for absent targets), the image size, and predictions
with 2 decimals: noisy boxes, drifts to failure, boxes reaching outside the image. Row 0 of the predictions is the
initial box.

The runners import the hosts from their trees (``sys.path``), never from copies:

* :func:`pysot_ope`: PySOT's ``toolkit.evaluation.OPEBenchmark`` (STVIR/pysot d04028f8e18c). Its package
  ``toolkit.utils`` imports the Cython ``region`` extension (VOT polygon overlaps) at import time, which OPE
  never calls; when it is not built, an empty module stands in for it.
* :func:`pytracking_extract`: PyTracking's ``pytracking.analysis.extract_results`` (visionml/pytracking 7eb9e74,
  or the TransT fork 2793ef3). ``pytracking/__init__.py`` imports trackers, visdom and the data loaders, so the two
  packages on the way (``pytracking``, ``pytracking.evaluation``) are entered as bare packages over the host's
  folders and only ``extract_results.py``, ``load_text.py`` and ``environment.py`` run. The scores are aggregated
  as ``plot_results.get_auc_curve``/``get_prec_curve`` do (mean over sequences, then mean over thresholds or
  the value at index 20); ``plot_results`` itself needs ``tikzplotlib``.
* :func:`got10k_report`: the got10k package's ``ExperimentGOT10k(subset='val').report`` on the case written as
  a GOT-10k val folder (empty ``.jpg`` files: the report reads no pixel).

``python tests/protocol_refs.py`` prints the project's numbers next to each toolkit's (the env vars name the
trees; the got10k package must be importable).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

CASE_FILE = Path(__file__).resolve().parent / "data" / "protocol_case.json"


def make_case(seed: int = 0) -> list[dict[str, Any]]:
    """The case's videos (see the module docstring); written once to :data:`CASE_FILE`."""
    rng = np.random.default_rng(seed)
    videos = []
    for k in range(6):
        n = int(rng.integers(40, 91))
        width, height = int(rng.integers(320, 641)), int(rng.integers(240, 481))
        size = rng.integers(20, 121, size=2)
        pos = np.array([rng.integers(1, width - size[0] - 1), rng.integers(1, height - size[1] - 1)], dtype=float)
        gt = np.zeros((n, 4))
        for t in range(n):
            pos += rng.normal(0, 3, size=2)
            pos = np.clip(pos, 1, [width - size[0] - 1, height - size[1] - 1])
            gt[t] = [round(pos[0]), round(pos[1]), size[0], size[1]]
        visible = np.ones(n, dtype=bool)
        for _ in range(int(rng.integers(1, 3))):
            start = int(rng.integers(5, n - 10))
            visible[start:start + int(rng.integers(3, 9))] = False
        absent = ~visible & (rng.random(n) < 0.5)
        gt[absent] = 0.0
        cover = np.where(visible, rng.integers(1, 9, size=n), 0)
        pred = gt.copy()
        pred[absent] = np.nan
        for t in range(n):
            if np.isnan(pred[t]).any():
                pred[t] = pred[t - 1]
        pred[1:] += rng.normal(0, 1, size=(n - 1, 4)) * np.r_[size, size] * 0.08
        drift = int(rng.integers(10, n - 5))
        pred[drift:drift + 8, :2] += np.arange(1, 9)[:, None] * rng.uniform(5, 15, size=2)
        if k % 2 == 0:
            pred[-6:, 0] = -pred[-6:, 2] / 3  # a third of the box left of the image
        pred[:, 2:] = np.maximum(pred[:, 2:], 1.0)
        pred[0] = gt[0]
        videos.append({"name": f"case-{k + 1}", "width": width, "height": height, "gt": gt.tolist(),
                       "pred": np.round(pred, 2).tolist(), "visible": visible.astype(int).tolist(),
                       "cover": cover.astype(int).tolist()})
    return videos


def load_case() -> list[dict[str, Any]]:
    """:data:`CASE_FILE` with ``gt``/``pred`` as (T, 4) float64 arrays, ``visible`` (T,) bool, ``cover`` (T,) int."""
    videos = json.loads(CASE_FILE.read_text())
    for v in videos:
        v["gt"], v["pred"] = np.asarray(v["gt"], dtype=np.float64), np.asarray(v["pred"], dtype=np.float64)
        v["visible"], v["cover"] = np.asarray(v["visible"], dtype=bool), np.asarray(v["cover"], dtype=np.int64)
    return videos


def ours(case: list[dict[str, Any]], protocol: str) -> dict[str, Any]:
    """:func:`slt.metrics.evaluate_ope` on the case."""
    from slt.metrics import evaluate_ope

    return evaluate_ope([v["pred"] for v in case], [v["gt"] for v in case], [v["visible"] for v in case],
                        protocol=protocol, image_sizes=[(v["width"], v["height"]) for v in case])


@contextlib.contextmanager
def _host_path(root: Path, fresh: tuple[str, ...]):
    """``root`` first on ``sys.path`` (restored afterwards), modules under the ``fresh`` prefixes forgotten before
    and after, no bytecode written into the host tree."""
    def forget() -> None:
        for name in [m for m in sys.modules if m.split(".")[0] in fresh]:
            del sys.modules[name]

    forget()
    saved_path = list(sys.path)  # extract_results.py appends its tree to sys.path when imported
    sys.path.insert(0, str(root))
    wrote, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        yield
    finally:
        sys.dont_write_bytecode = wrote
        sys.path[:] = saved_path
        forget()


def pysot_ope(root: str | os.PathLike, case: list[dict[str, Any]], lasot: bool) -> dict[str, float]:
    """PySOT's ``OPEBenchmark`` on the case, scores in percent as its ``show_result`` prints them (x100).

    ``lasot``: the videos carry LaSOT's ``absent`` array (1 = target present, PySOT's convention); otherwise none
    (OTB)."""
    with _host_path(Path(root), ("toolkit",)):
        try:
            importlib.import_module("toolkit.utils.region")
        except ImportError:
            sys.modules["toolkit.utils.region"] = types.ModuleType("toolkit.utils.region")
        from toolkit.evaluation import OPEBenchmark

        class Video:
            def __init__(self, v: dict[str, Any]) -> None:
                self.name, self.gt_traj = v["name"], v["gt"].tolist()
                self.pred_trajs = {"slt": v["pred"].tolist()}
                if lasot:
                    self.absent = v["visible"].astype(np.int8)

        class Dataset(list):
            tracker_names = ["slt"]

        bench = OPEBenchmark(Dataset(Video(v) for v in case))
        success = bench.eval_success("slt")["slt"]
        prec = bench.eval_precision("slt")["slt"]
        norm = bench.eval_norm_precision("slt")["slt"]
    return {"auc": float(np.mean(list(success.values()))) * 100,
            "precision": float(np.mean(list(prec.values()), axis=0)[20]) * 100,
            "norm_precision": float(np.mean(list(norm.values()), axis=0)[20]) * 100}


def pytracking_extract(root: str | os.PathLike, case: list[dict[str, Any]], dataset: str,
                       work: Path) -> dict[str, float]:
    """PyTracking's ``extract_results`` on the case as dataset ``dataset`` (``'lasot'``: with target_visible;
    ``'otb'``: without), results written as PyTracking's tab-separated text under ``work``; percent."""
    root = Path(root)
    with _host_path(root, ("pytracking",)):
        for package in ("pytracking", "pytracking.evaluation", "pytracking.analysis", "pytracking.utils"):
            module = types.ModuleType(package)
            module.__path__ = [str(root.joinpath(*package.split(".")))]
            sys.modules[package] = module
        er = importlib.import_module("pytracking.analysis.extract_results")
        results = work / "results"
        results.mkdir(parents=True, exist_ok=True)
        for v in case:
            np.savetxt(results / f"{v['name']}.txt", v["pred"], delimiter="\t", fmt="%.17g")
        tracker = types.SimpleNamespace(results_dir=str(results), name="slt", parameter_name="case", run_id=None,
                                        display_name="slt")
        seqs = [types.SimpleNamespace(name=v["name"], dataset=dataset, ground_truth_rect=v["gt"],
                                      target_visible=v["visible"] if dataset == "lasot" else None) for v in case]
        er.env_settings = lambda: types.SimpleNamespace(result_plot_path=str(work / "plots"))
        data = er.extract_results([tracker], seqs, "case")
    overlap = np.asarray(data["ave_success_rate_plot_overlap"], dtype=np.float64)[:, 0]  # (videos, thresholds)
    center = np.asarray(data["ave_success_rate_plot_center"], dtype=np.float64)[:, 0]
    center_norm = np.asarray(data["ave_success_rate_plot_center_norm"], dtype=np.float64)[:, 0]
    return {"auc": float(overlap.mean(0).mean() * 100), "precision": float(center.mean(0)[20] * 100),
            "norm_precision": float(center_norm.mean(0)[20] * 100)}


def got10k_report(case: list[dict[str, Any]], work: Path) -> dict[str, float]:
    """got10k's ``ExperimentGOT10k(subset='val').report`` on the case written as a GOT-10k val folder; percent.
    SR0.75 is the report's success curve at threshold 0.75 (index 75 of 101)."""
    from got10k.experiments import ExperimentGOT10k

    val = work / "got10k" / "val"
    for v in case:
        folder = val / v["name"]
        folder.mkdir(parents=True, exist_ok=True)
        for t in range(len(v["gt"])):
            (folder / f"{t + 1:08d}.jpg").write_bytes(b"")
        np.savetxt(folder / "groundtruth.txt", v["gt"], delimiter=",", fmt="%.4f")
        np.savetxt(folder / "cover.label", v["cover"], fmt="%d")
        np.savetxt(folder / "absence.label", (v["cover"] == 0).astype(int), fmt="%d")
        np.savetxt(folder / "cut_by_image.label", np.zeros(len(v["gt"]), dtype=int), fmt="%d")
        (folder / "meta_info.ini").write_text(f"[METAINFO]\nresolution: ({v['width']}, {v['height']})\n")
        record = work / "results" / "GOT-10k" / "slt" / v["name"]
        record.mkdir(parents=True, exist_ok=True)
        np.savetxt(record / f"{v['name']}_001.txt", v["pred"], delimiter=",", fmt="%.17g")
        np.savetxt(record / f"{v['name']}_time.txt", np.full(len(v["pred"]), 0.01), fmt="%.3f")  # the report needs it
    (val / "list.txt").write_text("".join(f"{v['name']}\n" for v in case))
    experiment = ExperimentGOT10k(str(work / "got10k"), subset="val", result_dir=str(work / "results"),
                                  report_dir=str(work / "reports"))
    overall = experiment.report(["slt"])["slt"]["overall"]
    return {"ao": overall["ao"] * 100, "sr50": overall["sr"] * 100, "sr75": overall["succ_curve"][75] * 100}


def main() -> int:
    """Print the table of the project's numbers next to the toolkits' (roots from PYSOT_ROOT, PYTRACKING_ROOT,
    TRANST_ROOT; got10k from the path)."""
    import tempfile

    case = load_case()
    rows: list[tuple[str, str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for protocol in ("lasot", "otb"):
            rows.append((protocol, "slt.metrics", ours(case, protocol)))
            if os.environ.get("PYSOT_ROOT"):
                rows.append((protocol, "PySOT OPEBenchmark", pysot_ope(os.environ["PYSOT_ROOT"], case,
                                                                       protocol == "lasot")))
            for var in ("PYTRACKING_ROOT", "TRANST_ROOT"):
                if os.environ.get(var):
                    rows.append((protocol, f"extract_results ({var})",
                                 pytracking_extract(os.environ[var], case, protocol, Path(tmp) / var / protocol)))
        rows.append(("got10k", "slt.metrics", ours(case, "got10k")))
        rows.append(("got10k", "got10k report", got10k_report(case, Path(tmp))))
    rows.append(("pooled", "slt.metrics", ours(case, "pooled")))
    for protocol, source, scores in rows:
        keys = ("ao", "sr50", "sr75") if protocol == "got10k" else ("auc", "precision", "norm_precision")
        sys.stdout.write(f"{protocol:<7} {source:<32} " + "  ".join(f"{k} {scores[k]:9.5f}" for k in keys) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
