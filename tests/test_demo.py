"""``slt demo --quick`` end to end: table, figures, TensorBoard, cache reuse and recovery."""

import logging

import matplotlib.image
import pytest

from slt.demo import QUICK, DemoOptions, run_demo, synthetic_dataset


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(DemoOptions(out=out, seed=0, quick=True, progress=False))


def test_quick_demo_reports_both_models_and_writes_its_files(quick_demo):
    out, result = quick_demo
    assert set(result.metrics) == {"FLT", "FLT continued", "SLT"}
    for values in result.metrics.values():
        assert 0.0 <= values["auc"] <= 100.0 and 0.0 <= values["sr50"] <= 100.0
    table = result.table()
    assert "SLT - FLT continued" in table and "SLT - FLT " in table and "training CPU seconds" in table
    assert len({len(row) for row in table.splitlines()[1:-1]}) == 1  # header, rule and rows line up
    assert set(result.cpu_seconds) == {"SLT", "FLT continued"} and min(result.cpu_seconds.values()) > 0
    assert len(result.history) == QUICK.slt.steps
    assert {"reward", "greedy_miou", "sampled_miou", "loss_slt", "grad_norm"} <= set(result.history[0])
    measured = [h["step"] for h in result.history if "val_greedy_miou" in h]
    assert measured == [1, 4, 8]  # after the first step and every val_every = 4 steps
    for name in ("success_plot", "training_curves"):
        image = matplotlib.image.imread(result.files[name])
        assert image.ndim == 3 and image.shape[0] > 300 and image.std() > 0.05  # a real, non-blank figure
    events = list((out / "quick" / "seed0").rglob("events.out.tfevents.*"))
    assert {p.parent.parent.name for p in events} == {"flt", "slt", "flt_continued"}
    assert (out / "metrics.json").is_file()


def test_second_run_reuses_data_and_checkpoints(quick_demo):
    out, first = quick_demo
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".pth", ".jpg")}
    again = run_demo(DemoOptions(out=out, seed=0, quick=True, progress=False))
    assert again.metrics == first.metrics and again.history == first.history
    assert {p: p.stat().st_mtime_ns for p in written} == written  # nothing trained or written again


def test_corrupt_cached_dataset_is_written_again(quick_demo, caplog):
    out, _ = quick_demo
    folder = next((out / "data").glob("train_*"))
    frame = next((folder / "train").glob("*/00000003.jpg"))
    frame.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="slt.demo"):
        dataset = synthetic_dataset(folder, QUICK.train, progress=False)
    assert "writing it again" in caplog.text
    assert frame.stat().st_size > 0 and dataset.get_num_sequences() == QUICK.train.videos


def test_same_seed_gives_a_byte_identical_metrics_file(quick_demo, tmp_path):
    out, _ = quick_demo
    run_demo(DemoOptions(out=tmp_path, seed=0, quick=True, progress=False))
    assert (tmp_path / "metrics.json").read_bytes() == (out / "metrics.json").read_bytes()
