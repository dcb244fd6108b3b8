"""The comparison's PNG plots, drawn with matplotlib (optional: without it, no plots and one line why).

* ``loss_curves.png``: each model's held-out loss against tokens and against seconds trained
  (two panels; one line per model and seed; each model's own objective);
* ``tasks.png``: a bar chart with error bars per task and protocol (one panel each: every column
  of the table), models and baselines side by side;
* ``layers_LABEL.png``: per model, the per-layer probe accuracy (layers x tasks heat map).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["draw", "MISSING"]

MISSING = "plots skipped: they need matplotlib, which is not installed (pip install matplotlib)"


def draw(report: dict[str, Any], out: Path) -> list[str] | None:
    """Write every plot into ``out``; the file names, or None when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 100, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    files = [_loss_curves(report, out, plt)]
    files += _bars(report, out, plt)
    files += [_layers(report, label, out, plt) for label in report["layers"] if report["layers"][label]]
    return [f for f in files if f]


def _colors(report: dict[str, Any]) -> dict[str, Any]:
    import matplotlib

    palette = matplotlib.colormaps["tab10"]
    rows = [r["id"] for r in report["rows"]]
    return {row: palette(i % 10) for i, row in enumerate(rows)}


def _loss_curves(report: dict[str, Any], out: Path, plt: Any) -> str | None:
    runs = [r for r in report["runs"].values() if r["usage"]["curve"]]
    if not runs:
        return None
    colors = _colors(report)
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=False)
    seen = set()
    for run in runs:
        curve = run["usage"]["curve"]
        label = None if run["label"] in seen else f"{run['label']} ({run['objective']})"
        seen.add(run["label"])
        for ax, x in zip(axes, ("tokens", "seconds")):
            ax.plot([p[x] for p in curve], [p["loss"] for p in curve], marker="o", markersize=3,
                    color=colors.get(run["label"]), alpha=0.9 if run["seed"] == 0 else 0.5, label=label)
    axes[0].set_xlabel("tokens trained")
    axes[1].set_xlabel("seconds of optimiser steps")
    for ax in axes:
        ax.set_ylabel("held-out loss (each model's own objective)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle(f"Pretraining: held-out loss ({report['budget_text']})")
    return _save(figure, out / "loss_curves.png", plt)


def _bars(report: dict[str, Any], out: Path, plt: Any) -> list[str]:
    columns = [c for c in report["columns"] if c["kind"] == "task"]
    if not columns:
        return []
    files = []
    per_row = 4
    lines = math.ceil(len(columns) / per_row)
    figure, axes = plt.subplots(lines, per_row, figsize=(4.2 * per_row, 3.2 * lines), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < len(columns):
            _bar(ax, report, columns[k])
        else:
            ax.axis("off")
    figure.suptitle(f"{report['title']}: mean and standard deviation over seeds")
    files.append(_save(figure, out / "tasks.png", plt))
    return files


def _bar(ax: Any, report: dict[str, Any], column: dict[str, Any]) -> None:
    colors = _colors(report)
    names, means, stds, shades = [], [], [], []
    for row in report["rows"]:
        cell = report["table"][row["id"]][column["id"]]
        if cell.get("mean") is None:
            continue
        scale = 100.0 if column["percent"] else 1.0
        names.append(row["title"])
        means.append(cell["mean"] * scale)
        stds.append((cell.get("std") or 0.0) * scale)
        shades.append(colors[row["id"]] if row["kind"] == "model" else (0.6, 0.6, 0.6, 1.0))
    if not names:
        ax.set_title(f"{column['title']}: no values")
        ax.axis("off")
        return
    ax.bar(range(len(names)), means, yerr=stds, color=shades, capsize=3)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_title(column["title"])
    ax.set_ylabel(column["unit"])
    ax.grid(axis="y", alpha=0.3)


def _layers(report: dict[str, Any], label: str, out: Path, plt: Any) -> str | None:
    grid = report["layers"][label]  # task -> [mean accuracy per layer]
    tasks = list(grid)
    depth = max(len(v) for v in grid.values())
    figure, ax = plt.subplots(figsize=(1.2 + 1.1 * len(tasks), 1.0 + 0.45 * depth))
    values = [[(grid[t][layer] * 100 if layer < len(grid[t]) and grid[t][layer] is not None else float("nan"))
               for t in tasks] for layer in range(depth)]
    image = ax.imshow(values, aspect="auto", cmap="viridis", origin="lower")
    for layer in range(depth):
        for k, _ in enumerate(tasks):
            if values[layer][k] == values[layer][k]:
                shade = image.norm(values[layer][k])
                ax.text(k, layer, f"{values[layer][k]:.0f}", ha="center", va="center", fontsize=8,
                        color="black" if shade > 0.6 else "white")
    ax.set_xticks(range(len(tasks)), tasks, rotation=30, ha="right")
    ax.set_yticks(range(depth), ["emb"] + [str(k) for k in range(1, depth)])
    ax.set_ylabel("layer (0 = embedding output)")
    ax.set_title(f"{label}: probe accuracy (%) per layer")
    figure.colorbar(image, ax=ax, fraction=0.046)
    return _save(figure, out / f"layers_{label}.png", plt)


def _save(figure: Any, path: Path, plt: Any) -> str:
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path.name
