"""Evaluation: held-out metrics of a run (``metrics``) and ``plmkit compare`` (docs/compare.md).

compare.py     the comparison: contenders, budget, pretraining processes, the steps, resumability
pretrain.py    one contender's pretraining under the budget (a process of its own)
budget.py      budgets, calibration (tokens, FLOPs, seconds per step), steps
tasks.py       what a task gives, the held-out task corpus, naming tasks on the command line
features.py    a model's vectors of every layer for a task's examples
probes.py      linear probes (per layer, scalar mix) and the majority class
finetune.py    fine-tuning with a learning-rate sweep
intrinsic.py   bits per word, pseudo-log-likelihood, generation scored by the grammar
measure.py     one cell: a model or a baseline on a task under a protocol
cells.py       cells computed once and kept on disk
usage.py       what a pretraining run used (steps, tokens, seconds, FLOPs, memory, loss curve)
report.py      report.json, report.md and the terminal table; wording.py its sentences; plots.py its PNGs
display.py     progress while comparing
"""
