"""A failed run leaves nothing half-made, shares no folder, and never damages a run that exists."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO, RECIPES, run_cli

TINY = ["train.steps=2", "train.warmup_steps=1", "train.batch_size=4", "data.documents=60", "eval.batches=1", "model.layers=1",
        "model.hidden=32", "model.attention.heads=2", "train.seq_len=32", "tokenizer.vocab_size=300", "device.type=cpu"]
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def run(*args, cwd=REPO):
    return run_cli("run", *args, env=ONE_THREAD, cwd=cwd)


def test_too_little_data_is_one_line_and_leaves_no_folder(tmp_path):
    text = tmp_path / "tiny.txt"
    text.write_text("one short line .\n\nanother short line .\n")
    out = tmp_path / "run"
    result = run(str(RECIPES / "gpt.yaml"), *TINY, "data.type=text", f"data.paths=[{text}]", "train.seq_len=64",
                 "model.max_positions=64", "--out", str(out))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "makes no 64-token sequence" in line and "lower train.seq_len" in line
    assert not out.exists()


def test_two_runs_started_together_get_their_own_folders(tmp_path):
    command = [sys.executable, "-m", "plmkit", "run", str(RECIPES / "gpt.yaml"), *TINY]
    procs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-500:] for _, err in outputs]
    folders = {out.strip() for out, _ in outputs}
    assert len(folders) == 2 and len(list((tmp_path / "runs").iterdir())) == 2


def test_a_resume_that_changes_the_model_shape_is_refused_and_changes_nothing(tmp_path):
    out = tmp_path / "run"
    assert run(str(RECIPES / "gpt.yaml"), *TINY, "train.checkpoint_every=1", "--out", str(out)).returncode == 0
    saved = (out / "recipe.yaml").read_text()
    result = run("--resume", str(out), "train.steps=4", "model.hidden=64", "--accept-changes")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "other shapes than the checkpoint's" in result.stderr
    assert (out / "recipe.yaml").read_text() == saved
    again = run("--resume", str(out), "train.steps=4", "--accept-changes")  # the run still continues
    assert again.returncode == 0, again.stderr


def test_an_unwritable_out_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    result = run(str(RECIPES / "gpt.yaml"), *TINY, "--out", str(tmp_path / "afile" / "sub"))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "cannot create the run folder" in line


def test_bad_tokenizers_and_datasets_are_one_line(tmp_path):
    not_a_tokenizer = tmp_path / "data.jsonl"
    not_a_tokenizer.write_text('{"text": "a b"}\n')
    cases = [
        (["tokenizer.type=pretrained", f"tokenizer.path={not_a_tokenizer}"], "is not a tokenizer.json"),
        (["data.type=hf_dataset", "data.name_or_path=json", f"data.data_files=[{not_a_tokenizer}]", "data.split=test"],
         "Bad split"),
    ]
    for overrides, expected in cases:
        result = run(str(RECIPES / "gpt.yaml"), *TINY, *overrides, "--out", str(tmp_path / "run"))
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert expected in line


def test_piping_into_a_reader_that_stops_early_is_not_an_error():
    result = subprocess.run(f"{sys.executable} -m plmkit components | head -1", shell=True, cwd=REPO,
                            capture_output=True, text=True)
    assert result.stdout.strip() == "embedding:" and "Traceback" not in result.stderr
