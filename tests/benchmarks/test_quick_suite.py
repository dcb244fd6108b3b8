"""CI runs the benchmark suite at tiny sizes, so that it cannot rot: ``benchmarks/run.py --quick``
runs every section in a subprocess and writes its markdown and JSON. Nothing here asserts a
time; the suite itself asserts that every contender computes the same thing (equal losses,
identical generated tokens, identical ELMo outputs)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

SECTIONS = ["peak", "training", "generation", "elmo", "data", "cli", "bf16", "compile", "ablations"]


def test_quick_suite_runs_every_section_and_writes_its_results(tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/run.py", "--quick", "--out", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results["sections"]) == SECTIONS
    assert results["settings"]["quick"] is True and results["settings"]["threads"] == 1
    s = results["sections"]
    assert [r["case"] for r in s["training"]] == ["gpt", "gpt-256", "gpt-512x6", "bert", "bert-256", "bert-512x6"]
    for case in s["training"]:  # the same computation was timed: losses equal before any timing
        assert all(c["eval_loss_diff"] < 1e-4 for c in case["contenders"].values())
        assert case["train_path_loss_diff"] < 1e-4 and case["model_gflop"] > 0
    assert set(s["training"][0]["memory"]) == {"transformers sdpa", "plmkit", "transformers eager"}
    assert all(r["identical_tokens"] for r in s["generation"]) and len(s["generation"]) == 4
    assert max(s["elmo"][0]["checks"].values()) < 1e-4
    assert [r["layout"] for r in s["data"]] == ["segments", "pairs", "causal", "bilm"]
    assert len(s["bf16"][0]["loss_bf16"]) == len(s["bf16"][0]["loss_fp32"]) == 10
    markdown = (tmp_path / "RESULTS.md").read_text()
    assert markdown.startswith("# plmkit benchmarks (--quick")
    for title in ("## Targets", "## Matmul peak", "## Training steps vs transformers", "## Generation",
                  "## ELMo", "## Data pipeline", "## CLI latency", "## bf16 on the CPU", "## torch.compile",
                  "## Optimisations, on and off"):
        assert title in markdown, title
    again = tmp_path / "again"
    again.mkdir()
    rendered = subprocess.run([sys.executable, "benchmarks/run.py", "--render", str(tmp_path / "results.json"),
                               "--out", str(again)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    first, *rest = markdown.split("\n", 3)[2:]
    first_again, *rest_again = (again / "RESULTS.md").read_text().split("\n", 3)[2:]
    assert rest_again == rest  # the same numbers and tables, measured once
    assert first.endswith("unedited.") and "rendered again from its results.json by `run.py --render`" in first_again
