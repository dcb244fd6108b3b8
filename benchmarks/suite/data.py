"""The data pipeline per batch layout: tokenization + batching throughput against training throughput.

For each layout (``segments``: recipes/bert-no-nsp.yaml, ``pairs``: bert.yaml, ``causal``:
gpt.yaml, ``bilm``: elmo.yaml), on the generated corpus: the recipe's tokenizer is trained
(untimed), then *tokenize* = the batching's ``encode`` of every document (words -> the layout's
records, as ``prepare`` does), *batch* = the training stream (shuffle, pack, mask, collate into
tensors) for a number of micro-batches. Both in tokens per second (tokens = the batch positions
that hold a token); the pipeline's throughput is the two in series. *train* = plmkit's training
step on those batches (forward, backward, fused AdamW), in tokens per second.
"""

from __future__ import annotations

import itertools
import time

import torch

from .common import ROOT, SEED, load

TARGET = 10.0
LAYOUTS = {"segments": "bert-no-nsp", "pairs": "bert", "causal": "gpt", "bilm": "elmo"}


def run_layout(layout: str, quick: bool, batches: int, train_steps: int) -> dict:
    import plmkit
    from plmkit.data.batching import train_stream
    from plmkit.data.prepare import build_batching, build_context

    load_before = load()
    tiny = ["model.hidden=32", "model.layers=1", "train.batch_size=4"] + (["model.recurrent.cell_dim=64"] if layout == "bilm" else [])
    overrides = [f"data.documents={200 if quick else 3000}", *(tiny if quick else [])]
    recipe = plmkit.load_recipe(ROOT / f"recipes/{LAYOUTS[layout]}.yaml", overrides)
    ctx = build_context(recipe)
    documents = list(recipe.data.component.build(recipe.data.params, ctx).documents())
    tokenizer = recipe.tokenizer.component.build(recipe.tokenizer.params, ctx, texts=(" ".join(d) for d in documents))
    batching = build_batching(recipe)
    assert recipe.batching.type == layout
    start = time.perf_counter()
    records = [e for i in range(0, len(documents), 1024) for e in batching.encode(documents[i:i + 1024], tokenizer)]
    tokenize_s = time.perf_counter() - start
    tokens = sum(e.tokens for e in records)
    batcher = batching.batcher(records, tokenizer)
    micro = recipe.train.batch_size
    start = time.perf_counter()
    made = list(itertools.islice(train_stream(batcher, micro, SEED), batches))
    batch_s = time.perf_counter() - start
    batch_tokens = sum(_tokens(b) for b in made)
    train_tps = _train_throughput(recipe, tokenizer, made[:train_steps + 1])
    tok_tps, batch_tps = tokens / tokenize_s, batch_tokens / batch_s
    pipeline = 1 / (1 / tok_tps + 1 / batch_tps)
    return {"case": f"data {layout}", "layout": layout, "recipe": f"recipes/{LAYOUTS[layout]}.yaml",
            "documents": len(documents), "tokens": tokens, "batches": len(made),
            "tokenize_tokens_per_s": tok_tps, "batch_tokens_per_s": batch_tps, "pipeline_tokens_per_s": pipeline,
            "train_tokens_per_s": train_tps, "ratio": pipeline / train_tps,
            "target": {"goal": f"pipeline >= {TARGET:.0f}x training throughput", "met": pipeline / train_tps >= TARGET},
            "load": [load_before, load()]}


def _tokens(batch: dict) -> int:
    mask = batch.get("attention_mask")
    return int(mask.sum()) if mask is not None else batch["input_ids"].numel()


def _train_throughput(recipe, tokenizer, batches: list[dict]) -> float:
    """plmkit's training tokens/s on these batches: the median step after one untimed step."""
    import statistics

    import plmkit
    from plmkit.training.optim import make_optimizer

    torch.manual_seed(SEED)
    model = plmkit.build_model(recipe, vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id).train()
    optimizer = make_optimizer(model, recipe.train)
    rates = []
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        model(**batch).loss.backward()
        optimizer.step()
        if i:  # the first step warms up
            rates.append(_tokens(batch) / (time.perf_counter() - start))
    return statistics.median(rates)
