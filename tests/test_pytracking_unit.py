"""slt_pytracking without a host: the patch set's shims and the host check (host tests: test_transt_host.py)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

import slt_pytracking
from slt import patching

REPO = Path(__file__).resolve().parent.parent
PATCHES = REPO / "slt_pytracking" / "patches" / "transt"


def added_files(patch: Path) -> dict[str, str]:
    """New files of a unified diff -> their content."""
    files: dict[str, list[str]] = {}
    current = None
    for line in patch.read_text().splitlines():
        if line.startswith("+++ "):
            current = line[len("+++ b/"):] if line.startswith("+++ b/") else None
            if current is not None:
                files[current] = []
        elif current is not None and line.startswith("+"):
            files[current].append(line[1:])
    return {name: "\n".join(lines) for name, lines in files.items()}


def test_shims_import_functions_the_plugin_defines():
    shims = {name: text for name, text in added_files(PATCHES / "20-slt-shims.patch").items() if "import" in text}
    assert set(shims) == {"ltr/train_settings/slt/transt.py", "ltr/train_settings/slt/transt_smoke.py",
                          "pytracking/parameter/transt/slt_transt.py"}
    for name, text in shims.items():
        module, function = re.match(r"from (slt_pytracking[\w.]*) import (\w+)", text).groups()
        source = REPO / (module.replace(".", "/") + ".py")
        assert re.search(rf"^def {function}\(", source.read_text(), re.M), (name, module, function)


def test_compat_patch_only_edits_host_files_in_place():
    text = (PATCHES / "10-compat.patch").read_text()
    assert "/dev/null" not in text  # new files belong to the shim patch
    edited = re.findall(r"^\+\+\+ b/(\S+)", text, re.M)
    assert edited and all((name.startswith(("ltr/", "pytracking/", "util/"))) for name in edited)


def test_require_patched_host_without_a_host_names_pythonpath(monkeypatch):
    if importlib.util.find_spec("ltr") is not None:
        pytest.skip("a host tree is importable here")
    slt_pytracking.require_patched_host.cache_clear()
    with pytest.raises(patching.PatchError, match="PYTHONPATH"):
        slt_pytracking.require_patched_host()


def test_require_patched_host_on_an_unpatched_tree_names_the_command(tmp_path, monkeypatch):
    if importlib.util.find_spec("ltr") is not None:
        pytest.skip("a host tree is importable here")
    root = tmp_path / "transt"
    for marker in patching.HOSTS["transt"].markers:
        (root / marker).parent.mkdir(parents=True, exist_ok=True)
        (root / marker).write_text("")
    (root / "ltr" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(root))
    slt_pytracking.require_patched_host.cache_clear()
    with pytest.raises(patching.PatchError, match=f"not patched for SLT.*run: slt patch-host transt {root}"):
        slt_pytracking.require_patched_host()
    slt_pytracking.require_patched_host.cache_clear()
