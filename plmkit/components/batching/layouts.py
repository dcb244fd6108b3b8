"""Batch layouts: ``segments`` and ``pairs`` (BERT), ``causal`` (GPT), ``bilm`` (ELMo).

A recipe's ``batching:`` section names one; without it, validation picks the built-in layout
that serves exactly the objectives of the recipe's heads (masked_lm alone -> segments, masked_lm
and/or next_sentence -> pairs, causal_lm -> causal, bidirectional_lm -> bilm). Each builds a
``plmkit.data.batching.Batching``; the torch code is in plmkit/data/*_batches.py.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from plmkit.params import BatchingParams


class _MaskingParams(BatchingParams):
    mask_prob: float = Field(0.15, ge=0, le=1, description="fraction of tokens chosen for masked-LM prediction (0: no masking)")
    mask_token_prob: float = Field(0.8, ge=0, le=1, description="of the chosen tokens, the fraction replaced by [MASK]")
    random_token_prob: float = Field(0.1, ge=0, le=1, description="of the chosen tokens, the fraction replaced by a random token")

    def required_tokens(self) -> frozenset[str]:
        return frozenset({"pad", "cls", "sep"} | ({"mask"} if self.mask_prob > 0 else set()))

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        if self.mask_token_prob + self.random_token_prob > 1:
            return [(f"{key}.random_token_prob", f"mask_token_prob {self.mask_token_prob} + random_token_prob "
                     f"{self.random_token_prob} exceed 1; together they must be at most 1")]
        return []

    def masking(self):
        from plmkit.data.bert_batches import Masking

        return Masking(self.mask_prob, self.mask_token_prob, self.random_token_prob)


class SegmentsParams(_MaskingParams):
    """[CLS] consecutive sentences of one document [SEP], masked for the masked-LM objective."""

    objectives: ClassVar[frozenset[str]] = frozenset({"masked_lm"})


class PairsParams(_MaskingParams):
    """[CLS] A [SEP] B [SEP] pairs with next-sentence labels (BERT), masked for the masked-LM objective."""

    objectives: ClassVar[frozenset[str]] = frozenset({"masked_lm", "next_sentence"})

    short_seq_prob: float = Field(0.1, ge=0, le=1, description="how often a pair aims at a random shorter length (BERT: 0.1)")

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        problems = super().check(recipe, key)
        if recipe.train.seq_len < 5:
            problems.append(("train.seq_len", f"{recipe.train.seq_len} is too short for [CLS] A [SEP] B [SEP]; "
                             f"use at least 5"))
        return problems


class CausalParams(BatchingParams):
    """Contiguous chunks of train.seq_len tokens across documents, each document after a separator (GPT)."""

    objectives: ClassVar[frozenset[str]] = frozenset({"causal_lm"})


class BiLMParams(BatchingParams):
    """Sentences as <S> words </S> with word ids and character ids (ELMo's biLM)."""

    objectives: ClassVar[frozenset[str]] = frozenset({"bidirectional_lm"})

    def required_tokens(self) -> frozenset[str]:
        return frozenset({"pad", "bos", "eos", "unk"})

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        if not recipe.tokenizer.params.one_id_per_word:
            return [("tokenizer.type", f"bilm batches predict whole words and need one id per word: use "
                     f"tokenizer type 'word' (got {recipe.tokenizer.type!r})")]
        return []


def _chars(ctx) -> int | None:
    return ctx.recipe.model.embedding.params.chars_per_token() if ctx is not None and ctx.recipe is not None else None


def build_segments(params: SegmentsParams, ctx):
    from plmkit.data.bert_batches import SegmentBatching

    return SegmentBatching(ctx.recipe.train.seq_len, params.masking(), _chars(ctx))


def build_pairs(params: PairsParams, ctx):
    from plmkit.data.bert_batches import PairBatching

    return PairBatching(ctx.recipe.train.seq_len, params.masking(), params.short_seq_prob, _chars(ctx))


def build_causal(params: CausalParams, ctx):
    from plmkit.data.causal_batches import CausalBatching

    return CausalBatching(ctx.recipe.train.seq_len, _chars(ctx))


def build_bilm(params: BiLMParams, ctx):
    from plmkit.data.bilm_batches import BiLMBatching

    return BiLMBatching(ctx.recipe.train.seq_len, _chars(ctx))


def register(register):
    register("batching", "segments", SegmentsParams, build_segments)
    register("batching", "pairs", PairsParams, build_pairs)
    register("batching", "causal", CausalParams, build_causal)
    register("batching", "bilm", BiLMParams, build_bilm)
