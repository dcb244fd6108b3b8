"""Tasks that measure a model directly: ``lm`` (held-out bits per word against the generator's floor)
and ``generation`` (sampled continuations scored by the generator's exact log-probability).

The torch code is in ``plmkit.evaluation.intrinsic``.
"""

from __future__ import annotations

from typing import ClassVar, Optional

from pydantic import Field

from plmkit.params import TaskParams


class LMParams(TaskParams):
    """Held-out bits per word where a model defines them (causal LM; ELMo forward and backward), against the generator's floor."""

    measure: ClassVar[str] = "direct"
    metric: ClassVar[str] = "bits_per_word"
    higher_is_better: ClassVar[bool] = False
    known_for: ClassVar[Optional[str]] = "GPT"

    pseudo_log_likelihood: bool = Field(False, description="for bidirectional models, measure the pseudo-log-likelihood "
                                                           "(mask each token in turn; not a probability, labelled PLL)")
    pll_sentences: int = Field(200, ge=1, description="test sentences the pseudo-log-likelihood is measured on")


class GenerationParams(TaskParams):
    """Causal models continue the first sentence of test documents; the generator's grammar scores each sampled sentence."""

    measure: ClassVar[str] = "direct"
    metric: ClassVar[str] = "grammatical"
    directions: ClassVar[tuple[str, ...]] = ("causal",)
    known_for: ClassVar[Optional[str]] = "GPT"

    prompts: int = Field(100, ge=1, description="test documents whose first sentence is a prompt (at most)")
    max_tokens: int = Field(40, ge=1, description="tokens sampled per prompt at most (a sentence must end within them)")
    temperature: float = Field(1.0, gt=0, description="sampling temperature (1: the model's own distribution)")
    top_k: Optional[int] = Field(None, ge=1, description="sample only among the k most likely tokens (None: all)")
    shown: int = Field(5, ge=0, description="sampled sentences kept in report.json as examples")


class LMTask:
    def __init__(self, params: LMParams):
        self.params = params

    def measure(self, run, corpus, seed: int) -> dict:
        from plmkit.evaluation.intrinsic import bits_per_word

        return bits_per_word(run, corpus, self.params, seed)

    def baselines(self, corpus, seed: int) -> dict:
        from plmkit.evaluation.intrinsic import unigram_bits_per_word

        return {"majority": {"value": unigram_bits_per_word(corpus), "label": "word unigram"},
                "reference": {"value": corpus.floor_bits_per_word(), "label": "the generator's floor"}}


class GenerationTask:
    def __init__(self, params: GenerationParams):
        self.params = params

    def measure(self, run, corpus, seed: int) -> dict:
        from plmkit.evaluation.intrinsic import score_generation

        return score_generation(run, corpus, self.params, seed)

    def baselines(self, corpus, seed: int) -> dict:
        from plmkit.evaluation.intrinsic import generation_references

        return generation_references(corpus, self.params, seed)


def register(register):
    register("task", "lm", LMParams, lambda params, ctx=None: LMTask(params))
    register("task", "generation", GenerationParams, lambda params, ctx=None: GenerationTask(params))
