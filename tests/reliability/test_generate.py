"""``plmkit generate`` streams what it draws (a huge --max-tokens shows output at once and stops
cleanly), refuses impossible settings in one line before loading anything, and calls a model that
is not causal a usage mistake (exit 2)."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import given, strategies as st

from plmkit import load_recipe
from plmkit.cli.main import main
from plmkit.data.corpus import generate
from plmkit.generation import _IncrementalText, stream_text
from plmkit.plugins import get_registry
from plmkit.runs import load_run
from plmkit.training.loop import train

from tiny import REPO, RECIPES, TINY, fuzz_settings, one_line

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    recipe = load_recipe(RECIPES / "gpt.yaml", TINY + ["train.steps=3"])
    return train(recipe, out_dir=tmp_path_factory.mktemp("gen") / "gpt", progress=False).run_dir


@pytest.mark.parametrize("option, expected", [
    (["--temperature", "nan"], "--temperature: nan is not a finite number >= 0; use 0 (greedy) or more"),
    (["--temperature", "inf"], "--temperature: inf is not a finite number >= 0; use 0 (greedy) or more"),
    (["--top-p", "nan"], "--top-p: nan is outside (0, 1]"),
    (["--seed", str(2**64)], f"--seed: {2**64} is outside 0 .. 2**64 - 1"),
    (["--seed", "-1"], "--seed: -1 is outside 0 .. 2**64 - 1"),
])
def test_impossible_settings_are_one_line_before_the_run_is_read(tmp_path, capsys, option, expected):
    code = main(["generate", str(tmp_path / "no-such-run"), "--prompt", "the", *option])
    assert code == 2 and one_line(capsys.readouterr().err) == expected


def test_a_model_that_is_not_causal_is_a_usage_mistake(tmp_path, capsys):
    recipe = load_recipe(RECIPES / "bert.yaml", ["model.hidden=32", "model.layers=1", "model.attention.heads=2",
                                                  "train.seq_len=24", "train.batch_size=4", "train.steps=1",
                                                  "data.documents=40", "tokenizer.vocab_size=280", "eval.batches=1",
                                                  "device.type=cpu"])
    run = train(recipe, out_dir=tmp_path / "bert", progress=False).run_dir
    code = main(["generate", str(run), "--prompt", "the"])
    assert code == 2
    assert one_line(capsys.readouterr().err).startswith("generate needs a causal model (model.direction: causal)")


def test_generation_is_lazy_and_its_pieces_are_the_whole_text(gpt_run):
    run = load_run(gpt_run)
    started = time.monotonic()
    pieces = stream_text(run, "the farmer", max_tokens=10**9, temperature=1.0, seed=3)
    assert next(pieces) == "the farmer" and time.monotonic() - started < 1  # nothing generated yet
    text = "the farmer" + "".join(piece for _, piece in zip(range(200), pieces))
    assert text.startswith("the farmer")
    assert run.generate("the farmer", max_tokens=30, temperature=0) == "".join(
        stream_text(run, "the farmer", max_tokens=30, temperature=0))


def test_a_huge_max_tokens_streams_from_the_command_line(gpt_run):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "plmkit", "generate", str(gpt_run), "--prompt", "the farmer",
                                "--max-tokens", "1000000000"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    assert selector.select(timeout=120), "no output while generating"
    first = os.read(process.stdout.fileno(), 100)
    assert first.startswith(b"the farmer")
    process.send_signal(signal.SIGINT)  # stop it as a person would
    _, err = process.communicate(timeout=60)
    assert process.returncode in (0, 130) and b"Traceback" not in err


@pytest.fixture(scope="module")
def tokenizers(gpt_run):
    texts = [" ".join(s.text for s in doc.sentences) for doc in generate(40, seed=5)]
    built = {"byte_bpe": load_run(gpt_run).tokenizer}
    for name in ("wordpiece", "word"):
        component = get_registry().get("tokenizer", name)
        built[name] = component.build(component.params(vocab_size=300), None, texts=iter(texts))
    return built


@fuzz_settings(200)
@given(data=st.data())
def test_streamed_pieces_always_join_to_the_decoded_text(tokenizers, data):
    tokenizer = tokenizers[data.draw(st.sampled_from(sorted(tokenizers)), label="tokenizer")]
    ids = data.draw(st.lists(st.integers(0, tokenizer.vocab_size - 1), max_size=150), label="ids")
    cut = data.draw(st.integers(0, len(ids)), label="prompt length")
    text = _IncrementalText(tokenizer, ids[:cut])
    pieces = [text.add()] + [text.add(token) for token in ids[cut:]] + [text.finish()]
    assert "".join(pieces) == tokenizer.decode(ids)
