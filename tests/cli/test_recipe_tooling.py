"""Recipes in other people's repositories: ``plmkit validate`` of many files, the pre-commit hook
(its entry run on good and bad files, as pre-commit runs it), and the generated component reference."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import REPO, RECIPES, run_cli

BAD = "name: broken\nmodel:\n  hidden: two\n  layers: 2\n"


def recipes_folder(tmp_path: Path) -> Path:
    """A team's repository: two good recipes (one extends the other) and a wrong one."""
    folder = tmp_path / "team" / "recipes"
    folder.mkdir(parents=True)
    shutil.copy(RECIPES / "gpt.yaml", folder / "gpt.yaml")
    (folder / "wide.yaml").write_text("extends: gpt.yaml\nname: wide\nmodel:\n  hidden: 256\n")
    (folder / "broken.yaml").write_text(BAD)
    return folder


def test_validate_reports_each_file_and_fails_if_any_fails(tmp_path):
    folder = recipes_folder(tmp_path)
    files = [str(folder / n) for n in ("gpt.yaml", "broken.yaml", "wide.yaml")]
    result = run_cli("validate", *files, "train.steps=700")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [f"{files[0]}: ok (gpt: causal, 4 layers, hidden 128)",
                                          f"{files[2]}: ok (wide: causal, 4 layers, hidden 256)"]
    errors = result.stderr.splitlines()
    assert f"{files[1]}:3: model.hidden: expected an integer >= 1, got 'two'" in errors
    assert errors[-1] == "1 of 3 recipes failed"
    good = run_cli("validate", files[0], files[2])
    assert good.returncode == 0 and good.stderr == "" and len(good.stdout.splitlines()) == 2


def hooks() -> list[dict]:
    return yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())


def test_the_pre_commit_hooks_choose_recipe_files():
    assert [h["id"] for h in hooks()] == ["plmkit-validate", "plmkit-validate-system"]
    for hook in hooks():
        pattern = re.compile(hook["files"])  # pre-commit matches it with re.search
        assert all(pattern.search(p) for p in ("recipes/gpt.yaml", "team/recipes/bert.yml"))
        assert not any(pattern.search(p) for p in (".github/workflows/ci.yaml", "recipes/README.md", "configs/x.yaml"))
        assert hook["language"] in ("python", "system") and hook["entry"] == "plmkit validate"


def test_the_hook_entry_passes_good_recipes_and_fails_a_bad_one(tmp_path):
    folder = recipes_folder(tmp_path)
    bin_dir = str(Path(sys.executable).parent)  # where the installed plmkit command is
    env = {"PATH": bin_dir + ":/usr/bin:/bin", "CI": "true"}
    for hook in hooks():
        entry = shlex.split(hook["entry"])
        good = subprocess.run([*entry, "recipes/gpt.yaml", "recipes/wide.yaml"], cwd=folder.parent, env=env,
                              capture_output=True, text=True)
        assert good.returncode == 0, good.stderr
        bad = subprocess.run([*entry, "recipes/gpt.yaml", "recipes/broken.yaml"], cwd=folder.parent, env=env,
                             capture_output=True, text=True)
        assert bad.returncode == 2 and "recipes/broken.yaml:3: model.hidden: expected an integer >= 1" in bad.stderr


def test_docs_components_md_is_the_generated_reference():
    result = run_cli("components", "--format", "markdown", env={"PLMKIT_PLUGINS": ""})
    assert result.returncode == 0, result.stderr
    current = (REPO / "docs" / "components.md").read_text(encoding="utf-8")
    assert current == result.stdout, ("docs/components.md is stale; regenerate it with "
                                      "PLMKIT_PLUGINS= plmkit components --format markdown > docs/components.md")


def test_the_markdown_reference_has_every_component_with_its_parameters():
    result = run_cli("components", "attention", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "## attention\n\nRecipe key: `model.attention`." in text
    assert "| `heads` | int (>= 1) | `4` | attention heads; must divide model.hidden |" in text
    assert "| `dropout` | float (>= 0, <= 1) | `0.1` |" in text
    assert "| `norm` | 'pre' \\| 'post' | `post` |" in text
    if "alibi" in run_cli("plugins").stdout:
        assert "### `alibi` (from plmkit-alibi)" in text
