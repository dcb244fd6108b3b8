"""The comparison's report, from what is on disk: report.json (every number), report.md, the plots.

``write_report(DIR)`` reads compare.json, the run folders and the result files (nothing is
computed again: ``plmkit report DIR`` re-renders) and writes:

* report.json: the plan (settings, budget, seeds, tasks, protocols, corpus, machine, versions),
  each run's resolved recipe and what it used, every cell of every seed, the table, the marks;
* report.md: the table (rows: models, then baselines; columns: each task under each protocol,
  then parameters, pretraining tokens/s, wall time, peak memory), the budget each contender
  used, a paragraph per task, the layer heat maps and a plain-language summary;
* the plots (``plots.draw``).

Marks: a column's best model cell is **bold** only when it beats the second by more than their
combined deviation (the square root of the sum of their variances over seeds); cells within that
of the best are marked "(tie)". With one seed nothing is marked: there is no deviation to compare.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

from .cells import row_name
from .compare import BASELINE_ROWS, COMPARE_FILE
from .plots import MISSING, draw
from .tasks import mean_and_std
from .usage import usage
from .wording import claims, known_task_checks, task_paragraph

__all__ = ["write_report", "build_report", "markdown_table"]

BASELINE_TITLES = {"majority": "majority class", "random": "random embeddings", "reference": "the generator"}
_PROTOCOL_TITLES = {"probe": "probe", "finetune": "fine-tune", "direct": ""}


def write_report(out: Any, echo: Callable[[str], None] | None = None,
                 note: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build the report of comparison folder ``out``, write its files, echo the table; returns report.json's data.

    ``note`` receives the one line saying the plots need matplotlib, when it is missing."""
    from ..errors import RunError
    from ..training.files import atomic_write_json, atomic_write_text

    out = Path(out)
    if not (out / COMPARE_FILE).is_file():
        raise RunError(f"{out}: not a comparison folder (no {COMPARE_FILE}); give the --out folder of plmkit compare")
    report = build_report(out)
    plots = draw(report, out)
    report["plots"] = plots or []
    if plots is None:
        report["plots_note"] = MISSING
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", markdown(report))
    if plots is None and note is not None:
        note(MISSING)
    if echo is not None:
        echo(terminal(report))
    return report


