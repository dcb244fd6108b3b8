"""The README's commands stay true: CI runs them, the files they name exist, the verbs exist."""

from __future__ import annotations

import re

from plmkit.cli.main import VERBS
from plmkit.recipe import shipped

from conftest import REPO

README = (REPO / "README.md").read_text()
CI = (REPO / ".ci" / "run").read_text()


def quickstart_commands():
    block = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_ci_runs_the_readme_install_and_test_commands():
    install, tests = quickstart_commands()
    for step in install.split(" && "):
        if step.startswith("pip install"):
            assert step.replace("pip install ", "pip install --quiet ") in CI, f"CI does not run: {step}"
    assert tests == "pytest" and "\npytest\n" in CI


def test_every_command_in_the_readme_is_a_real_verb():
    code = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", README, flags=re.S))
    verbs = set(re.findall(r"^plmkit ([a-z]+)", code, flags=re.M))
    assert verbs and verbs <= set(VERBS), verbs - set(VERBS)


def test_every_recipe_the_readme_names_exists():
    for name in set(re.findall(r"recipes/[\w.-]+\.yaml", README)):
        assert (REPO / name).is_file() or (REPO / "plugins" / "plmkit-alibi" / "plmkit_alibi" / name).is_file(), name
    scaffolded = set(re.findall(r"plmkit plugin new ([\w-]+)", README))  # made by the reader, not shipped
    for reference in set(re.findall(r"\b[a-z][\w-]*:[\w.-]+\.yaml\b", README)):  # plmkit:gpt.yaml, alibi:gpt-alibi.yaml
        if reference.split(":")[0] not in scaffolded:
            assert shipped.locate(reference).path.is_file(), reference


def test_the_python_example_runs(tmp_path, monkeypatch):
    block = README.split("## Python API", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    code = block.replace('"recipes/', f'"{REPO}/recipes/')
    monkeypatch.chdir(tmp_path)  # the example writes runs/my-gpt
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "runs" / "my-gpt" / "summary.json").is_file()
