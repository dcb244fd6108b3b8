"""Writes are confined: no recipe name or run folder content places output outside the folder the
user gave (or ./runs); an --out that cannot be written, or that walks through ``..``, leaves
nothing behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from plmkit import load_recipe
from plmkit.errors import RunError
from plmkit.training.opening import open_run_dir
from plmkit.training.rundir import default_run_dir, safe_name

from tiny import RECIPES, TINY, fuzz_settings

HOSTILE = ["/abs/path", "../../x", "..", ".", "", "a/../../b", "~root", "\x00", "a\nb", "-rf", ".hidden", "x" * 500,
           "C:\\Windows\\System32", "runs/../../etc", "\u202eevil", "名前", "a" + "/.." * 30]


def recipe(*changes):
    return load_recipe(RECIPES / "gpt.yaml", TINY + list(changes))


@fuzz_settings(300)
@given(name=st.text() | st.sampled_from(HOSTILE))
def test_any_name_makes_a_plain_folder_name_inside_runs(name):
    path = default_run_dir(type("R", (), {"name": name})())
    assert path.parent == Path("runs") and len(path.parts) == 2
    folder = path.name
    assert folder == safe_name(name) + folder[len(safe_name(name)):] and not folder.startswith((".", "-"))
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in folder)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_recipe_name_creates_its_folder_under_runs(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    run, _ = open_run_dir(recipe(f"name={name!r}" if name else "name=''"))
    assert run.path.resolve().parent == (tmp_path / "runs").resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_an_out_through_dot_dot_creates_only_the_folder_it_reaches(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run, _ = open_run_dir(recipe(), out="a/../a/b/../c")
    assert run.path.resolve() == (tmp_path / "a" / "c").resolve()
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["a", "a/c"]
    run.discard()  # what a failure before training does: everything made for the run goes again
    assert list(tmp_path.iterdir()) == []


@contextlib.contextmanager
def as_a_user():
    """The body runs as an ordinary user (root may write anywhere)."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def test_an_out_that_cannot_be_written_is_one_line_before_anything(tmp_path):
    base = Path(tempfile.mkdtemp(prefix="plmkit-ro-"))  # /tmp itself: readable by everyone
    folder, hidden = base / "read-only", tmp_path / "hidden" / "run"
    folder.mkdir()
    os.chmod(base, 0o755)
    folder.chmod(0o555)
    hidden.parent.mkdir()
    hidden.parent.chmod(0o700)
    tiny = recipe()  # read as ourselves: the checkout may sit in a folder only we can enter
    try:
        with as_a_user():
            with pytest.raises(RunError) as read_only:
                open_run_dir(tiny, out=folder)
            with pytest.raises(RunError) as unreachable:
                open_run_dir(tiny, out=hidden)
    finally:
        folder.chmod(0o755)
        shutil.rmtree(base)
    assert read_only.value.lines() == [
        f"{folder}: cannot write into the run folder (Permission denied); choose another --out"]
    assert unreachable.value.lines() == [
        f"{hidden}: cannot use the run folder (Permission denied); choose another --out"]


@pytest.mark.parametrize("link", ["checkpoints", "metrics.jsonl", "tokenizer/tokenizer.json"])
def test_a_run_folder_holding_a_symbolic_link_is_refused(tmp_path, link):
    run = tmp_path / "run"
    (run / "tokenizer").mkdir(parents=True)
    (run / "recipe.yaml").write_text(recipe().to_yaml())
    outside = tmp_path / "outside"
    outside.mkdir()
    (run / link).symlink_to(outside)
    with pytest.raises(RunError) as info:
        open_run_dir(recipe(), resume=run)
    (line,) = info.value.lines()
    assert line == f"{run / link}: is a symbolic link; a run folder holds only plain files and folders (nothing was written)"
    assert list(outside.iterdir()) == []
