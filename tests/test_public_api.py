"""The public API is small, explicit and importable without torch."""

from __future__ import annotations

import subprocess
import sys

import plmkit


def test_all_is_explicit():
    assert set(plmkit.__all__) == {
        "__version__", "load_recipe", "build_model", "train", "load_run", "hookimpl", "Params", "spec_of", "Recipe",
        "EmbeddingParams", "HeadParams", "BatchingParams", "TokenizerParams",
    }
    for name in plmkit.__all__:
        assert getattr(plmkit, name) is not None


def test_import_plmkit_and_load_a_recipe_without_torch():
    probe = "import sys, plmkit; plmkit.load_recipe('recipes/gpt.yaml'); print('torch' in sys.modules)"
    from conftest import REPO

    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
