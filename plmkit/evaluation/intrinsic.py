"""What the ``lm`` and ``generation`` tasks measure on a model, and the baselines beside them.

* ``bits_per_word``: the model's own held-out batches made from the comparison's documents (its
  batching's ``heldout`` layout), evaluated with ``plmkit.evaluation.metrics``: bits per word where
  a head reports summed NLL (causal LM; ELMo's forward and backward LMs); optionally the
  pseudo-log-likelihood of a masked LM (Salazar et al. 2020), which is not a probability and is
  labelled so.
* ``score_generation``: continuations of test documents' first sentences, sampled in batches,
  cut at their first " .", parsed by ``plmkit.data.parse`` in the prompt's context: the share
  that is grammatical, and the generator's bits per word of those.
* baselines: a word unigram model of training documents (bits per word; its samples for
  generation), the generator's floor, and the generator's own next sentences.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import torch

__all__ = ["bits_per_word", "unigram_bits_per_word", "score_generation", "generation_references", "sample_batch"]

_UNIGRAM_DOCUMENTS = 2000  # training documents the unigram baselines are counted on
_END = "</d>"  # the document end, a word for the unigram model as for the floor


# -- lm ------------------------------------------------------------------------------------------------
def bits_per_word(run: Any, corpus: Any, params: Any, seed: int) -> dict[str, Any]:
    """Held-out bits per word of ``run`` on every document of ``corpus`` (its own batch layout)."""
    from ..data.batching import eval_batches
    from ..data.prepare import build_batching
    from .metrics import evaluate

    floor = corpus.floor_bits_per_word()
    texts = [[s.text for s in doc.sentences] for doc in corpus.documents]
    batching = build_batching(run.recipe)
    batcher = batching.batcher(batching.encode(texts, run.tokenizer), run.tokenizer)
    instances = batcher.heldout(seed)
    batches, words = eval_batches(instances, batcher.collate, run.recipe.train.batch_size, len(instances), seed)
    device = next(run.model.parameters()).device
    metrics = evaluate(run.model, [{k: v.to(device) for k, v in b.items()} for b in batches], None, words=sum(words))
    out: dict[str, Any] = {"floor_bits_per_word": floor, "documents": len(texts)}
    if metrics.get("bits_per_word") is not None:
        out["value"] = metrics["bits_per_word"]
        out["above_floor"] = metrics["bits_per_word"] / floor - 1
        if metrics.get("bits_per_word_backward") is not None:
            out["bits_per_word_backward"] = metrics["bits_per_word_backward"]
        if run.recipe.model.direction == "bilm":
            out["note"] = "sentence by sentence (no document context), each sentence end counted as a word"
        return out
    if params.pseudo_log_likelihood and run.recipe.model.direction == "bidirectional":
        pll = pseudo_log_likelihood(run, corpus, params.pll_sentences)
        if pll is not None:
            out.update(value=pll, label="PLL", comparable=False,
                       note="pseudo-log-likelihood: each token predicted with the rest of its sentence visible; "
                            "not a probability of the text, not comparable with the floor")
            return out
    out.update(value=None, reason=_no_lm_reason(run, params))
    return out


def _no_lm_reason(run: Any, params: Any) -> str:
    if run.recipe.model.direction == "bidirectional":
        hint = "" if params.pseudo_log_likelihood else " (a pseudo-log-likelihood: --option lm.pseudo_log_likelihood=true)"
        return f"a bidirectional model gives no left-to-right probability of a text{hint}"
    return "no head of this model reports the summed NLL of the text"


@torch.no_grad()
def pseudo_log_likelihood(run: Any, corpus: Any, sentences: int, batch_size: int = 256) -> float | None:
    """Bits per word of test sentences when every token is masked in turn and predicted."""
    tok, model = run.tokenizer, run.model
    if tok.mask_id is None:
        return None
    texts = [s.text for doc in corpus.by_split("test") for s in doc.sentences][:sentences]
    rows, targets, words = [], [], sum(len(t.split()) for t in texts)
    encoded = run.encode(texts)
    for r, (start, end) in enumerate(encoded.spans):
        ids = encoded.batch["input_ids"][r]
        for position in range(start, end):  # one copy per token, that token masked
            rows.append((r, position))
            targets.append(int(ids[position]))
    device = next(model.parameters()).device
    nats = 0.0
    for b in range(0, len(rows), batch_size):
        chunk = rows[b: b + batch_size]
        index = torch.tensor([r for r, _ in chunk])
        batch = {k: v[index].to(device) for k, v in encoded.batch.items()}  # (n, T) copies of their sentences
        positions = torch.tensor([p for _, p in chunk], device=device)
        batch["input_ids"][torch.arange(len(chunk), device=device), positions] = tok.mask_id
        logits = model(**batch).logits  # (n, T, V)
        if logits is None:
            return None
        logp = logits[torch.arange(len(chunk), device=device), positions].float().log_softmax(-1)  # (n, V)
        nats -= float(logp[torch.arange(len(chunk)), torch.tensor(targets[b: b + batch_size], device=device)].sum())
    return nats / math.log(2) / words


def _unigram(corpus: Any) -> tuple[Counter, int]:
    counts: Counter = Counter()
    for doc in corpus.training_documents(_UNIGRAM_DOCUMENTS):
        counts.update(doc.text.split())
        counts[_END] += 1
    return counts, sum(counts.values())


def unigram_bits_per_word(corpus: Any) -> float:
    """An add-one word unigram model of training documents, on the comparison's documents
    (every word and one document end per document, as the floor counts them)."""
    from ..data.corpus import default_lexicon

    counts, total = _unigram(corpus)
    vocabulary = len(default_lexicon().vocabulary()) + 1
    nats, words = 0.0, 0
    for doc in corpus.documents:
        for word in doc.text.split() + [_END]:
            nats -= math.log((counts[word] + 1) / (total + vocabulary))
            words += 1
    return nats / math.log(2) / words


# -- generation ----------------------------------------------------------------------------------------
def _prompts(corpus: Any, count: int) -> list[Any]:
    return [doc for doc in corpus.by_split("test") if len(doc.sentences) > 1][:count]


def score_generation(run: Any, corpus: Any, params: Any, seed: int) -> dict[str, Any]:
    """Sample a continuation of each prompt, keep its first sentence, score it with the grammar."""
    docs = _prompts(corpus, params.prompts)
    prompts = [doc.sentences[0].text for doc in docs]
    continuations = sample_batch(run, prompts, params.max_tokens, params.temperature, params.top_k, seed)
    return _score([c.split() for c in continuations], docs, params.shown)


def generation_references(corpus: Any, params: Any, seed: int) -> dict[str, Any]:
    """The same scoring for the generator's own next sentences and for a word unigram sampler."""
    import random

    docs = _prompts(corpus, params.prompts)
    reference = _score([list(doc.sentences[1].words) for doc in docs], docs, params.shown)
    counts, _ = _unigram(corpus)
    words = [w for w in counts if w != _END]
    rng = random.Random(seed)
    samples = []
    for _ in docs:
        sentence: list[str] = []
        while len(sentence) < 30 and (not sentence or sentence[-1] != "."):
            sentence.append(rng.choices(words, weights=[counts[w] for w in words])[0])
        samples.append(sentence)
    unigram = _score(samples, docs, params.shown)
    return {"majority": {**unigram, "label": "word unigram samples"},
            "reference": {**reference, "label": "the generator's next sentences"}}


