"""Test asset: only observes runs (run_finished); registers no components."""

from pathlib import Path

import plmkit


@plmkit.hookimpl
def run_finished(run_dir):  # a hook may take any subset of the spec's arguments
    (Path(run_dir) / "seen-by-plmkit-fault-nohook").write_text("run_finished\n")
