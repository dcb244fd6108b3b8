"""docs/tooling.md's "Use your model elsewhere" commands run as written (only the training is made small)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

DOC = (REPO / "docs" / "tooling.md").read_text(encoding="utf-8")
# the runs the section trains, made tiny: everything else runs exactly as the page shows it
SMALL = ("train.steps=3 data.documents=200 train.batch_size=8 train.seq_len=32 eval.batches=2 "
         "tokenizer.vocab_size=400 model.hidden=32 model.layers=2 train.warmup_steps=0")


def section_commands(text: str = DOC) -> list[str]:
    block = text.split("## Use your model elsewhere", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].rstrip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_shows_commands_this_page_runs():
    """The README's short version is a subset of the commands tested below, in the same order."""
    readme = section_commands((REPO / "README.md").read_text(encoding="utf-8"))
    ours = section_commands()
    assert readme and [c for c in ours if c in readme] == readme


@pytest.mark.slow
def test_use_your_model_elsewhere_commands_work(tmp_path):
    (tmp_path / "recipes").symlink_to(REPO / "recipes")  # as from the clone's root
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1", "CI": "true"}
    outputs = []
    for command in section_commands():
        if command.startswith("plmkit run "):
            command = command.replace(" --out ", f" {SMALL} --out ")
        result = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{command}\n{result.stderr[-2000:]}"
        outputs.append(result.stdout)
    assert outputs[2].startswith("the farmer")  # transformers generated from the exported GPT
    assert outputs[5].strip() == "[(1, 4, 64), (1, 4, 64), (1, 4, 64)]"  # ELMo's 3 layers of 2 x 32
    assert (tmp_path / "exports" / "elmo-plmkit" / "model.safetensors").is_file()
