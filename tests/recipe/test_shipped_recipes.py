"""Recipes travel with packages: ``PACKAGE:NAME.yaml`` in ``extends:`` and on the command line,
``plmkit recipes``, and the same from a non-editable wheel install (not only this checkout)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import plmkit
from plmkit.errors import RecipeError
from plmkit.recipe import shipped

from conftest import REPO, RECIPES, run_cli

ALIBI = REPO / "plugins" / "plmkit-alibi"
ALIBI_RECIPE = ALIBI / "plmkit_alibi" / "recipes" / "gpt-alibi.yaml"
PLMKIT_RECIPES = sorted(p.name for p in RECIPES.glob("*.yaml"))


def line_of(path: Path, text: str, after: str = "") -> int:
    """The 1-based line of the first ``text`` at or after the line holding ``after``."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line)
    return next(i for i, line in enumerate(lines) if i >= start and text in line) + 1


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


# -- resolution -------------------------------------------------------------------------------
def test_plmkit_names_its_own_recipes_folder():
    for name in PLMKIT_RECIPES:
        assert shipped.locate(f"plmkit:{name}").path.resolve() == (RECIPES / name).resolve()


@pytest.mark.parametrize("package", ["alibi", "plmkit-alibi", "plmkit_alibi", "PLMKIT.Alibi"])
def test_a_plugin_is_named_by_entry_point_distribution_or_import_name(package):
    found = shipped.locate(f"{package}:gpt-alibi.yaml")
    assert found.path.resolve() == ALIBI_RECIPE.resolve()
    assert found.reference == "alibi:gpt-alibi.yaml"


def test_references_and_file_paths_are_told_apart():
    assert shipped.is_reference("plmkit:gpt.yaml") and shipped.is_reference("plmkit-alibi:gpt-alibi.yaml")
    for path in ("recipes/gpt.yaml", "gpt.yaml", "./a:b.yaml", "C:\\recipes\\gpt.yaml", "/tmp/x:y/gpt.yaml"):
        assert not shipped.is_reference(path), path


def test_extends_takes_a_shipped_recipe_as_a_string_or_a_list_entry(tmp_path):
    one = write(tmp_path, "one.yaml", """\
        extends: plmkit:bert.yaml
        name: mine
        model: {layers: 2}
        """)
    recipe = plmkit.load_recipe(one)
    assert (recipe.name, recipe.model.layers, recipe.model.hidden, recipe.tokenizer.type) == ("mine", 2, 128, "wordpiece")
    assert recipe.path == one
    both = write(tmp_path, "both.yaml", """\
        extends: [plmkit:gpt.yaml, alibi:gpt-alibi.yaml]
        train: {steps: 7}
        """)
    recipe = plmkit.load_recipe(both)
    assert (recipe.name, recipe.model.attention.type, recipe.train.steps) == ("gpt-alibi", "alibi", 7)


def test_a_shipped_recipe_loads_by_reference_with_overrides():
    recipe = plmkit.load_recipe("plmkit:gpt-rotary.yaml", ["model.layers=1"])
    assert (recipe.name, recipe.model.layers) == ("gpt-rotary", 1)
    assert [p.type for p in recipe.model.embedding.params.parts] == ["token", "rotary"]


def test_a_file_whose_name_has_a_colon_is_read_as_a_file(tmp_path, monkeypatch):
    write(tmp_path, "a:b.yaml", f"extends: {RECIPES / 'gpt.yaml'}\nname: colon\n")
    monkeypatch.chdir(tmp_path)
    assert plmkit.load_recipe("./a:b.yaml").name == "colon"


# -- errors: one line, located ----------------------------------------------------------------
def test_an_unknown_package_lists_the_packages_that_ship_recipes(tmp_path):
    result = run_cli("validate", "plmkt:gpt.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("plmkt:gpt.yaml: unknown package 'plmkt' (did you mean 'plmkit'?); "
                                    "installed packages that ship recipes: plmkit, alibi")  # electra too, where installed


