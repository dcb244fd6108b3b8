"""The report's words: what each task measures, its numbers in a sentence, and the plain summary.

The summary says, column by column, which model (and family) did best or that it is a tie, and
where that agrees with or contradicts the usual claims (a task's ``known_for``: ELMo for POS,
BERT for sentence classification, GPT for language modelling and generation); then, for each
model, whether it beats both baselines on the tasks its family is known for, plainly when not.
"""

from __future__ import annotations

from typing import Any

__all__ = ["task_paragraph", "claims", "known_task_checks", "WHAT"]

WHAT = {
    "pos": "Part-of-speech tagging: the universal tag of every word of the test sentences, read at the word's last "
           "token. In this corpus every word has exactly one tag (the grammar gives each word one class), so the "
           "task asks whether a representation keeps the word's identity and class; the random-embeddings row "
           "shows how far word identity alone goes, and the heat maps show in which layer it fades.",
    "sentiment": "Sentence sentiment (negative, neutral, positive): set by the predicate's adjective or emotion verb "
                 "and flipped by \"not\", read as the mean of the sentence's token vectors. \"negated\" is the "
                 "accuracy on the sentences with \"not\", where a bag of words must fail.",
    "agreement": "The number of a verb's subject, read just before the verb: causal and ELMo models read the "
                 "sentence up to the verb, bidirectional models a mask in its place; the verb and everything after "
                 "it are hidden from all. Only verbs whose number no earlier verb gives away. \"attractor\" is the "
                 "accuracy on verbs with a noun of the other number in between (the dogs that the farmer feeds ARE).",
    "coherence": "Does B follow A: consecutive sentences of a document, or B from another document (half each), read "
                 "as one text \"A B\" by every model (no separator, no segment ids). A bag of words cannot express "
                 "it linearly (the mean of two topics is neither), so it measures how the representation relates "
                 "one sentence to the one before.",
    "topic": "The document's topic (one of eight) from its first two sentences, as the mean of their token vectors. "
             "Nouns and verbs are topic-specific, so a bag of words does well.",
    "lm": "Held-out bits per word on the comparison's documents, each model reading them in its own batch layout, "
          "against the generator's floor (the text's true entropy: no model can beat it on average). GPT reads "
          "documents with the context of earlier sentences; ELMo's biLM reads one sentence at a time (forward LM "
          "shown, backward in report.json) and counts each sentence end as a word, which the floor does not. A "
          "masked LM gives no probability of a text; its pseudo-log-likelihood (optional) is not one and is "
          "labelled PLL.",
    "generation": "Causal models continue the first sentence of test documents by sampling; the first sentence they "
                  "write is parsed by the generator's own grammar in the document's context (its topic and "
                  "protagonist). The cell is the share that is grammatical; beside it, the generator's bits per "
                  "word of those sentences (how typical they are) and the same for the generator's own next "
                  "sentences.",
}


def _fmt(cell: dict[str, Any], column: dict[str, Any]) -> str:
    value = cell["mean"] * 100 if column["percent"] else cell["mean"]
    text = f"{value:.1f}" if column["percent"] else f"{value:.3f}"
    if cell.get("n", 1) > 1:
        text += f" ± {cell['std'] * 100:.1f}" if column["percent"] else f" ± {cell['std']:.3f}"
    return text + (f" ({cell['label']})" if cell.get("label") else "")


def _columns_of(report: dict[str, Any], task: str) -> list[dict[str, Any]]:
    return [c for c in report["columns"] if c["kind"] == "task" and c["task"] == task]


def _ranking(report: dict[str, Any], column: dict[str, Any]) -> str:
    table, parts, base = report["table"], [], []
    for row in report["rows"]:
        cell = table[row["id"]][column["id"]]
        if cell.get("mean") is None:
            continue
        (parts if row["kind"] == "model" else base).append(f"{row['title']} {_fmt(cell, column)}")
    text = ", ".join(parts) or "no model values"
    return text + (f"; {', '.join(base)}" if base else "")


def task_paragraph(task: dict[str, Any], report: dict[str, Any]) -> str:
    """What the task measures, then its numbers, column by column."""
    sentences = [WHAT.get(task["type"], task["description"])]
    for column in _columns_of(report, task["name"]):
        title = column["protocol"] if column["protocol"] != "direct" else task["metric"].replace("_", " ")
        sentences.append(f"{title.capitalize()}: {_ranking(report, column)}.")
        groups = _group_text(report, column)
        if groups:
            sentences.append(groups)
    extra = _direct_extras(report, task)
    if extra:
        sentences.append(extra)
    return " ".join(sentences)


def _group_text(report: dict[str, Any], column: dict[str, Any]) -> str:
    texts: dict[str, list[str]] = {}
    for row in report["rows"]:
        cell = report["table"][row["id"]][column["id"]]
        for name, g in (cell.get("groups") or {}).items():
            if g.get("mean") is not None:
                texts.setdefault(name, []).append(f"{row['title']} {g['mean'] * 100:.1f}")
    return " ".join(f"On \"{name}\" ({column['protocol']}): {', '.join(v)}." for name, v in texts.items())


