"""Small trained runs for the interop tests (export, init, TensorBoard): a few steps of tiny models."""

from __future__ import annotations

from conftest import RECIPES

SMALL = ["data.documents=200", "tokenizer.vocab_size=400", "train.seq_len=32", "train.batch_size=8",
         "train.steps=4", "train.warmup_steps=0", "eval.batches=2", "device.type=cpu"]
GPT = ["model.hidden=32", "model.layers=2", "model.attention.heads=2", "model.max_positions=64"]
BERT = ["model.hidden=32", "model.layers=2", "model.attention.heads=2"]
ELMO = ["model.hidden=16", "model.recurrent.cell_dim=32", "model.embedding.filters=[[1,4],[2,8],[3,16]]",
        "tokenizer.vocab_size=300", "train.seq_len=16"]


def trained(tmp_path_factory, recipe: str, *overrides: str):
    import torch

    from plmkit import load_recipe
    from plmkit.training.loop import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: a second thread only adds synchronisation
    try:
        out = tmp_path_factory.mktemp(recipe.split(".")[0]) / "run"
        return train(load_recipe(RECIPES / recipe, [*SMALL, *overrides]), out_dir=out, progress=False).run_dir
    finally:
        torch.set_num_threads(threads)
