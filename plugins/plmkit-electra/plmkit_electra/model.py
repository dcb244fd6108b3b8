"""ELECTRA's generator and discriminator head, composed from plmkit.modules.

    masked input --embedding (shared)--> generator blocks --> tied MLM softmax --> sampled tokens
    corrupted input --the plmkit model (the discriminator)--> hidden_states[-1] --> replaced? (B, T)

``transform_inputs`` runs before the encoder: it trains the generator on the masked positions
and writes its samples into ``input_ids``; ``forward`` reads the encoder's top and scores every
real token as original or replaced.
"""

import torch
import torch.nn.functional as F
from plmkit.modules import IGNORE, MaskedLMHead, TransformerBlock, accuracy_sums, cross_entropy, init_linear
from torch import nn


class ElectraHead(nn.Module):
    def __init__(self, hidden, embedding, vocab_size, generator_hidden, generator_layers, generator_heads,
                 discriminator_weight, std):
        super().__init__()
        self._embedding = [embedding]  # the model's embedding, shared: a plain reference, not registered twice
        self.weight = discriminator_weight
        self.generator_in = nn.Linear(hidden, generator_hidden) if generator_hidden != hidden else nn.Identity()
        self.generator = nn.ModuleList(
            TransformerBlock(generator_hidden, generator_heads, norm="post", activation="gelu", eps=1e-12,
                             dropout=0.1, attn_dropout=0.1) for _ in range(generator_layers))
        for block in self.generator:
            block.init_weights(std)
        init_linear(self.generator_in, std)
        self.generator_lm = MaskedLMHead(generator_hidden, embedding.token_embedding, vocab_size, "gelu", 1e-12,
                                         tie=True, std=std)
        self.discriminator = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))
        init_linear(self.discriminator, std)

    # -- before the encoder ----------------------------------------------------------------------
    def transform_inputs(self, batch):
        labels = batch.get("labels")
        if labels is None:  # no masked positions: the text is used as it is
            return batch
        chosen = labels != IGNORE  # (B, T)
        embedded = self._embedding[0](**{k: batch[k] for k in ("input_ids", "token_type_ids", "position_ids")
                                         if k in batch})  # (B, T, H)
        h = self.generator_in(embedded)  # (B, T, G)
        mask = batch["attention_mask"]
        for block in self.generator:
            h = block(h, mask)
        logits = self.generator_lm.logits(h[chosen])  # (N, V): only the masked positions
        with torch.no_grad():
            sampled = self.sample(logits)
        corrupted = batch["input_ids"].clone()
        corrupted[chosen] = sampled
        replaced = (corrupted != torch.where(chosen, labels, corrupted)).long()  # a sample may equal the original
        replaced = replaced.masked_fill(mask == 0, IGNORE)  # (B, T): 1 replaced, 0 original, -100 padding
        loss = cross_entropy(logits, labels[chosen]) if logits.shape[0] else logits.sum() * 0.0
        return {**batch, "input_ids": corrupted, "replaced": replaced,
                "generator_logits": logits, "generator_loss": loss}

    def sample(self, logits):
        """One token per masked position (N,), drawn from the generator's distribution (N, V)."""
        return torch.multinomial(logits.float().softmax(-1), 1, generator=self._sampler(logits)).squeeze(-1)

    def _sampler(self, logits):
        """Training samples from the global RNG (seeded, restored on resume); evaluation always the same."""
        if self.training:
            return None
        return torch.Generator(device=logits.device).manual_seed(0)

    # -- after the encoder -----------------------------------------------------------------------
    def forward(self, hidden_states, batch):
        logits = self.discriminator(hidden_states[-1]).squeeze(-1)  # (B, T): > 0 means "replaced"
        out = {"logits": logits}
        replaced = batch.get("replaced")
        if replaced is not None:
            real = replaced != IGNORE
            detection = F.binary_cross_entropy_with_logits(logits[real].float(), replaced[real].float())
            out.update(generator_loss=batch["generator_loss"], discriminator_loss=detection,
                       generator_logits=batch["generator_logits"], replaced=replaced,
                       loss=batch["generator_loss"] + self.weight * detection)
        return out

    def metric_sums(self, out, batch):
        """Generator: masked-LM accuracy and summed NLL; discriminator: its loss (nats per token: below the
        base rate's entropy only once it tells replaced tokens apart), accuracy, and recall of replaced tokens."""
        replaced = out.get("replaced")  # the batch the model was called with holds no samples: its output does
        if replaced is None:
            return {}
        labels = batch["labels"][batch["labels"] != IGNORE]
        real = replaced != IGNORE
        guess = (out["logits"] > 0).long()
        positives = (replaced == 1) & real
        nll = F.cross_entropy(out["generator_logits"].float(), labels, reduction="sum")
        detection = F.binary_cross_entropy_with_logits(out["logits"][real].float(), replaced[real].float(),
                                                       reduction="sum")
        return {
            "generator_accuracy": accuracy_sums(out["generator_logits"], labels),
            "generator_nll": (float(nll), float(labels.numel())),
            "discriminator_loss": (float(detection), float(real.sum())),
            "discriminator_accuracy": (float(((guess == replaced) & real).sum()), float(real.sum())),
            "replaced_recall": (float((guess.bool() & positives).sum()), float(positives.sum())),
            "replaced_share": (float(positives.sum()), float(real.sum())),
        }
