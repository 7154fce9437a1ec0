"""SLT-OSTrack's host-free pieces on fake tensors: the policy's greedy decision, its sampling, box helpers."""

from __future__ import annotations

import math

import numpy as np
import torch

from slt.policy import ClipRandom, select_actions
from slt_ostrack import host, policy


def test_window_is_the_centred_hann_of_the_host() -> None:
    size = 16
    k = torch.arange(1, size + 1, dtype=torch.float64)
    h = 0.5 * (1 - torch.cos(2 * math.pi / (size + 1) * k))
    expected = (h[:, None] * h[None, :]).float()
    assert torch.allclose(policy.centred_hann(size)[0, 0], expected, atol=1e-7)
    assert policy.centred_hann(size).shape == (1, 1, 16, 16)


def test_greedy_policy_is_the_argmax_of_score_times_window() -> None:
    torch.manual_seed(0)
    window = policy.centred_hann(16)
    # sigmoid maps clamped as the host's, many near-ties
    scores = torch.sigmoid(torch.randn(64, 1, 16, 16) * 0.01).clamp(1e-4, 1 - 1e-4)
    logits = policy.policy_logits(scores, window, policy.shaping())
    stock = torch.max((window * scores).flatten(1), dim=1).indices
    assert logits.dtype == torch.float64
    assert torch.equal(select_actions(logits, "argmax"), stock)
    assert float(logits.abs().max()) <= policy.TEMPERATURE * math.log(0.99 / 0.01) + 1e-9


def test_sampled_rows_follow_the_policy_chi_square() -> None:
    torch.manual_seed(1)
    scores = torch.rand(1, 1, 16, 16) * 0.3
    scores[0, 0, 7, 8] = 0.9
    scores[0, 0, 8, 7] = 0.8
    logits = policy.policy_logits(scores, policy.centred_hann(16), policy.shaping(temperature=1.0))
    draws = 20000
    rows = logits.expand(2 * draws, -1)
    actions = select_actions(rows, "half", ClipRandom([(3, 0, k) for k in range(draws)]))
    greedy, sampled = actions[:draws], actions[draws:]
    assert torch.equal(greedy, logits.argmax(-1).expand(draws))
    probs = torch.softmax(logits[0], -1).numpy()
    counts = np.bincount(sampled.numpy(), minlength=256)
    keep = probs * draws >= 5  # pool the rare cells into one bin
    observed, expected = counts[keep], probs[keep] * draws
    if not keep.all():
        observed = np.append(observed, counts[~keep].sum())
        expected = np.append(expected, probs[~keep].sum() * draws)
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    dof = len(observed) - 1
    assert chi2 < dof + 5 * math.sqrt(2 * dof), (chi2, dof)  # about a 5-sigma bound


def test_onehot_maps_pick_the_chosen_cells() -> None:
    actions = torch.tensor([0, 17, 255])
    maps = policy.onehot_maps(actions, 16)
    assert maps.shape == (3, 1, 16, 16)
    assert torch.equal(maps.flatten(1).argmax(-1), actions)
    assert float(maps.sum()) == 3.0


def test_map_back_and_search_regions() -> None:
    state = torch.tensor([[100.0, 50.0, 20.0, 40.0]], dtype=torch.float64)
    region = policy.search_regions(state, 4.0)
    side = math.ceil(math.sqrt(20 * 40) * 4.0)
    assert region.tolist() == [[round(110 - side / 2), round(70 - side / 2), side, side]]
    # a box centred in the crop maps back to the previous centre
    box = torch.tensor([[side / 2, side / 2, 30.0, 10.0]], dtype=torch.float64)
    out = policy.map_back(box, state, region[:, 2])
    assert torch.allclose(out, torch.tensor([[95.0, 65.0, 30.0, 10.0]], dtype=torch.float64))


def test_host_kind_is_registered_with_its_packaged_patches() -> None:
    from slt import hosts

    kind = hosts.host_kinds()["ostrack"]
    assert kind is host.OSTRACK and "tracking/train.py" in kind.markers
    assert sorted(p.name for p in kind.patch_files()) == ["10-train-slt-hook.patch", "20-test-cpu.patch"]


def test_with_shims_runs_a_host_script_as_python_would_with_the_shims_installed(tmp_path) -> None:
    """``python -m slt_ostrack.with_shims SCRIPT ARGS``: the script is ``__main__`` with its arguments, its folder
    on ``sys.path``, and imports the host's removed or optional modules (``torch._six``, ``visdom.server``);
    the stubs name the fix when used; the script's exit status is the command's."""
    import subprocess
    import sys

    (tmp_path / "tracking").mkdir()
    (tmp_path / "tracking" / "helper.py").write_text("WHERE = 'beside the script'\n")
    (tmp_path / "tracking" / "setup_step.py").write_text(
        "import sys\n"
        "from torch._six import string_classes\n"
        "import visdom\nimport visdom.server\n"
        "import helper\n"
        "try:\n    visdom.Visdom\nexcept ImportError as error:\n    message = str(error)\n"
        "print(__name__, sys.argv[1:], string_classes, helper.WHERE, message)\n"
        "sys.exit(3)\n")
    ran = subprocess.run([sys.executable, "-m", "slt_ostrack.with_shims", "tracking/setup_step.py", "--workspace_dir",
                          "."], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 3, ran.stderr[-2000:]
    assert ran.stdout.strip() == ("__main__ ['--workspace_dir', '.'] (<class 'str'>, <class 'bytes'>) beside the "
                                  "script visdom.Visdom: visdom is not installed (only the host's debug "
                                  "visualisation needs it): pip install visdom")
    missing = subprocess.run([sys.executable, "-m", "slt_ostrack.with_shims", "tracking/nothing.py"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no script tracking/nothing.py" in missing.stderr