def test_an_unknown_recipe_gets_a_did_you_mean_and_the_package_recipes(tmp_path):
    child = write(tmp_path, "child.yaml", "name: x\nextends:\n  - plmkit:bert.yaml\n  - plmkit:gtp.yaml\n")
    result = run_cli("validate", str(child), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (f"child.yaml:2: extends: plmkit ships no recipe 'gtp.yaml' (did you mean 'gpt.yaml'?); "
                             f"its recipes: {', '.join(PLMKIT_RECIPES)}\n")


def test_a_plugin_without_recipes_is_named(tmp_path):
    site = tmp_path / "site"
    install_fake_plugin(site, "bare_plugin", "bare-plugin", "bare")
    result = run_cli("validate", "bare:gpt.yaml", cwd=tmp_path, env={"PYTHONPATH": str(site)})
    assert result.returncode == 2
    assert result.stderr.startswith("bare:gpt.yaml: package 'bare' ships no recipes (no recipes/ folder in its import "
                                    "package bare_plugin); installed packages that ship recipes: plmkit, alibi")


def test_errors_inside_a_shipped_recipe_are_located_in_it(tmp_path):
    result = run_cli("validate", "plmkit:gpt.yaml", "model.hidden=130", cwd=tmp_path)
    assert result.returncode == 2
    line = line_of(RECIPES / "gpt.yaml", "heads:", after="attention:")
    assert result.stderr.startswith(f"plmkit:gpt.yaml:{line}: model.attention.heads: 4 heads do not divide model.hidden 130")
    # bert-no-nsp.yaml extends bert.yaml (a neighbour): bert's lines are plmkit:bert.yaml's
    result = run_cli("validate", "plmkit:bert-no-nsp.yaml", "model.hidden=130", cwd=tmp_path)
    line = line_of(RECIPES / "bert.yaml", "heads:", after="attention:")
    assert result.stderr.startswith(f"plmkit:bert.yaml:{line}: model.attention.heads: 4 heads do not divide")
    with pytest.raises(RecipeError) as error:
        plmkit.load_recipe("plmkit:elmo.yaml", ["model.layers=0"])
    assert error.value.lines() == ["command line: model.layers: expected an integer >= 1, got 0"]


# -- the commands, from a folder that is not the checkout ------------------------------------
def test_show_and_validate_take_a_shipped_recipe_from_any_folder(tmp_path):  # run: the wheel tests below
    result = run_cli("show", "plmkit:elmo.yaml", "--no-size", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "name: elmo\n" in result.stdout and "direction: bilm\n" in result.stdout
    result = run_cli("validate", "alibi:gpt-alibi.yaml", cwd=tmp_path)
    assert result.stdout == "alibi:gpt-alibi.yaml: ok (gpt-alibi: causal, 4 layers, hidden 128)\n"


def test_recipes_lists_every_shipped_recipe_by_package_with_its_description(tmp_path):
    result = run_cli("recipes", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"plmkit {plmkit.__version__}"
    width = len("plmkit:elmo-transformer.yaml")
    assert f"  {'plmkit:gpt.yaml':<{width}}  small GPT-2-shaped causal language model" in lines
    assert f"  {'plmkit:bert-no-nsp.yaml':<{width}}  BERT trained with masked-LM only" in lines
    alibi = lines.index("alibi (plmkit-alibi 0.1.0)")
    assert lines[alibi + 1].split() == ["alibi:gpt-alibi.yaml", *"GPT with ALiBi attention and label smoothing "
                                                                  "(plmkit-alibi plugin)".split()]
    listed = json.loads(run_cli("recipes", "--json", cwd=tmp_path).stdout)
    ours = [r for r in listed if r["package"] == "plmkit"]
    assert [r["recipe"] for r in ours] == [f"plmkit:{name}" for name in PLMKIT_RECIPES]
    for entry in ours:  # every description is the recipe's own description: key
        text = (RECIPES / entry["recipe"].split(":")[1]).read_text()
        assert f"\ndescription: {entry['description']}\n" in text


def test_resolving_and_listing_do_not_import_torch(tmp_path):
    probe = (
        "import sys; from plmkit.cli.main import main; code = main(sys.argv[1:]); "
        "print('HEAVY', [m for m in ('torch', 'plmkit_alibi') if m in sys.modules]); sys.exit(code)"
    )
    for args in (["validate", "plmkit:bert-no-nsp.yaml"], ["recipes"]):
        result = subprocess.run([sys.executable, "-c", probe, *args], cwd=tmp_path, capture_output=True, text=True,
                                env={**os.environ, "PLMKIT_PLUGINS": ""})
        assert result.returncode == 0, result.stderr
        assert "HEAVY []" in result.stdout


# -- a non-editable wheel install -------------------------------------------------------------
def install_fake_plugin(site: Path, import_name: str, distribution: str, entry_point: str) -> Path:
    """A plugin as pip lays one out (a package and its .dist-info), without building a wheel."""
    package = site / import_name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    info = site / f"{import_name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[plmkit]\n{entry_point} = {import_name}\n")
    return package


def build_wheel(source: Path, files: list[str], scratch: Path) -> Path:
    """Copy a project's sources away from the checkout, build its wheel there, return it."""
    copy = scratch / "src"
    for name in files:
        target = copy / name
        if (source / name).is_dir():
            shutil.copytree(source / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target)
    dist = scratch / "dist"
    pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(dist), str(copy))
    (wheel,) = dist.glob("*.whl")
    return wheel


def pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory):
    """plmkit and plmkit-alibi installed from wheels into a folder of their own."""
    scratch = tmp_path_factory.mktemp("wheels")
    plmkit_wheel = build_wheel(REPO, ["pyproject.toml", "setup.py", "README.md", "plmkit", "recipes"], scratch / "plmkit")
    alibi_wheel = build_wheel(ALIBI, ["pyproject.toml", "README.md", "plmkit_alibi"], scratch / "alibi")
    site = scratch / "site"
    pip("install", "--no-deps", "--target", str(site), str(plmkit_wheel), str(alibi_wheel))
    return plmkit_wheel, alibi_wheel, site


