"""The recipe-facing commands, driven through a real subprocess as a user would."""

from __future__ import annotations

import subprocess
import sys

import yaml

from conftest import REPO, RECIPES, run_cli


def test_validate_accepts_the_default_recipes():
    for name in ("bert", "gpt", "elmo"):
        result = run_cli("validate", f"recipes/{name}.yaml")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"recipes/{name}.yaml: ok")


def test_validate_reports_every_problem_with_exit_2_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {RECIPES / 'elmo.yaml'}\nmodel:\n  layers: two\n  recurrent:\n    cell_dmi: 8\n")
    result = run_cli("validate", str(bad), "train.lr=zero")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"{bad}:3: model.layers: expected an integer >= 1, got 'two'"
    assert lines[1].startswith(f"{bad}:5: model.recurrent.cell_dmi: unknown key (did you mean 'cell_dim'?)")
    assert lines[2].startswith("command line: train.lr: expected a number > 0, got 'zero'")


def test_show_prints_the_resolved_recipe_with_defaults_and_size():
    result = run_cli("show", "recipes/gpt.yaml", "train.steps=50", "model.layers=2")
    assert result.returncode == 0, result.stderr
    body, _, size = result.stdout.partition("\n\n")
    shown = yaml.safe_load(body)
    assert shown["train"]["steps"] == 50 and shown["model"]["layers"] == 2
    assert shown["train"]["grad_accum"] == 1  # a default, filled in
    assert shown["model"]["attention"]["init_std"] == 0.02
    assert "# parameters: " in size and "# training memory (estimate): " in size


def test_show_parameter_count_equals_the_built_model():
    import plmkit

    recipe = plmkit.load_recipe(RECIPES / "gpt.yaml", ["model.layers=2"])
    expected = plmkit.build_model(recipe).num_parameters()
    result = run_cli("show", "recipes/gpt.yaml", "model.layers=2")
    assert f"# parameters: {expected:,} " in result.stdout


def test_components_lists_every_kind_with_parameters_and_provider():
    result = run_cli("components")
    assert result.returncode == 0, result.stderr
    for kind in ("embedding:", "attention:", "recurrent:", "head:", "device:", "tokenizer:", "data:"):
        assert kind in result.stdout
    assert "transformer  [plmkit " in result.stdout
    assert "heads: int = 4" in result.stdout
    one = run_cli("components", "recurrent")
    assert one.stdout.startswith("recurrent:\n") and "attention:" not in one.stdout


def test_components_rejects_an_unknown_kind():
    result = run_cli("components", "atention")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_unknown_command_and_missing_file_are_one_line_errors(tmp_path):
    result = run_cli("validate", str(tmp_path / "none.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{tmp_path / 'none.yaml'}: recipe file not found"
    result = run_cli("frobnicate")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_help_and_validate_do_not_import_torch():
    probe = (
        "import sys; from plmkit.cli.main import main; "
        "code = 0\ntry:\n    code = main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
        "heavy = [m for m in ('torch', 'tokenizers', 'transformers') if m in sys.modules]; "
        "print('HEAVY', heavy); sys.exit(code)"
    )
    for args in (["--help"], ["validate", "recipes/elmo.yaml"]):
        result = subprocess.run([sys.executable, "-c", probe, *args], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "HEAVY []" in result.stdout