# -- collecting --------------------------------------------------------------------------------------
def _results(out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """row -> "task.protocol" -> the result file's data."""
    cells: dict[str, dict[str, Any]] = {}
    for path in sorted((out / "results").glob("*/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        cells.setdefault(path.parent.name, {})[path.stem] = data
    return cells


def _runs(out: Path, plan: dict[str, Any], seeds: int) -> dict[str, Any]:
    import yaml

    runs = {}
    for contender in plan["contenders"]:
        for seed in range(seeds):
            # a pretrained contender's run lives in the comparison folder, wherever that is now (a
            # report rendered from another folder, or of a moved comparison); a given run where it was
            run_dir = out / "runs" / row_name(contender["label"], seed) if contender["kind"] == "recipe" \
                else Path(contender["runs"][str(seed)])
            if not (run_dir / "summary.json").is_file():
                continue
            recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text(encoding="utf-8")) \
                if (run_dir / "recipe.yaml").is_file() else yaml.safe_load((run_dir / "model" / "recipe.yaml").read_text())
            heads = {name: spec["type"] for name, spec in (recipe["model"].get("head") or {}).items() if spec}
            runs[row_name(contender["label"], seed)] = {
                "label": contender["label"], "seed": seed, "run_dir": str(run_dir), "recipe": recipe,
                "objective": " + ".join(t for t in heads.values() if t != "scalar_mix"), "usage": usage(run_dir)}
    return runs


def _columns(plan: dict[str, Any]) -> list[dict[str, Any]]:
    columns = []
    for task in plan["tasks"]:
        protocols = ["direct"] if task["measure"] == "direct" else plan["settings"]["protocols"]
        for protocol in protocols:
            title = task["name"] + (f" ({_PROTOCOL_TITLES[protocol]})" if _PROTOCOL_TITLES[protocol] else "")
            percent = task["metric"] in ("accuracy", "grammatical")
            unit = {"accuracy": "accuracy (%)", "grammatical": "grammatical (%)",
                    "bits_per_word": "bits per word"}.get(task["metric"], task["metric"])
            columns.append({"id": f"{task['name']}.{protocol}", "kind": "task", "task": task["name"],
                            "protocol": protocol, "title": title, "metric": task["metric"], "percent": percent,
                            "unit": unit, "higher_is_better": task["higher_is_better"], "known_for": task["known_for"],
                            "measure": task["measure"]})
    for key, title in (("parameters", "parameters"), ("tokens_per_s", "pretraining tokens/s"),
                       ("wall_s", "wall time"), ("peak_memory_mib", "peak memory")):
        columns.append({"id": key, "kind": "resource", "title": title})
    return columns


def _cell(results: list[dict[str, Any] | None]) -> dict[str, Any]:
    present = [r for r in results if r is not None]
    if not present:
        return {"mean": None, "missing": True}
    values = [r["value"] for r in present if r.get("value") is not None]
    if not values:
        return {"mean": None, "reason": present[0].get("reason", "does not apply")}
    mean, std = mean_and_std(values)
    cell = {"values": values, "mean": mean, "std": std, "n": len(values),
            "comparable": present[0].get("comparable", True)}
    if present[0].get("label") and not present[0].get("comparable", True):
        cell["label"] = present[0]["label"]
    groups = {}
    for name in present[0].get("groups", {}):
        group_values = [r["groups"][name]["accuracy"] for r in present if name in r.get("groups", {})]
        groups[name] = dict(zip(("mean", "std"), mean_and_std(group_values)))
    if groups:
        cell["groups"] = groups
    return cell


def _baseline_result(cells: dict[str, Any], row: str, column: dict[str, Any], seed: int) -> dict[str, Any] | None:
    task = column["task"]
    if column["measure"] == "direct":
        data = cells.get(f"baselines-seed{seed}", {}).get(f"{task}.direct")
        if data is None:
            return None
        return data.get(row) or {"value": None, "reason": "not a baseline of this column"}
    if row == "reference" or (row == "random" and column["protocol"] != "probe"):
        return {"value": None, "reason": "not a baseline of this column"}
    return cells.get(f"{row}-seed{seed}", {}).get(f"{task}.probe")


def _resource(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    values = [r["usage"][key] for r in runs if r["usage"].get(key) is not None]
    if not values:
        return {"mean": None}
    mean, std = mean_and_std(values)
    return {"values": values, "mean": mean, "std": std, "n": len(values)}


def build_report(out: Path) -> dict[str, Any]:
    """Everything report.json holds (see the module docstring)."""
    plan = json.loads((out / COMPARE_FILE).read_text(encoding="utf-8"))
    seeds = plan["settings"]["seeds"]
    cells, runs, columns = _results(out), _runs(out, plan, seeds), _columns(plan)
    rows = [{"id": c["label"], "kind": "model", "title": c["label"], "family": c["family"], "source": c["source"],
             "pretrained_once": c["kind"] == "run"} for c in plan["contenders"]]
    rows += [{"id": b, "kind": "baseline", "title": BASELINE_TITLES[b]} for b in BASELINE_ROWS]
    table: dict[str, dict[str, Any]] = {}
    for row in rows:
        table[row["id"]] = {}
        for column in columns:
            if column["kind"] == "resource":
                mine = [runs[row_name(row["id"], s)] for s in range(seeds) if row_name(row["id"], s) in runs]
                table[row["id"]][column["id"]] = _resource(mine, column["id"]) if row["kind"] == "model" else {"mean": None}
            elif row["kind"] == "model":
                results = [cells.get(row_name(row["id"], s), {}).get(column["id"]) for s in range(seeds)]
                table[row["id"]][column["id"]] = _cell(results)
            else:
                table[row["id"]][column["id"]] = _cell([_baseline_result(cells, row["id"], column, s) for s in range(seeds)])
    marks = {c["id"]: _mark(table, rows, c) for c in columns if c["kind"] == "task"}
    report = {
        "title": "plmkit compare: " + ", ".join(c["label"] for c in plan["contenders"]),
        "plan": plan, "seeds": list(range(seeds)), "budget_text": _budget_text(plan),
        "rows": rows, "columns": columns, "table": table, "marks": marks, "runs": runs, "cells": cells,
        "layers": _layer_grid(cells, plan, seeds),
        "missing": sorted(f"{r['id']}: {c['id']}" for r in rows for c in columns
                          if table[r["id"]][c["id"]].get("missing") and not (r["kind"] == "baseline" and c["kind"] == "resource")),
    }
    report["paragraphs"] = {t["name"]: task_paragraph(t, report) for t in plan["tasks"]}
    report["summary"] = claims(report) + known_task_checks(report)
    return report


def _budget_text(plan: dict[str, Any]) -> str:
    budget = plan.get("budget")
    return f"budget {budget['text']} each" if budget else "each recipe's own train.steps (no common budget)"


def _mark(table: dict[str, Any], rows: list[dict[str, Any]], column: dict[str, Any]) -> dict[str, Any]:
    """Best / tie marks of one column among the model rows (see the module docstring)."""
    cells = [(r["id"], table[r["id"]][column["id"]]) for r in rows if r["kind"] == "model"]
    cells = [(row, c) for row, c in cells if c.get("mean") is not None and c.get("comparable", True)]
    if len(cells) < 2:
        return {"best": None, "tie": [], "note": "fewer than two models with a value"}
    if any(c["n"] < 2 for _, c in cells):
        return {"best": None, "tie": [], "note": "one seed: no deviation, nothing marked"}
    sign = 1 if column["higher_is_better"] else -1
    cells.sort(key=lambda rc: -sign * rc[1]["mean"])
    (top, best), (_, second) = cells[0], cells[1]
    if abs(best["mean"] - second["mean"]) > math.hypot(best["std"], second["std"]):
        best["mark"] = "best"
        return {"best": top, "tie": []}
    tied = [row for row, c in cells if abs(best["mean"] - c["mean"]) <= math.hypot(best["std"], c["std"])]
    for row, c in cells:
        if row in tied:
            c["mark"] = "tie"
    return {"best": None, "tie": tied}


def _layer_grid(cells: dict[str, Any], plan: dict[str, Any], seeds: int) -> dict[str, dict[str, list]]:
    """label -> task -> mean probe accuracy of each layer over seeds."""
    grid: dict[str, dict[str, list]] = {}
    for contender in plan["contenders"]:
        label = contender["label"]
        grid[label] = {}
        for task in plan["tasks"]:
            per_seed = [cells.get(row_name(label, s), {}).get(f"{task['name']}.probe", {}).get("layers") for s in range(seeds)]
            per_seed = [p for p in per_seed if p]
            if per_seed:
                grid[label][task["name"]] = [mean_and_std([p[k] for p in per_seed])[0] for k in range(len(per_seed[0]))]
    return grid


# -- rendering ---------------------------------------------------------------------------------------
def _number(value: float, column: dict[str, Any]) -> str:
    if column.get("percent"):
        return f"{value * 100:.1f}"
    return f"{value:.3f}"


def cell_text(cell: dict[str, Any], column: dict[str, Any]) -> str:
    if cell.get("missing"):
        return "missing"
    if cell.get("mean") is None:
        return "n/a" if cell.get("reason") else "—"
    if column["kind"] == "resource":
        return _resource_text(cell, column["id"])
    text = _number(cell["mean"], column)
    if cell.get("n", 1) > 1:
        text += f" ± {_number(cell['std'], column)}"
    if cell.get("label"):
        text += f" ({cell['label']})"
    if cell.get("mark") == "best":
        return f"**{text}**"
    return text + (" (tie)" if cell.get("mark") == "tie" else "")


def _resource_text(cell: dict[str, Any], key: str) -> str:
    from ..training.progress import format_duration

    value = cell["mean"]
    if key == "parameters":
        return f"{value / 1e6:.2f}M"
    if key == "tokens_per_s":
        return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"
    if key == "wall_s":
        return format_duration(value)
    return f"{value:.0f} MiB"


def markdown_table(report: dict[str, Any]) -> str:
    columns = report["columns"]
    lines = ["| model | " + " | ".join(c["title"] for c in columns) + " |",
             "|---|" + "|".join("---:" for _ in columns) + "|"]
    for row in report["rows"]:
        texts = [cell_text(report["table"][row["id"]][c["id"]], c) for c in columns]
        if row["kind"] == "baseline" and all(t in ("—", "n/a") for t in texts):
            continue
        title = row["title"] if row["kind"] == "model" else f"*{row['title']}*"
        lines.append(f"| {title} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def usage_table(report: dict[str, Any]) -> str:
    from ..training.progress import format_duration

    lines = ["| model | seed | steps | tokens | optimiser-step time | est. FLOPs | wall time | peak memory |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, run in report["runs"].items():
        u = run["usage"]
        steps = f"{u['steps']}" + (" (stopped at 1.5x the time)" if u["stopped_early"] else "")
        tokens = f"{u['tokens'] / 1e6:.2f}M" if u["tokens"] else "unknown"
        seconds = format_duration(u["seconds"]) if u["seconds"] else "unknown"
        flops = f"{u['flops']:.2e}" if u["flops"] else "unknown"
        memory = f"{u['peak_memory_mib']:.0f} MiB ({u['memory_kind']})" if u["peak_memory_mib"] else "unknown"
        wall = format_duration(u["wall_s"]) + (" (last attempt)" if u["resumed"] else "") if u["wall_s"] else "unknown"
        lines.append(f"| {run['label']} | {run['seed']} | {steps} | {tokens} | {seconds} | {flops} | {wall} | {memory} |")
    return "\n".join(lines)


def _notes(report: dict[str, Any]) -> list[str]:
    plan, seeds = report["plan"], len(report["seeds"])
    notes = [f"Mean ± standard deviation over {seeds} seeds" if seeds > 1 else
             "One seed: single values, no deviation, and no cell is marked best",
             "**bold**: best of the column by more than the combined deviation of it and the second; "
             "(tie): within that of the best" if seeds > 1 else "",
             "Accuracies and the grammatical share in %, test split; lm in bits per word (lower is better)",
             "*majority class*: the most frequent training label; for lm and generation a word unigram model "
             "of training documents. *random embeddings*: a fixed random vector per word, the same probe "
             "(mean of the words for a text). *the generator*: the corpus generator's own floor (lm) and "
             "next sentences (generation)",
             "n/a: the task does not apply to that model (reason in report.json)"]
    if any(r.get("pretrained_once") for r in report["rows"]) and seeds > 1:
        notes.append("A trained run given to compare is pretrained once: its seeds vary probes and fine-tuning only")
    notes += plan.get("notes", [])
    if report["missing"]:
        notes.append(f"missing cells ({len(report['missing'])}): the comparison has not finished; run it again")
    return [n for n in notes if n]


def _plan_lines(report: dict[str, Any]) -> list[str]:
    plan = report["plan"]
    corpus, machine = plan["corpus"], plan["machine"]
    finetune = plan["protocols"]["finetune"]
    splits = corpus["splits"]
    return [
        f"- command: `plmkit {' '.join(plan['argv'])}`" if plan.get("argv") else "",
        f"- pretraining: {report['budget_text']}; seeds {', '.join(map(str, report['seeds']))} "
        f"(train.seed + seed); recipes resolved in report.json",
        f"- tasks read {corpus['documents']} documents of the generated corpus (seed {corpus['seed']}) that every "
        f"contender held out (train/dev/test documents {splits['train']}/{splits['dev']}/{splits['test']}); the "
        f"generator's floor on them: {corpus['floor_bits_per_word']:.3f} bits per word",
        f"- probe: {plan['protocols']['probe']['classifier']}, {plan['protocols']['probe']['optimizer']}, early "
        f"stopping on dev; the cell is the scalar-mix probe over all layers, the heat maps the per-layer probes",
        f"- fine-tune: {finetune['steps']} steps, batch {finetune['batch_size']}, learning rates "
        f"{', '.join(f'{lr:g}' for lr in finetune['lrs'])} (the best on dev reported), a linear layer on the top layer",
        f"- machine: {machine['platform']}, {machine['cpus']} CPUs" + (f", {machine['cuda']}" if machine.get("cuda") else "")
        + f"; plmkit {machine['plmkit']}, torch {machine['torch']}, python {machine['python']}",
    ]


def markdown(report: dict[str, Any]) -> str:
    plots = set(report.get("plots", []))
    parts = [f"# {report['title']}", "", *[line for line in _plan_lines(report) if line], "", "## Results", "",
             markdown_table(report), "", *[f"- {n}" for n in _notes(report)], ""]
    if "tasks.png" in plots:
        parts += ["![every column as a bar chart](tasks.png)", ""]
    parts += ["## Summary", "", *[f"- {s}" for s in report["summary"]], ""]
    parts += ["## Pretraining: the budget each contender used", "", usage_table(report), ""]
    if "loss_curves.png" in plots:
        parts += ["![held-out loss against tokens and seconds](loss_curves.png)", ""]
    parts += ["## Tasks", ""]
    for task in report["plan"]["tasks"]:
        parts += [f"### {task['name']}", "", report["paragraphs"][task["name"]], ""]
    heat = [f for f in sorted(plots) if f.startswith("layers_")]
    if heat:
        parts += ["## Which layer knows what", "", "Per-layer probe accuracy (%, mean over seeds); layer 0 is the "
                  "embedding output.", "", *[f"![{f[7:-4]}]({f})" for f in heat], ""]
    if report.get("plots_note"):
        parts += [f"_{report['plots_note']}_", ""]
    return "\n".join(parts)


def terminal(report: dict[str, Any]) -> str:
    lines = [report["title"], "", markdown_table(report), ""]
    lines += [f"- {s}" for s in report["summary"]]
    return "\n".join(lines)
