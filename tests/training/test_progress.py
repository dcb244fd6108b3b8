"""What a person sees: a redrawn line on a terminal, few plain lines in logs, a clear summary."""

from __future__ import annotations

import io
from types import SimpleNamespace

from plmkit.training.progress import Progress, format_duration, summary_text

RECIPE = SimpleNamespace(name="gpt", train=SimpleNamespace(steps=30, log_every=10))


def _drive(progress):
    progress.start("runs/x", RECIPE, "cpu, fp32", 1234, 0)
    for step in range(1, 31):
        progress.step(step, {"loss": 3.0, "loss_lm": 3.0, "lr": 1e-3, "tokens_per_s": 2500.0})


def test_a_terminal_gets_one_line_redrawn_in_place():
    out = io.StringIO()
    _drive(Progress(out, interactive=True))
    text = out.getvalue()
    assert "\rstep " in text and text.count("\n") == 1  # only the start line ends with a newline
    assert "step 30/30  loss 3.0000  lr 1.00e-03  2.5k tok/s" in text


def test_logs_get_a_line_every_log_every_steps(monkeypatch):
    monkeypatch.setenv("CI", "true")
    out = io.StringIO()
    progress = Progress(out)  # StringIO is no terminal, and CI=true
    assert not progress.interactive
    _drive(progress)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split()[1] for line in lines[1:]] == ["10/30", "20/30", "30/30"]


def test_the_summary_puts_baselines_beside_the_held_out_numbers():
    summary = {"name": "gpt", "step": 600, "wall_time_s": 421.0, "device": "cpu, fp32", "direction": "causal",
               "lm_head": "lm", "run_dir": "runs/gpt-1",
               "eval": {"loss": 2.5, "loss_lm": 2.5, "perplexity": 12.18, "bits_per_word": 3.4},
               "unigram_baseline": {"nats_per_token": 5.9, "bits_per_word": 9.1}, "floor_bits_per_word": 2.9}
    text = summary_text(summary)
    assert "finished gpt: 600 steps in 7m01s on cpu, fp32" in text
    assert "held-out LM loss 2.5000 nats/token (unigram baseline 5.9000)" in text
    assert "bits/word 3.400 (unigram 9.100, the generator's floor 2.900)" in text
    assert "wrote runs/gpt-1" in text and "plmkit generate runs/gpt-1" in text


def test_durations():
    assert [format_duration(s) for s in (5, 65, 3700)] == ["5s", "1m05s", "1h01m"]


def test_a_plugin_heads_numbers_are_shown_like_a_builtins():
    from plmkit.training.progress import describe_metrics

    line = describe_metrics({"loss": 9.5, "loss_electra": 9.5, "electra_discriminator_accuracy": 0.8125,
                             "electra_generator_nll": 5.1, "mlm_accuracy": 0.45})
    assert line == "loss 9.5000  electra_discriminator_accuracy 0.812  mlm_accuracy 0.450"
    summary = {"name": "electra", "step": 5, "wall_time_s": 3.0, "device": "cpu, fp32", "direction": "bidirectional",
               "lm_head": None, "run_dir": "runs/e", "eval": {"loss": 9.5, "electra_discriminator_accuracy": 0.8125},
               "unigram_baseline": {"nats_per_token": 5.9, "bits_per_word": 9.1}, "floor_bits_per_word": 2.9}
    text = summary_text(summary)
    assert "LM loss" not in text and "held-out: loss 9.5000  electra_discriminator_accuracy 0.812" in text