def in_site(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "CI": "true", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_wheels_carry_the_recipes(wheel_site):
    plmkit_wheel, alibi_wheel, _ = wheel_site
    names = set(zipfile.ZipFile(plmkit_wheel).namelist())
    assert {f"plmkit/recipes/{name}" for name in PLMKIT_RECIPES} <= names
    assert not any(name.startswith("recipes/") for name in names)  # inside plmkit, not a top-level folder
    templates = REPO / "plmkit" / "scaffold" / "plugin"  # plmkit plugin new's templates are package data too
    assert {p.relative_to(REPO).as_posix() for p in templates.rglob("*.tmpl")} <= names
    assert "plmkit_alibi/recipes/gpt-alibi.yaml" in zipfile.ZipFile(alibi_wheel).namelist()


def test_a_wheel_install_runs_shipped_recipes_from_any_folder(wheel_site, tmp_path):
    _, _, site = wheel_site
    where = in_site(site, tmp_path, "-c", "import plmkit, plmkit_alibi; print(plmkit.__file__); print(plmkit_alibi.__file__)")
    assert where.stdout.splitlines() == [str(site / "plmkit" / "__init__.py"), str(site / "plmkit_alibi" / "__init__.py")]

    result = in_site(site, tmp_path, "-m", "plmkit", "run", "plmkit:gpt.yaml", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("gpt: small GPT-2-shaped causal language model\n")

    listed = json.loads(in_site(site, tmp_path, "-m", "plmkit", "recipes", "--json").stdout)
    paths = {entry["recipe"]: Path(entry["path"]) for entry in listed}
    assert paths["plmkit:gpt.yaml"] == site / "plmkit" / "recipes" / "gpt.yaml"
    assert paths["alibi:gpt-alibi.yaml"] == site / "plmkit_alibi" / "recipes" / "gpt-alibi.yaml"
    assert sorted(r for r in paths if r.startswith("plmkit:")) == [f"plmkit:{n}" for n in PLMKIT_RECIPES]

    write(tmp_path, "mine.yaml", "extends: plmkit:bert.yaml\nname: mine\nmodel: {layers: 2}\n")
    result = in_site(site, tmp_path, "-m", "plmkit", "validate", "mine.yaml")
    assert result.stdout == "mine.yaml: ok (mine: bidirectional, 2 layers, hidden 128)\n", result.stderr
    result = in_site(site, tmp_path, "-m", "plmkit", "validate", "plmkit:bert-no-nsp.yaml", "model.hidden=130")
    line = line_of(RECIPES / "bert.yaml", "heads:", after="attention:")
    assert result.returncode == 2 and result.stderr.startswith(f"plmkit:bert.yaml:{line}: model.attention.heads: ")


def test_a_wheel_installed_plugin_runs_its_own_recipe(wheel_site, tmp_path):
    _, _, site = wheel_site
    result = in_site(site, tmp_path, "-m", "plmkit", "run", "alibi:gpt-alibi.yaml", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("gpt-alibi: GPT with ALiBi attention and label smoothing (plmkit-alibi plugin)\n")
    result = in_site(site, tmp_path, "-m", "plmkit", "validate", "plmkit_alibi:gpt-alibi.yaml", "model.hidden=130")
    line = line_of(ALIBI_RECIPE, "heads:", after="attention:")
    assert result.returncode == 2
    assert result.stderr == f"plmkit_alibi:gpt-alibi.yaml:{line}: model.attention.heads: 4 heads do not divide model.hidden 130\n"