def _direct_extras(report: dict[str, Any], task: dict[str, Any]) -> str:
    """Generation: the generator's bits per word of grammatical samples; lm: the backward LM."""
    key = {"generation": "bits_per_word", "lm": "bits_per_word_backward"}.get(task["type"])
    if key is None:
        return ""
    parts = []
    for row_id, row_cells in report["cells"].items():
        data = row_cells.get(f"{task['name']}.direct") or {}
        titles = {"majority": "the unigram model", "reference": "the generator"}  # the baselines' own rows
        for name, result in ([(row_id, data)] if "value" in data else [(f"{titles[k]}-seed0", v) for k, v in data.items()
                                                                       if isinstance(v, dict) and k in titles]):
            if isinstance(result, dict) and result.get(key) is not None and row_id.endswith("seed0"):
                parts.append(f"{name.replace('-seed0', '')} {result[key]:.2f}")
    if not parts:
        return ""
    what = "The generator's bits per word of the grammatical sentences (seed 0)" if key == "bits_per_word" else \
        "Backward LM bits per word (seed 0)"
    return f"{what}: {', '.join(parts)}."


def _family(report: dict[str, Any], row_id: str) -> str:
    return next(r.get("family", "") for r in report["rows"] if r["id"] == row_id)


def claims(report: dict[str, Any]) -> list[str]:
    """Per column: who did best (or a tie), and whether that agrees with the usual claim."""
    families = {r.get("family") for r in report["rows"] if r["kind"] == "model"}
    out = []
    for column in (c for c in report["columns"] if c["kind"] == "task"):
        table, mark = report["table"], report["marks"].get(column["id"], {})
        values = [(r["id"], table[r["id"]][column["id"]]) for r in report["rows"] if r["kind"] == "model"]
        values = [(row, c) for row, c in values if c.get("mean") is not None and c.get("comparable", True)]
        if not values:
            continue
        if len(values) == 1:
            out.append(f"{column['title']}: only {values[0][0]} has a value ({_fmt(values[0][1], column)}).")
            continue
        sign = 1 if column["higher_is_better"] else -1
        top, cell = max(values, key=lambda rc: sign * rc[1]["mean"])
        known = column.get("known_for")
        claim = f" (the usual claim: {known})" if known in families else ""
        if mark.get("best"):
            verdict = _verdict(known, _family(report, top), families)
            out.append(f"{column['title']}: {top} ({_family(report, top)}) is best, {_fmt(cell, column)}{claim}; {verdict}.")
        elif mark.get("tie"):
            tied = ", ".join(f"{r} ({_family(report, r)})" for r in mark["tie"])
            note = "; the claim is neither confirmed nor contradicted" if claim else ""
            out.append(f"{column['title']}: a tie within the seeds' deviation between {tied}{claim}{note}.")
        else:
            verdict = _verdict(known, _family(report, top), families)
            out.append(f"{column['title']}: highest {top} ({_family(report, top)}), {_fmt(cell, column)}; one seed, "
                       f"so not a judged win{claim}" + (f"; at face value {verdict}" if claim else "") + ".")
    return out


def _verdict(known: str | None, family: str, families: set) -> str:
    if known not in families:
        return "no usual claim to compare with"
    return "as the usual claim has it" if family == known else f"this contradicts the usual claim that {known} is best here"


def known_task_checks(report: dict[str, Any]) -> list[str]:
    """For each model, on the tasks its family is known for: does it beat both baselines?"""
    out = []
    table = report["table"]
    for row in (r for r in report["rows"] if r["kind"] == "model"):
        for column in (c for c in report["columns"] if c["kind"] == "task" and c.get("known_for") == row["family"]):
            cell = table[row["id"]][column["id"]]
            if cell.get("mean") is None or not cell.get("comparable", True):
                continue
            sign = 1 if column["higher_is_better"] else -1
            beaten, lost = [], []
            for base in ("majority", "random"):
                other = table[base][column["id"]]
                if other.get("mean") is None:
                    continue
                name = "a word unigram model" if column["measure"] == "direct" and base == "majority" else \
                    {"majority": "the majority class", "random": "random embeddings"}[base]
                (beaten if sign * (cell["mean"] - other["mean"]) > 0 else lost).append(f"{name} ({_fmt(other, column)})")
            if not beaten and not lost:
                continue
            head = f"{row['title']} ({row['family']}) on {column['title']}, {_fmt(cell, column)}"
            if lost:
                why = " In this corpus a word's tag is fixed by the word itself, so word identity alone solves it." \
                    if column["task"] == "pos" else ""
                out.append(f"{head}: does NOT beat {' and '.join(lost)}" + (f" (it beats {' and '.join(beaten)})" if beaten else "")
                           + f".{why}")
            else:
                out.append(f"{head}: beats {' and '.join(beaten)}.")
    return out
