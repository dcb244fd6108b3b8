"""Shared test helpers: the repository root, and running the real ``plmkit`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RECIPES = REPO / "recipes"
ASSETS = Path(__file__).resolve().parent / "assets"


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m plmkit ARGS`` as a user would, in a subprocess; never raises on failure."""
    full_env = {**os.environ, "CI": "true", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "plmkit", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def fresh_plugins(monkeypatch):
    """Reload plugins inside this process after the test changes PLMKIT_PLUGINS."""
    from plmkit import plugins

    plugins.reset()
    yield monkeypatch
    plugins.reset()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: a second thread only adds synchronisation (10x slower on a busy 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def reseal(folder: Path) -> None:
    """Record a run folder's files as they are now in its completion marker, as if plmkit had
    written them (for tests that edit a finished folder on purpose, not to simulate damage)."""
    from plmkit.training.files import file_digest

    files = {p.name: file_digest(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != ".complete"}
    (folder / ".complete").write_text(json.dumps({"files": files}))
