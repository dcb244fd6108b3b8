"""``plmkit compare`` and ``plmkit report``, run as a user runs them, at a size that fits CI.

One reference comparison of the three default recipes (a budget of 10 steps, one seed, small
batches and a small task corpus) is shared by the tests; the others reuse its run folders, so
that the module stays within a few minutes on two busy cores. Numbers are checked against what
they must be (the majority class recomputed from the corpus, the generator's floor, the
generator's own sentences at 100% grammatical, the tokens in metrics.jsonl), and the kill test
checks that a killed comparison resumes to exactly the reference's table.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ASSETS, REPO, run_cli
from plmkit.evaluation.plots import MISSING

TASKS = ["pos", "sentiment", "agreement", "coherence", "topic", "lm", "generation"]
CI_SIZE = ["--budget", "steps=10", "--set", "data.documents=300", "--set", "train.batch_size=8",
           "--set", "eval.batches=2", "--documents", "20", "--finetune-steps", "3", "--finetune-lrs", "1e-3"]
RECIPES = ["plmkit:bert.yaml", "plmkit:gpt.yaml", "plmkit:elmo.yaml"]
THREE = [*RECIPES, "--option", "generation.prompts=8", "--option", "generation.max_tokens=16"]
ENV = {"OMP_NUM_THREADS": "1"}  # tiny models on a busy 2-core machine: a second thread only waits


def compare(out: Path, *sources: str, extra=(), env=None) -> subprocess.CompletedProcess:
    return run_cli("compare", *sources, *CI_SIZE, *extra, "--out", str(out), env={**ENV, **(env or {})}, timeout=600)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "three"
    result = compare(out, *THREE)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result, json.loads((out / "report.json").read_text())


def test_the_comparison_writes_its_report_table_and_real_pngs(reference):
    out, result, report = reference
    md = (out / "report.md").read_text()
    header = "| model | " + " | ".join(f"{t} ({p})" for t in TASKS[:5] for p in ("probe", "fine-tune")) + \
             " | lm | generation | parameters | pretraining tokens/s | wall time | peak memory |"
    assert header in md and header in result.stdout  # the same table on the terminal
    results = md.split("## Results\n\n")[1].split("\n\n")[0]
    table = results.splitlines()
    assert table == [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert [line.split(" | ")[0] for line in table[2:]] == ["| bert", "| gpt", "| elmo", "| *majority class*",
                                                            "| *random embeddings*", "| *the generator*"]
    try:
        import matplotlib.image
    except ImportError:
        assert report["plots"] == [] and not list(out.glob("*.png"))
        assert result.stderr.count(MISSING) == 1 and MISSING in md
        pytest.skip("matplotlib is not installed: no plots to check (compare said so in one line)")
    assert MISSING not in result.stderr
    pngs = ["loss_curves.png", "tasks.png", *[f"layers_{m}.png" for m in ("bert", "gpt", "elmo")]]
    assert sorted(report["plots"]) == sorted(pngs)
    for name in pngs:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", name
        width, height = struct.unpack(">II", data[16:24])
        assert width >= 300 and height >= 150, (name, width, height)
        pixels = matplotlib.image.imread(out / name)  # a PNG matplotlib reads back, of the size it says
        assert pixels.shape[:2] == (height, width) and pixels.std() > 0, name  # not a blank image
        assert f"({name})" in md


def test_every_task_and_model_cell_is_present(reference):
    _, _, report = reference
    assert report["missing"] == []
    applies = {("bert", "lm.direct"): False, ("bert", "generation.direct"): False, ("elmo", "generation.direct"): False}
    for model in ("bert", "gpt", "elmo"):
        for column in (c for c in report["columns"] if c["kind"] == "task"):
            cell = report["table"][model][column["id"]]
            if applies.get((model, column["id"]), True):
                assert cell["n"] == 1 and cell["mean"] is not None, (model, column["id"])
                if column["percent"]:
                    assert 0.0 <= cell["mean"] <= 1.0
            else:
                assert cell["mean"] is None and cell["reason"], (model, column["id"])
        for key in ("parameters", "tokens_per_s", "wall_s", "peak_memory_mib"):
            assert report["table"][model][key]["mean"] > 0
    assert "a bidirectional model gives no left-to-right probability" in report["cells"]["bert-seed0"]["lm.direct"]["reason"]


def test_baselines_are_what_they_must_be(reference):
    from plmkit.evaluation.tasks import build_task, resolve_tasks, task_corpus

    _, _, report = reference
    table = report["table"]
    corpus = task_corpus(1234, 0.05, 20)
    for name in ("sentiment", "topic"):
        (spec,) = resolve_tasks([name])
        examples = build_task(spec).examples(corpus)
        fit = [label for label, part in zip(examples.labels, examples.split) if part != "test"]
        top = max(set(fit), key=lambda label: (fit.count(label), -label))
        test = [label for label, part in zip(examples.labels, examples.split) if part == "test"]
        assert table["majority"][f"{name}.probe"]["mean"] == pytest.approx(test.count(top) / len(test))
        assert table["majority"][f"{name}.finetune"]["mean"] == table["majority"][f"{name}.probe"]["mean"]
    assert table["random"]["pos.probe"]["mean"] > table["majority"]["pos.probe"]["mean"] + 0.3
    assert table["reference"]["generation.direct"]["mean"] == 1.0  # the generator's sentences all parse
    assert table["majority"]["generation.direct"]["mean"] < 0.5  # unigram word salad rarely does
    floor = corpus.floor_bits_per_word()
    assert table["reference"]["lm.direct"]["mean"] == pytest.approx(floor)
    assert report["plan"]["corpus"]["floor_bits_per_word"] == pytest.approx(floor)
    for model in ("gpt", "elmo"):  # nothing beats the entropy floor; 10 steps do not beat a unigram model by much
        assert floor < table[model]["lm.direct"]["mean"]
    assert table["majority"]["lm.direct"]["mean"] > floor + 2


def test_the_report_states_the_budget_each_run_really_used(reference):
    out, _, report = reference
    assert report["plan"]["budget"] == {"kind": "steps", "amount": 10.0, "text": "steps=10"}
    for model in ("bert", "gpt", "elmo"):
        run = report["runs"][f"{model}-seed0"]
        assert run["recipe"]["train"]["steps"] == 10 and run["recipe"]["train"]["batch_size"] == 8
        assert run["recipe"]["train"]["seed"] == 0 and run["recipe"]["data"]["documents"] == 300
        records = [json.loads(line) for line in (out / "runs" / f"{model}-seed0" / "metrics.jsonl").read_text().splitlines()]
        tokens = sum(r["tokens"] for r in records if "tokens_per_s" in r)
        usage = run["usage"]
        assert usage["steps"] == 10 and usage["tokens"] == tokens
        assert usage["flops"] == pytest.approx(usage["flops_per_token"] * tokens)
        assert 1e5 < usage["flops_per_token"] < 1e8  # about 6 x parameters per token
        assert [p["step"] for p in usage["curve"]] == [10]
    assert "| model | seed | steps | tokens | optimiser-step time | est. FLOPs | wall time | peak memory |" in \
        (out / "report.md").read_text()
    machine = report["plan"]["machine"]
    assert machine["cpus"] >= 1 and machine["torch"] and machine["plmkit"] == "0.1.0"


def test_progress_names_each_model_and_phase(reference):
    _, result, _ = reference
    lines = result.stderr.splitlines()
    assert lines[0].endswith("steps, pretraining budget steps=10 per model")
    assert any(line.startswith("[1/") and "bert seed 0: pretraining" in line for line in lines)
    assert any("gpt seed 0: pos probe" in line and "so far" in line for line in lines)
    assert any("elmo seed 0: topic fine-tuning" in line for line in lines)
    assert any(line.startswith("training gpt: ") for line in lines)  # plmkit's own training progress
    assert "Traceback" not in result.stderr


def test_report_renders_the_folder_again_without_computing(reference, tmp_path):
    out, _, report = reference
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("report.*", "*.png"))
    result = run_cli("report", str(copy), env=ENV)
    assert result.returncode == 0, result.stderr
    again = json.loads((copy / "report.json").read_text())
    assert again["table"] == report["table"] and again["summary"] == report["summary"]
    # a moved comparison reads its own run folders, not the ones at the path it was made in
    assert all(run["run_dir"].startswith(str(copy)) for run in again["runs"].values())
    assert (copy / "tasks.png").is_file()
    result = run_cli("report", str(tmp_path))
    assert result.returncode == 1 and result.stderr.strip() == \
        f"{tmp_path}: not a comparison folder (no compare.json); give the --out folder of plmkit compare"


def test_without_matplotlib_the_report_says_so_in_one_line(reference, tmp_path):
    """A Python where ``import matplotlib`` fails (as when it is not installed): no plots, one line why."""
    out, _, report = reference
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("report.*", "*.png"))
    shadow = tmp_path / "shadow" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    path = os.pathsep.join(filter(None, [str(shadow.parent), os.environ.get("PYTHONPATH", "")]))
    result = run_cli("report", str(copy), env={**ENV, "PYTHONPATH": path})
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == MISSING and "Traceback" not in result.stderr
    again = json.loads((copy / "report.json").read_text())
    assert again["plots"] == [] and again["table"] == report["table"] and not list(copy.glob("*.png"))
    assert MISSING in (copy / "report.md").read_text()


def _task_cells(report):
    return {row: {k: v.get("values") for k, v in cells.items() if "." in k} for row, cells in report["table"].items()}


def test_a_killed_comparison_continues_to_the_same_table(reference, tmp_path):
    """Kill while GPT pretrains: the rerun keeps BERT, resumes GPT from its checkpoint, redoes
    what was lost, and ends with exactly the reference's numbers (same seed, same table)."""
    out, _, report = reference
    copy = tmp_path / "resumed"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("gpt-seed0", "elmo-seed0", "report.*", "*.png"))
    for path in (copy / "results" / "bert-seed0").glob("pos.*"):
        path.unlink()  # a lost result is computed again
    kept = (copy / "runs" / "bert-seed0" / "summary.json").stat().st_mtime_ns
    two = ["plmkit:bert.yaml", "plmkit:gpt.yaml", "--tasks", "pos,lm"]
    command = [sys.executable, "-m", "plmkit", "compare", *two, *CI_SIZE, "--out", str(copy)]
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, "CI": "true", **ENV}, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = copy / "runs" / "gpt-seed0" / "checkpoints"
    deadline = time.monotonic() + 300
    while not (checkpoints.is_dir() and any(p.name.startswith("step-") for p in checkpoints.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline, "GPT never wrote a checkpoint"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (copy / "runs" / "gpt-seed0" / "summary.json").exists()
    result = compare(copy, *two)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "bert seed 0: pretraining: already done" in result.stderr
    assert "resuming gpt at step" in result.stderr
    assert (copy / "runs" / "bert-seed0" / "summary.json").stat().st_mtime_ns == kept
    resumed, expected = _task_cells(json.loads((copy / "report.json").read_text())), _task_cells(report)
    assert resumed == {row: {column: expected[row][column] for column in resumed[row]} for row in resumed}
    assert set(resumed) == {"bert", "gpt", "majority", "random", "reference"}
    assert set(resumed["gpt"]) == {"pos.probe", "pos.finetune", "lm.direct"}


@pytest.fixture(scope="module")
def task_plugin(tmp_path_factory):
    """plmkit-tasktest, installed the way pip leaves a package: a module and a dist-info with its entry point."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(ASSETS / "plugins" / "plmkit-tasktest" / "plmkit_tasktest", site / "plmkit_tasktest")
    info = site / "plmkit_tasktest-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plmkit-tasktest\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[plmkit]\ntasktest = plmkit_tasktest\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))}


def test_electra_a_plugin_task_and_a_users_jsonl_in_one_comparison(reference, task_plugin, tmp_path):
    pytest.importorskip("plmkit_electra", reason="the plmkit-electra example plugin is not installed")
    out, _, _ = reference
    reviews = tmp_path / "reviews.jsonl"
    words = {1: ["good", "great", "fine"], 0: ["bad", "awful", "poor"]}
    reviews.write_text("".join(json.dumps({"text": f"the film was {words[i % 2][i % 3]} .", "label": ["neg", "pos"][i % 2]})
                               + "\n" for i in range(60)))
    result = compare(tmp_path / "electra", str(out / "runs" / "gpt-seed0"), "electra:electra.yaml",
                     extra=["--tasks", f"sentiment,negation,{reviews}", "--protocols", "probe"], env=task_plugin)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "electra" / "report.json").read_text())
    assert [r["id"] for r in report["rows"] if r["kind"] == "model"] == ["gpt", "electra"]
    assert {t["name"]: t["provider"] for t in report["plan"]["tasks"]} == \
        {"sentiment": "plmkit", "negation": "plmkit-tasktest", "reviews": "plmkit"}
    for model in ("gpt", "electra"):
        for column in ("sentiment.probe", "negation.probe", "reviews.probe"):
            assert report["table"][model][column]["mean"] is not None, (model, column)
    assert report["runs"]["electra-seed0"]["objective"] == "electra"
    assert report["rows"][0]["pretrained_once"] and "pretraining: already done" not in result.stderr
    assert "gpt seed 0: pretraining" not in result.stderr  # a given run is loaded, not trained
    assert report["table"]["random"]["reviews.probe"]["mean"] == 1.0  # the label is in one word


@pytest.mark.parametrize("args,expected", [
    (["--tasks", "pos,sentimnet"], "--tasks: unknown task 'sentimnet' (did you mean 'sentiment'?)"),
    (["--budget", "fast"], "--budget: expected a wall time (90s, 10m, 1h30m), steps=N, tokens=N (2M) or flops=N"),
    (["--option", "lm.pll_sentences=0"], "--option lm.pll_sentences: expected an integer >= 1, got 0"),
    (["--seeds", "0"], "--seeds: expected a positive count, got 0"),
    (["--set", "train.steps=zero"], "train.steps: expected an integer >= 1, got 'zero'"),
])
def test_a_wrong_command_line_is_one_line_and_exit_2_before_anything_trains(args, expected, tmp_path, capsys):
    from plmkit.cli.main import main

    code = main(["compare", "plmkit:gpt.yaml", "--out", str(tmp_path / "x"), *args])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()


def test_every_mistake_is_reported_at_once_and_user_files_are_safe(tmp_path, capsys):
    from plmkit.cli.main import main

    code = main(["compare", "plmkit:gpt.yaml", "recipes/nope.yaml", "--tasks", "pos,sentimnet", "--out", str(tmp_path / "x")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 2, lines
    assert lines[0].startswith("--tasks: unknown task 'sentimnet' (did you mean 'sentiment'?)")
    assert lines[1] == "recipes/nope.yaml: recipe file not found"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    code = main(["compare", "plmkit:gpt.yaml", "--out", str(tmp_path / "mine")])
    assert code == 1 and capsys.readouterr().err.strip() == \
        f"{tmp_path / 'mine'}: folder exists, is not empty and holds no comparison; choose another --out (nothing was written)"
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