def _score(sentences: list[list[str]], docs: list[Any], shown: int) -> dict[str, Any]:
    """Grammatical share of the first sentence of each continuation, and the generator's bits per word."""
    from ..data.parse import Parser

    parser = Parser()
    grammatical, bits, finished, examples = 0, [], 0, []
    for words, doc in zip(sentences, docs):
        context = parser.context_of(list(doc.sentences[0].words))
        first = words[: words.index(".") + 1] if "." in words else words
        finished += "." in words
        parse = parser.sentence(first, context)
        if parse.ok:
            grammatical += 1
            bits.append(-parse.logprob / math.log(2) / len(first))
        if len(examples) < shown:
            examples.append({"prompt": doc.sentences[0].text, "sentence": " ".join(first),
                             "grammatical": parse.ok, "error": parse.error})
    count = max(len(docs), 1)
    return {"value": grammatical / count, "prompts": len(docs), "finished": finished / count,
            "bits_per_word": sum(bits) / len(bits) if bits else None, "samples": examples}


@torch.no_grad()
def sample_batch(run: Any, prompts: list[str], max_tokens: int, temperature: float, top_k: int | None,
                 seed: int, batch_size: int = 64) -> list[str]:
    """Each prompt continued by ``run``'s causal model (sampling as ``plmkit generate``), until its
    first sentence end, the document end, or ``max_tokens``; returns the decoded continuations."""
    from ..generation import next_token

    tok, model = run.tokenizer, run.model
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    start = [tok.bos_id] if tok.bos_id is not None else []
    stop = {i for i in (tok.eos_id, tok.sep_id) if i is not None}
    ends_sentence = {i for i in range(tok.vocab_size) if "." in tok.token_text(i)}
    out = []
    for b in range(0, len(prompts), batch_size):
        rows = [start + tok.encode(p) for p in prompts[b: b + batch_size]]
        new: list[list[int]] = [[] for _ in rows]
        done = [False] * len(rows)
        for _ in range(max_tokens):
            live = [i for i, d in enumerate(done) if not d]
            if not live:
                break
            ids, mask = _pad([rows[i] + new[i] for i in live], tok.pad_id)
            model.reset_states()
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits  # (n, T, V)
            last = logits[torch.arange(len(live)), mask.sum(1).to(device) - 1]  # (n, V) at each row's end
            tokens = next_token(last, temperature, top_k, None, generator)
            for i, token in zip(live, tokens.tolist()):
                if token in stop:
                    done[i] = True
                    continue
                new[i].append(token)
                done[i] = token in ends_sentence
        out.extend(tok.decode(ids_) for ids_ in new)
    return out


def _pad(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask
