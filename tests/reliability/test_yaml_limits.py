"""Recipes are read within bounds: no YAML document, alias or interpolation can exhaust time or
memory or reach Python's recursion limit, and every mutation of a shipped recipe ends as a valid
recipe or one-line problems (exit 2), quickly and in little memory."""

from __future__ import annotations

import copy
import math
import os
import shutil
import sys
import time

import pytest
import yaml
from hypothesis import given, strategies as st

from plmkit import load_recipe
from plmkit.errors import RecipeError
from plmkit.recipe.limits import MAX_DEPTH, MAX_RECIPE_BYTES, MAX_VALUES
from plmkit.recipe.loader import load_file
from plmkit.recipe.validate import recipe_from_dict

from conftest import run_cli
from tiny import RECIPES, fuzz_settings, one_line, peak_rss

GPT = RECIPES / "gpt.yaml"


def problems_of(path, *overrides):
    with pytest.raises(RecipeError) as info:
        load_recipe(path, list(overrides))
    return info.value.lines()


def child(tmp_path, body: str, name="r.yaml"):
    path = tmp_path / name
    path.write_text(f"extends: {GPT}\n{body}", encoding="utf-8")
    return path


def alias_bomb(levels: int, fanout: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * fanout) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fanout) + "]")
    return "\n".join(lines) + f"\ndescription: *a{levels}\n"


def test_an_alias_bomb_fails_at_once_with_one_line(tmp_path):
    path = child(tmp_path, alias_bomb(9))
    started = time.monotonic()
    (line,) = problems_of(path)
    assert time.monotonic() - started < 2
    assert line.startswith(f"{path}:") and f"more than {MAX_VALUES} values" in line
    result = run_cli("validate", str(path), timeout=120)  # what a user sees: one line, exit 2
    assert result.returncode == 2 and one_line(result.stderr) == line


def test_merge_keys_cannot_multiply_either(tmp_path):
    lines = ["b0: &b0 {x: 1, y: 2}"]
    for i in range(1, 9):
        lines.append(f"b{i}: &b{i} {{<<: [" + ", ".join([f"*b{i - 1}"] * 9) + "]}")
    (line,) = problems_of(child(tmp_path, "\n".join(lines) + "\n"))
    assert f"more than {MAX_VALUES} values" in line


@pytest.mark.parametrize("body, expected", [
    ("description: " + "[" * 100 + "]" * 100 + "\n", f"nests more than {MAX_DEPTH} levels deep"),
    ("description:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 100)) + "  " * 100 + "x: 1\n",
     f"nests more than {MAX_DEPTH} levels deep"),
    ("a: &a [" + "[" * 20 + "]" * 20 + "]\nb: &b [*a, [" + "[" * 15 + "*a" + "]" * 15 + "]]\n",
     "once its aliases are expanded"),
    ("description: &x [1, *x]\n", "refers to a value that contains it"),
    ("description: !!set {a, b}\n", "the YAML tag !!set is not allowed"),
    ("description: !!binary aGVsbG8=\n", "the YAML tag !!binary is not allowed"),
    ("description: !!python/object/apply:os.system ['echo pwned']\n", "the YAML tag !!python/object/apply:os.system"),
    ("train: {seed: " + "7" * 5000 + "}\n", "an integer of 5000 digits"),
])
def test_documents_beyond_the_bounds_are_one_line_each(tmp_path, body, expected):
    (line,) = problems_of(child(tmp_path, body))
    assert expected in line and line.startswith(f"{tmp_path / 'r.yaml'}:")


def test_a_date_is_text_not_a_crash(tmp_path):
    recipe = load_recipe(child(tmp_path, "description: 2026-11-30\n"))
    assert recipe.description == "2026-11-30"


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = child(tmp_path, "description: '" + "x" * (MAX_RECIPE_BYTES + 10) + "'\n")
    (line,) = problems_of(path)
    assert f"larger than {MAX_RECIPE_BYTES // 1024} KiB" in line


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_extends_of_something_that_is_not_a_file_gets_its_own_line(tmp_path, special):
    if special == "fifo":
        special = str(tmp_path / "fifo")
        os.mkfifo(special)  # opening it would block until a writer came: it must never be opened
    path = tmp_path / "r.yaml"
    path.write_text(f"extends: {special}\n")
    (line,) = problems_of(path)
    assert line == f"{path}:1: extends: extends '{special}', but {special} is not a regular file (a device, pipe or socket)"


def test_an_interpolation_bomb_and_a_long_chain_are_refused_before_resolving(tmp_path):
    bomb = ["a0: xxxxxxxxxx"] + [f"a{i}: '" + f"${{a{i - 1}}}" * 9 + "'" for i in range(1, 10)]
    started = time.monotonic()
    (line,) = problems_of(child(tmp_path, "\n".join(bomb) + "\ndescription: ${a9}\n"))
    assert "resolve to more than 1,000,000 characters" in line and time.monotonic() - started < 5
    chain = ["c0: x"] + [f"c{i}: ${{c{i - 1}}}" for i in range(1, 400)]
    (line,) = problems_of(child(tmp_path, "\n".join(chain) + "\ndescription: ${c399}\n"))
    assert "references nest more than" in line
    nested = "${add:" * 60 + "1" + ",1}" * 60
    (line,) = problems_of(child(tmp_path, f"train: {{seed: '{nested}'}}\n"))
    assert "nest more than" in line


def test_a_recipe_given_as_data_is_bounded_too():
    data = load_recipe(GPT).to_dict()
    data["description"] = data  # a dict that contains itself
    with pytest.raises(RecipeError, match="contains itself"):
        recipe_from_dict(data)
    deep: list = []
    for _ in range(200):
        deep = [deep]
    data = load_recipe(GPT).to_dict()
    data["description"] = deep
    with pytest.raises(RecipeError, match="nests more than"):
        recipe_from_dict(data)


# -- fuzzing: mutate the shipped recipes -----------------------------------------------------------
SHIPPED = {path.name: load_file(path).data for path in sorted(RECIPES.glob("*.yaml"))}
SPECIAL_NUMBERS = [0, -1, 1, 2**31, 2**63, 2**64 + 1, 10**12, 10**40, 1e308, -1e308, 5e-324, -0.0,
                   math.inf, -math.inf, math.nan, True, False]
SPECIAL_TEXT = ["${model.hidden}", "${mul:4,${model.hidden}}", "${oc.env:HOME}", "${nope}", "${.x}", "${..y}",
                "${add:${train.steps},1}", "../../etc/passwd", "/dev/zero", "gpt.yaml", "bert.yaml", "alibi",
                "transformer", "causal_lm", "byte_bpe", "cpu", "cuda", "text", "jsonl", "\x00", "é\u202e\U0001f600",
                "{a: 1}", "[1, 2", "*alias", "&anchor x", "!!python/name:os.system", "null", "~", "yes", "0x1F"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(SPECIAL_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), st.sampled_from(SPECIAL_TEXT),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8) | st.sampled_from(["type", "heads", "steps"]), inner,
                                        max_size=4), max_leaves=10)


def _paths(data) -> list[tuple]:
    """Paths into ``data``: each container entered once (aliases and bombs share them), at most 40
    deep and 2000 in all."""
    found, entered, stack = [], set(), [((), data)]
    while stack and len(found) < 2000:
        prefix, value = stack.pop()
        found.append(prefix)
        if isinstance(value, (dict, list)) and id(value) not in entered and len(prefix) < 40:
            entered.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((prefix + (key,), item) for key, item in items)
    return found


def _mutate(recipe: dict, data) -> dict:
    path = data.draw(st.sampled_from(_paths(recipe)), label="path")
    if not path:
        return data.draw(st.sampled_from([recipe, {}, {"extends": "gpt.yaml"}]))
    parent = recipe
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    operation = data.draw(st.sampled_from(["replace", "delete", "add", "wrap", "deep", "alias", "bomb"]), label="op")
    if operation == "replace":
        parent[key] = data.draw(VALUES, label="value")
    elif operation == "delete":
        del parent[key]
    elif operation == "add" and isinstance(parent, dict):
        parent[data.draw(st.text(max_size=8) | st.sampled_from(["type", "extends", "steps"]))] = data.draw(VALUES)
    elif operation == "wrap":
        parent[key] = data.draw(st.sampled_from([[parent[key]], {"type": parent[key]}, {"x": parent[key]}]))
    elif operation == "deep":
        value = parent[key]
        for _ in range(data.draw(st.integers(20, 150), label="depth")):
            value = [value]
        parent[key] = value
    elif operation == "alias":  # the same object twice: safe_dump writes an anchor and an alias
        parent[key] = recipe.get(data.draw(st.sampled_from(sorted(recipe)), label="aliased"))
    elif operation == "bomb":
        value: list = ["x"]
        for _ in range(data.draw(st.integers(2, 8), label="levels")):
            value = [value] * data.draw(st.integers(2, 9), label="fanout")
        parent[key] = value
    return recipe


def _outcome(path):
    """Load and validate: a Recipe, or one-line problems; within the time and memory bounds."""
    started, peak_before = time.monotonic(), peak_rss()
    try:
        recipe = load_recipe(path)
    except RecipeError as error:
        lines = error.lines()
        assert lines and all(line.strip() and "\n" not in line and "Traceback" not in line for line in lines), lines
        recipe = None
    assert time.monotonic() - started < 20, "validation took too long"
    grown = peak_rss() - peak_before  # the process's peak only grows: no example can hide a spike
    assert grown < 300 * 2**20, f"validation raised the peak memory by {grown / 2**20:.0f} MiB"
    return recipe


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    for path in RECIPES.glob("*.yaml"):
        shutil.copy(path, folder / path.name)  # so that a mutated extends can still name a real file
    return folder


@fuzz_settings(100)
@given(data=st.data())
def test_every_mutation_of_a_shipped_recipe_is_valid_or_one_line_problems(fuzz_folder, data):
    name = data.draw(st.sampled_from(sorted(SHIPPED)), label="recipe")
    recipe = copy.deepcopy(SHIPPED[name])
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        recipe = _mutate(recipe, data)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 2000))  # for safe_dump of deep test values only
    text = yaml.safe_dump(recipe, allow_unicode=data.draw(st.booleans(), label="unicode"))
    raw = text.encode("utf-8")
    if raw and data.draw(st.booleans(), label="damage the bytes"):
        at = data.draw(st.integers(0, len(raw) - 1), label="at")
        raw = data.draw(st.sampled_from([raw[:at], raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1:],
                                         raw[:at] + b"\xff\xfe" + raw[at:]]), label="damage")
    path = fuzz_folder / "mutated.yaml"
    path.write_bytes(raw)
    validated = _outcome(path)
    if validated is not None:  # a valid recipe is one plmkit can describe (or refuses in one line)
        from plmkit.recipe.summary import estimate

        try:
            assert estimate(validated).parameters > 0
        except RecipeError as error:
            assert len(error.lines()) == 1
