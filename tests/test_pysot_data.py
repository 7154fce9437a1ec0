"""slt_pysot's dataset keys: official defaults, mixing by numbers of videos, refusal of evaluation splits."""

from __future__ import annotations

from pathlib import Path

import pytest

yacs_config = pytest.importorskip("yacs.config", reason="yacs is missing: install the pysot extra (yacs)")
CN = yacs_config.CfgNode

from slt.data import DataError  # noqa: E402
from slt_pysot import config as slt_config  # noqa: E402
from slt_pysot.dataset import build_datasets, build_sampler  # noqa: E402


def registered() -> CN:
    cfg = CN()
    cfg.CUDA = False
    for name in ("TRAIN", "ADJUST", "RPN"):
        setattr(cfg, name, CN())
    cfg.DATASET = CN(new_allowed=True)
    return slt_config.register_slt_cfg(cfg)


def trees(root: Path) -> dict[str, Path]:
    got = root / "got10k" / "train"
    got.mkdir(parents=True)
    names = [f"GOT-10k_Train_{k:06d}" for k in range(1, 4)]
    for name in names:
        (got / name).mkdir()
    (got / "list.txt").write_text("".join(f"{n}\n" for n in names))
    lasot = root / "lasot"
    for name in ["airplane-1", "airplane-2"]:
        (lasot / name.rsplit("-", 1)[0] / name / "img").mkdir(parents=True)
    tnet = root / "trackingnet"
    for chunk, count in (("TRAIN_6", 4), ("TRAIN_7", 2)):
        (tnet / chunk / "anno").mkdir(parents=True)
        for k in range(count):
            (tnet / chunk / "anno" / f"v{k}.txt").write_text("1,1,5,5\n")
    return {"GOT10K": got, "LASOT": lasot, "TRACKINGNET": tnet}


def test_registered_defaults_are_the_official_recipe():
    data = registered().SLT.DATASET
    assert data.MIX == "videos" and data.LASOT.SPLIT == "train"
    assert list(data.TRACKINGNET.SETS) == [6, 7, 8, 9, 10, 11]
    assert not (data.GOT10K.ALLOW_EVAL_SPLIT or data.LASOT.ALLOW_EVAL_SPLIT or data.TRACKINGNET.ALLOW_EVAL_SPLIT)


def test_datasets_mix_by_numbers_of_videos_or_by_prob(tmp_path):
    roots = trees(tmp_path)
    cfg = registered()
    cfg.SLT.DATASET.NAMES = ["GOT10K", "TRACKINGNET"]
    cfg.SLT.DATASET.GOT10K.ROOT, cfg.SLT.DATASET.TRACKINGNET.ROOT = str(roots["GOT10K"]), str(roots["TRACKINGNET"])
    cfg.SLT.DATASET.TRACKINGNET.SETS = [6, 7]
    assert build_datasets(cfg)[1] == [3.0, 6.0]
    cfg.SLT.DATASET.MIX = "prob"
    cfg.SLT.DATASET.TRACKINGNET.PROB = 0.25
    assert build_datasets(cfg)[1] == [1.0, 0.25]
    cfg.SLT.DATASET.MIX = "equal"
    with pytest.raises(ValueError, match="SLT.DATASET.MIX must be one of"):
        build_datasets(cfg)


def test_missing_trackingnet_chunk_names_the_key(tmp_path):
    cfg = registered()
    cfg.SLT.DATASET.NAMES = ["TRACKINGNET"]
    cfg.SLT.DATASET.TRACKINGNET.ROOT = str(trees(tmp_path)["TRACKINGNET"])  # default SETS 6..11: TRAIN_8 missing
    with pytest.raises(DataError, match=r"SLT.DATASET.TRACKINGNET: .*TRAIN_8/anno: annotation folder not found"):
        build_datasets(cfg)


def test_lasot_test_videos_are_refused_naming_the_key_unless_allowed(tmp_path):
    cfg = registered()
    cfg.TRAIN.NUM_FRAMES, cfg.TRAIN.TEMPLATE_GAP = 3, -1
    cfg.DATASET.SEQUENCE.SAMPLE_MODE = "sequential"
    cfg.SLT.DATASET.NAMES = ["LASOT"]
    cfg.SLT.DATASET.LASOT.ROOT = str(trees(tmp_path)["LASOT"])
    cfg.SLT.DATASET.LASOT.SPLIT = ""  # every sequence found: airplane-1 is a test video
    with pytest.raises(ValueError, match=r"'lasot' holds 1 of its official test split") as error:
        build_datasets(cfg)
    assert "SLT.DATASET.LASOT.ALLOW_EVAL_SPLIT: True" in str(error.value)
    cfg.SLT.DATASET.LASOT.ALLOW_EVAL_SPLIT = True
    sampler = build_sampler(cfg, samples=2, seed=0)
    assert len(sampler.datasets[0]) == 2
