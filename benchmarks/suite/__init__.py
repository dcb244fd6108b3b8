"""plmkit's benchmark suite; ``python benchmarks/run.py`` runs it (see benchmarks/README.md)."""
