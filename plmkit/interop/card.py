"""The model card (README.md) an export writes: what the model is, how to load it, what it reached.

Everything comes from the run folder: the resolved recipe, summary.json (held-out metrics,
baselines, wall time; absent while a run is unfinished), versions.json (plmkit, torch, plugins)
and the checkpoint's step. Nothing is measured again here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["model_card", "run_facts"]

_USAGE = {
    "hf-bert": """```python
from transformers import AutoModelForMaskedLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{out}")
model = AutoModelForMaskedLM.from_pretrained("{out}")  # {hf_class}: AutoModelForPreTraining too
logits = model(**tokenizer(["{text}"], return_tensors="pt")).logits
```
The tokenizer writes `[CLS] text [SEP]`, as the model was trained; it pads on the right.""",
    "hf-gpt2": """```python
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{out}")
model = AutoModelForCausalLM.from_pretrained("{out}")
logits = model(**tokenizer(["{text}"], return_tensors="pt")).logits
```
The tokenizer puts `<|endoftext|>` before the text, as the model saw every document in training
(`add_special_tokens=False` leaves it out); it pads on the right, so batched `generate` needs
`tokenizer.padding_side = "left"` and position ids from the attention mask.""",
    "safetensors": """```python
import plmkit

run = plmkit.load_run("{out}")      # model, tokenizer and recipe
print(run.evaluate())
```
or `plmkit eval {out}`, `plmkit embed {out} --text "{text}"`. Every plugin package listed under
Versions must be installed.""",
    "elmo": """```python
from plmkit.interop.elmo import elmo_layers, from_hdf5

model = from_hdf5("{out}/options.json", "{out}/weights.hdf5")
layers, mask = elmo_layers(model, [["{first}", "{second}"]])  # {layers} x (B, T, {width})
```
The files are in the layout of the released ELMo weights (bilm-tf), so allennlp's `Elmo` and
bilm-tf load them too. As in the released files, the softmax of the biLM is not included.""",
}


def run_facts(run: Any) -> dict[str, Any]:
    """summary.json, versions.json and the step of the weights, from a loaded run's folders."""
    folder = Path(run.path)
    facts: dict[str, Any] = {"summary": {}, "versions": {}, "step": None}
    for place in (folder, folder.parent):
        if (place / "summary.json").is_file() and not facts["summary"]:
            facts["summary"] = json.loads((place / "summary.json").read_text(encoding="utf-8"))
        if (place / "versions.json").is_file() and not facts["versions"]:
            facts["versions"] = json.loads((place / "versions.json").read_text(encoding="utf-8"))
    state = Path(run.weights).parent / "trainer_state.json"
    facts["step"] = facts["summary"].get("step") or (json.loads(state.read_text())["step"] if state.is_file() else None)
    return facts


def model_card(run: Any, fmt: str, out: str, hf_class: str | None = None) -> str:
    """README.md for an export of ``run`` in format ``fmt`` ("hf-bert", "hf-gpt2", "safetensors", "elmo")."""
    recipe, facts = run.recipe, run_facts(run)
    versions = facts["versions"]
    m = recipe.model
    usage = _USAGE[fmt].format(out=out, hf_class=hf_class, text="the farmer feeds the dogs .", first="the",
                               second="farmer", layers=m.layers + 1, width=2 * m.hidden)
    lines = [
        "---", f"library_name: {'transformers' if fmt.startswith('hf') else 'plmkit'}",
        f"tags: [plmkit, {m.direction}]", "---", "",
        f"# {recipe.name}", "", recipe.description or f"A {m.direction} language model.", "",
        f"Trained with plmkit {versions.get('plmkit', _plmkit_version())} for {facts['step']} steps "
        f"of {recipe.train.batch_size} x {recipe.train.seq_len} tokens; exported as `{fmt.split('-')[0]}`.", "",
        "## Use it", "", usage, "",
        "## Held-out metrics", "", *_metrics(facts["summary"]), "",
        "## Data", "", *_data(recipe, run.tokenizer), "",
        "## Training", "", *_training(recipe, facts["summary"]), "",
        "## Recipe", "", "The resolved recipe (every default filled in); `plmkit run` trains it again:", "",
        "```yaml", recipe.to_yaml().rstrip(), "```", "",
        "## Versions", "", *_versions(versions), "",
    ]
    return "\n".join(lines)


def _metrics(summary: dict[str, Any]) -> list[str]:
    metrics = summary.get("eval") or {}
    if not metrics:
        return ["The run had not finished when it was exported: no held-out evaluation (`plmkit eval RUN` measures one)."]
    rows = ["| metric | value |", "|---|---:|"]
    rows += [f"| {name} | {value:.4f} |" for name, value in metrics.items() if isinstance(value, (int, float))]
    unigram = summary.get("unigram_baseline") or {}
    if unigram.get("nats_per_token") is not None:
        rows.append(f"| unigram baseline (nats/token) | {unigram['nats_per_token']:.4f} |")
    if summary.get("floor_bits_per_word") is not None:
        rows.append(f"| the generator's floor (bits/word) | {summary['floor_bits_per_word']:.4f} |")
    return rows


def _data(recipe: Any, tokenizer: Any) -> list[str]:
    data = recipe.to_dict()["data"]
    settings = ", ".join(f"{k}: {v}" for k, v in data.items() if k != "type")
    return [f"- source: `{data['type']}`" + (f" ({settings})" if settings else ""),
            f"- tokenizer: `{recipe.tokenizer.type}`, {tokenizer.vocab_size} entries",
            f"- held out: {recipe.eval.holdout:.0%} of the documents"]


def _training(recipe: Any, summary: dict[str, Any]) -> list[str]:
    t = recipe.train
    rows = [f"- steps: {t.steps} (batch {t.batch_size} x {t.seq_len} tokens), AdamW lr {t.lr}, "
            f"{t.schedule} schedule, {t.warmup_steps} warm-up steps, seed {t.seed}"]
    if summary.get("wall_time_s") is not None:
        rows.append(f"- wall time: {summary['wall_time_s']} s on {summary.get('device', 'unknown')}")
    if summary.get("parameters") is not None:
        rows.append(f"- parameters: {summary['parameters']:,}")
    return rows


def _versions(versions: dict[str, Any]) -> list[str]:
    rows = [f"- plmkit {versions.get('plmkit', _plmkit_version())}, torch {versions.get('torch', '?')}, "
            f"python {versions.get('python', '?')}"]
    rows += [f"- plugin {name} {version}" for name, version in (versions.get("plugins") or {}).items()]
    return rows


def _plmkit_version() -> str:
    from .. import __version__

    return __version__
