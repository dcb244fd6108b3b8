"""``plmkit plugin new NAME``: the package it writes installs and passes its own tests straight away."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

FILES = {
    "pyproject.toml",
    "README.md",
    "plmkit_parallel_block/__init__.py",
    "plmkit_parallel_block/blocks.py",
    "plmkit_parallel_block/recipes/parallel-block.yaml",
    "tests/test_plmkit_parallel_block.py",
}


def files_in(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_a_new_plugin_installs_and_passes_its_own_tests(tmp_path):
    plugin, site, elsewhere = tmp_path / "plugin", tmp_path / "site", tmp_path / "elsewhere"
    result = run_cli("plugin", "new", "parallel-block", "--out", str(plugin), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{plugin}\n"
    assert files_in(plugin) == FILES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plugin"]  # nothing left beside it

    install = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "install", "--no-deps",
                              "--no-build-isolation", "--target", str(site), str(plugin)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    assert (site / "plmkit_parallel_block" / "recipes" / "parallel-block.yaml").is_file()  # the recipe is package data

    # its tests, run from another folder so that they exercise the installed copy, not the sources
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1", "CI": "true"}
    where = subprocess.run([sys.executable, "-c", "import plmkit_parallel_block as p; print(p.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True)
    assert where.stdout == f"{site / 'plmkit_parallel_block' / '__init__.py'}\n", where.stderr
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(plugin / "tests")],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "5 passed" in tests.stdout, tests.stdout[-1000:]


def test_names_derive_from_the_one_given(tmp_path):
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
    result = run_cli("plugin", "new", "plmkit-talking_heads", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "plmkit-talking-heads"
    assert result.stdout == "plmkit-talking-heads\n"
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["project"]["name"] == "plmkit-talking-heads"
    assert project["project"]["dependencies"] == ["plmkit>=0.1"]
    assert project["project"]["entry-points"]["plmkit"] == {"talking_heads": "plmkit_talking_heads"}
    assert project["tool"]["setuptools"]["package-data"] == {"plmkit_talking_heads": ["recipes/*.yaml"]}
    recipe = (folder / "plmkit_talking_heads" / "recipes" / "talking_heads.yaml").read_text()
    assert "\nextends: plmkit:gpt.yaml\n" in recipe and "\n    type: talking_heads\n" in recipe
    code = (folder / "plmkit_talking_heads" / "__init__.py").read_text()
    assert "class TalkingHeadsParams(plmkit.Params):" in code
    assert 'register("attention", "talking_heads", TalkingHeadsParams, build)' in code
    assert not any("{{" in (folder / f).read_text() for f in files_in(folder))


def test_an_empty_folder_is_used(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("plugin", "new", "gqa", "--out", "empty", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "plmkit_gqa/recipes/gqa.yaml" in files_in(tmp_path / "empty")


@pytest.mark.parametrize("name,message", [
    ("Parallel", "'Parallel' is not a valid plugin name: use lowercase letters, digits and single '-' or '_' "
                 "between words, starting with a letter (e.g. parallel-block)"),
    ("9lives", "'9lives' is not a valid plugin name"),
    ("two--dashes", "'two--dashes' is not a valid plugin name"),
    ("plmkit", "'plmkit' is plmkit's own name; name the plugin after what it adds"),
    ("transformer", "attention 'transformer' is already registered by plmkit; choose another name"),
])
def test_a_name_that_cannot_be_a_plugin_is_refused(tmp_path, name, message):
    result = run_cli("plugin", "new", name, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"plmkit plugin new: NAME: {message}")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_target_is_refused(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    result = run_cli("plugin", "new", "gqa", "--out", str(taken), cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, f"plmkit plugin new: --out: {taken} exists and is not empty; "
                                                     f"choose another folder or empty it\n")
    assert files_in(taken) == {"notes.txt"}
    (tmp_path / "plmkit-gqa").write_text("a file")
    result = run_cli("plugin", "new", "gqa", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "plmkit plugin new: NAME: plmkit-gqa exists and is not a "
                                                     "folder; choose another\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plmkit-gqa", "taken"]
