"""``plmkit run / generate / embed / eval`` driven through the real command, as a user would."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli

# tiny versions of the three default recipes: each trains in a few seconds
COMMON = ["train.steps=6", "train.warmup_steps=2", "train.batch_size=4", "data.documents=60", "eval.batches=2", "model.layers=1",
          "tokenizer.vocab_size=300", "device.type=cpu"]
TINY = {
    "gpt": ["model.hidden=32", "model.attention.heads=2", "train.seq_len=32", "model.max_positions=32"],
    "bert": ["model.hidden=32", "model.attention.heads=2", "train.seq_len=32"],
    "elmo": ["model.hidden=16", "model.recurrent.cell_dim=32", "model.embedding.filters=[[1,8],[2,8]]",
             "train.seq_len=10"],
}
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # tiny models: threads only add synchronisation


def cli(*args):
    return run_cli(*args, env=ONE_THREAD)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Train each default recipe (tiny) once; the tests below use the run folders."""
    base = tmp_path_factory.mktemp("cli-runs")
    done = {}
    for name, overrides in TINY.items():
        out = base / name
        result = cli("run", f"recipes/{name}.yaml", *COMMON, *overrides, "--out", str(out))
        done[name] = (out, result)
    return done


def snapshot(folder):
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", list(TINY))
def test_run_trains_each_default_recipe_into_a_run_folder(runs, name):
    out, result = runs[name]
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert "Traceback" not in result.stderr and f"finished {name}: 6 steps" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    evaluations = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "eval_loss" in r]
    assert summary["step"] == 6 and summary["eval"]["loss"] == evaluations[-1]["eval_loss"]
    for part in ("model/model.safetensors", "tokenizer/tokenizer.json", "metrics.jsonl", "versions.json"):
        assert (out / part).is_file(), part


def test_generate_continues_a_prompt_and_refuses_a_bidirectional_model(runs):
    gpt, bert = runs["gpt"][0], runs["bert"][0]
    greedy = cli("generate", str(gpt), "--prompt", "the river", "--max-tokens", "8", "--temperature", "0")
    assert greedy.returncode == 0, greedy.stderr
    assert greedy.stdout.startswith("the river")
    again = cli("generate", str(gpt), "--prompt", "the river", "--max-tokens", "8", "--temperature", "0")
    assert again.stdout == greedy.stdout
    refused = cli("generate", str(bert), "--prompt", "the river")
    assert refused.returncode == 2  # a usage mistake, not a run-time failure
    assert refused.stderr.strip().count("\n") == 0 and "needs a causal model" in refused.stderr


@pytest.mark.parametrize("name,width", [("gpt", 32), ("bert", 32), ("elmo", 32)])
def test_embed_prints_one_vector_per_token(runs, name, width):
    result = cli("embed", str(runs[name][0]), "--text", "the old river", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["tokens"]) == len(data["vectors"]) >= 3
    assert all(len(v) == width for v in data["vectors"])
    if name == "elmo":
        assert data["tokens"] == ["the", "old", "river"]  # <S> and </S> are trimmed, as in allennlp
    lines = cli("embed", str(runs[name][0]), "--text", "the old river", "--layer", "0")
    assert lines.returncode == 0 and len(lines.stdout.splitlines()) == len(data["tokens"])


def trained_summary(out):
    return json.loads((out / "summary.json").read_text())


def test_eval_reports_the_held_out_metrics_of_training(runs):
    out = runs["gpt"][0]
    result = cli("eval", str(out), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    trained = json.loads((out / "summary.json").read_text())["eval"]
    assert metrics["loss"] == pytest.approx(trained["loss"], rel=1e-5)
    assert metrics["bits_per_word"] == pytest.approx(trained["bits_per_word"], rel=1e-5)
    assert metrics["floor_bits_per_word"] == trained_summary(out)["floor_bits_per_word"] < metrics["bits_per_word"]
    assert metrics["unigram_nats_per_token"] == trained_summary(out)["unigram_baseline"]["nats_per_token"]
    text = cli("eval", str(runs["bert"][0]))
    assert text.returncode == 0 and "mlm_accuracy " in text.stdout and "nsp_accuracy " in text.stdout


def test_bad_data_fails_in_one_line_and_leaves_the_run_folder_intact(runs, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    gpt = runs["gpt"][0]
    before = snapshot(gpt)
    cases = [
        ["data.type=text", f"data.paths=[{empty}]"],
        ["data.type=text", f"data.paths=[{tmp_path}/nothing/*.txt]"],
    ]
    for data in cases:
        fresh = cli("run", "recipes/gpt.yaml", *COMMON, *TINY["gpt"], *data, "--out", str(tmp_path / "new"))
        assert fresh.returncode in (1, 2), fresh.stderr
        assert len(fresh.stderr.strip().splitlines()) == 1 and "Traceback" not in fresh.stderr, fresh.stderr
        assert not (tmp_path / "new").exists()
        resumed = cli("run", "--resume", str(gpt), "train.steps=8", *data, "--accept-changes")
        assert resumed.returncode in (1, 2) and len(resumed.stderr.strip().splitlines()) == 1, resumed.stderr
    assert snapshot(gpt) == before


def test_resume_refuses_a_changed_recipe_and_dry_run_writes_nothing(runs, tmp_path):
    gpt = runs["gpt"][0]
    before = snapshot(gpt)
    refused = cli("run", "--resume", str(gpt), "train.lr=0.01", "train.steps=8")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    import yaml

    old_lr = yaml.safe_load((gpt / "recipe.yaml").read_text())["train"]["lr"]
    assert f"  train.lr: {old_lr} -> 0.01" in refused.stderr.splitlines()
    assert "  train.steps: 6 -> 8" in refused.stderr.splitlines()
    assert snapshot(gpt) == before
    dry = cli("run", "recipes/gpt.yaml", *TINY["gpt"], "--dry-run", "--out", str(tmp_path / "dry"))
    assert dry.returncode == 0 and "# parameters: " in dry.stdout
    assert not (tmp_path / "dry").exists()
