"""Every kind of recipe mistake gives one line with file:line, the dotted key, what and why."""

from __future__ import annotations

import textwrap

import pytest

import plmkit
from plmkit.errors import RecipeError

from conftest import RECIPES

GPT = RECIPES / "gpt.yaml"


def problems(path, overrides=()):
    with pytest.raises(RecipeError) as info:
        plmkit.load_recipe(path, overrides)
    return info.value.lines()


def write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def child(tmp_path, body, name="r.yaml"):
    """A recipe extending gpt.yaml; ``body`` starts on line 2."""
    return write(tmp_path, f"extends: {GPT}\n" + textwrap.dedent(body), name)


def test_bad_type_names_file_line_key_expected_and_received(tmp_path):
    path = child(tmp_path, """\
        model:
          layers: two
        """)
    assert problems(path) == [f"{path}:3: model.layers: expected an integer >= 1, got 'two'"]


def test_out_of_range_value(tmp_path):
    path = child(tmp_path, """\
        train:
          lr: -1.0
        """)
    assert problems(path) == [f"{path}:3: train.lr: expected a number > 0, got -1.0"]


def test_unknown_key_gets_a_suggestion(tmp_path):
    path = child(tmp_path, """\
        train:
          stpes: 10
        """)
    (line,) = problems(path)
    assert line.startswith(f"{path}:3: train.stpes: unknown key (did you mean 'steps'?)")


def test_unknown_key_inside_a_component_is_checked_against_its_params(tmp_path):
    path = child(tmp_path, """\
        model:
          attention:
            haeds: 2
        """)
    (line,) = problems(path)
    assert line.startswith(f"{path}:4: model.attention.haeds: unknown key (did you mean 'heads'?)")


def test_unknown_component_lists_the_registered_names(tmp_path):
    path = child(tmp_path, """\
        model:
          attention:
            type: transfomer
        """)
    (line,) = problems(path)
    assert line.startswith(f"{path}:4: model.attention.type: unknown attention 'transfomer' (did you mean 'transformer'?)")
    assert "registered: " in line and "transformer" in line.split("registered: ")[1]


def test_missing_required_field(tmp_path):
    path = write(tmp_path, """\
        name: x
        model:
          layers: 2
          direction: causal
          embedding: {type: sum, parts: [{type: token}]}
          attention: {type: transformer}
          head: {lm: {type: causal_lm}}
        tokenizer: {type: byte_bpe}
        data: {type: generated}
        train: {steps: 5}
        """)
    (line,) = problems(path)
    assert line.startswith(f"{path}:2: model.hidden: required, but missing")


def test_bad_interpolation(tmp_path):
    path = child(tmp_path, """\
        model:
          hidden: ${model.width}
        """)
    (line,) = problems(path)
    assert line.startswith(f"{path}:3: model.hidden: cannot resolve '${{model.width}}'")


def test_only_plmkit_resolvers_are_allowed(tmp_path):
    path = child(tmp_path, """\
        name: ${oc.env:HOME}
        """)
    (line,) = problems(path)
    assert line.startswith(f"{path}:2: name: unknown resolver 'oc.env'")
    assert "mul" in line  # says which resolvers exist


def test_broken_yaml_reports_the_line(tmp_path):
    path = write(tmp_path, "name: x\nmodel:\n  hidden: [1, 2\n  layers: 2\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}:") and "YAML syntax error" in line


def test_yaml_tags_that_run_code_are_refused(tmp_path):
    path = write(tmp_path, "name: !!python/object/apply:os.system ['echo pwned']\n")
    (line,) = problems(path)
    assert "YAML" in line and "pwned" not in line.split("YAML")[0]


def test_duplicate_keys_are_reported(tmp_path):
    path = child(tmp_path, """\
        name: a
        name: b
        """)
    assert any(":3: name: key appears twice" in line for line in problems(path))


def test_extends_a_missing_file(tmp_path):
    path = write(tmp_path, "extends: nowhere.yaml\nname: x\n")
    (line,) = problems(path)
    assert line == f"{path}:1: extends: extends 'nowhere.yaml', but {tmp_path / 'nowhere.yaml'} does not exist"


def test_a_cycle_of_extends(tmp_path):
    write(tmp_path, "extends: b.yaml\nname: a\n", "a.yaml")
    b = write(tmp_path, "extends: a.yaml\nname: b\n", "b.yaml")
    (line,) = problems(b)
    assert "extends forms a cycle" in line and "a.yaml" in line and "b.yaml" in line


def test_every_problem_is_reported_at_once(tmp_path):
    path = child(tmp_path, """\
        model:
          layers: 0
          attention:
            type: transfomer
        train:
          lr: fast
        """)
    lines = problems(path, ["train.steps=-3"])
    assert len(lines) == 4
    assert lines[-1].startswith("command line: train.steps: expected an integer >= 1, got -3")


def test_bad_override_syntax():
    (line,) = problems(GPT, ["train.lr"])
    assert line.startswith("command line: 'train.lr': expected KEY=VALUE")


def test_rules_across_components(tmp_path):
    path = child(tmp_path, """\
        model:
          hidden: 100
          direction: bidirectional
          attention:
            heads: 3
        train:
          seq_len: 512
        """)
    text = "\n".join(problems(path))
    assert "model.attention.heads" in text and "divide" in text  # 3 heads, hidden 100
    assert "causal" in text  # causal_lm on a bidirectional model
    assert "max_positions" in text  # seq_len 512 > the 256-row position table


def test_recipe_that_is_not_a_mapping(tmp_path):
    path = write(tmp_path, "- just\n- a list\n")
    (line,) = problems(path)
    assert line == f"{path}:1: a recipe must be a mapping of keys (name:, model:, ...)"


def test_missing_recipe_file(tmp_path):
    (line,) = problems(tmp_path / "nope.yaml")
    assert line == f"{tmp_path / 'nope.yaml'}: recipe file not found"


@pytest.mark.parametrize("recipe,overrides,expected", [
    ("gpt-lstm", ["model.recurrent.projection_dim=64"], "model.head.lm.tie: causal_lm ties its softmax to the 128-wide"),
    ("bert", ["model.embedding.type=char_cnn"], "model.head.mlm.tie: masked_lm ties its softmax to the token table, but"),
    ("elmo", ["model.recurrent.projection_dim=16"], "model.head.mix: the mix weighs the embedding"),
    ("elmo", ["tokenizer.type=byte_bpe"], "tokenizer.type: bilm batches predict whole words"),
    ("gpt", ["model.embedding.type=char_cnn", "model.head.lm.tie=false"], "model.embedding: char_cnn reads the characters"),
    ("bert", ["train.seq_len=4"], "train.seq_len: 4 is too short for [CLS] A [SEP] B [SEP]"),
])
def test_shapes_that_do_not_fit_are_caught_before_building(recipe, overrides, expected):
    lines = problems(RECIPES / f"{recipe}.yaml", overrides)
    assert any(expected in line for line in lines), lines


def test_an_unknown_key_from_the_command_line_is_located_there():
    (line,) = problems(GPT, ["trian.steps=3"])
    assert line.startswith("command line: trian: unknown key (did you mean 'train'?)")


def test_a_relative_tokenizer_path_is_relative_to_the_recipe(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "tok.json").write_text('{"model": {"vocab": {"a": 0, "b": 1}}}')
    path = write(folder, f"extends: {GPT}\ntokenizer:\n  type: pretrained\n  path: tok.json\n")
    monkeypatch.chdir(tmp_path)  # elsewhere: the path must still be found next to the recipe
    assert plmkit.load_recipe(path).tokenizer.params.path == "tok.json"
    (folder / "tok.json").unlink()
    (line,) = problems(path)
    assert "tokenizer.path: no tokenizer file 'tok.json'" in line and str(folder) in line


def test_an_override_through_a_plain_value_is_refused():
    (line,) = problems(GPT, ["model.hidden.x=1"])
    assert line.startswith("command line: model.hidden.x: cannot set 'model.hidden.x=1': model.hidden is a single value")


def test_extends_of_nothing_or_of_a_folder(tmp_path):
    (line,) = problems(write(tmp_path, 'extends: ""\nname: x\n'))
    assert line.endswith("extends: extends names no file; give a recipe file's path")
    (tmp_path / "folder").mkdir()
    (line,) = problems(write(tmp_path, "extends: folder\nname: x\n", "b.yaml"))
    assert "is a folder; name a recipe file in it" in line


def test_a_default_of_a_replaced_component_is_located_where_the_component_is_written(tmp_path):
    """bert.yaml writes random_token_prob under pairs; this child replaces pairs by segments, whose
    random_token_prob is then a default: the error points at the child's batching, not bert.yaml."""
    path = write(tmp_path, f"""\
        extends: {RECIPES / 'bert.yaml'}
        name: x
        model: {{head: {{nsp: null}}}}
        batching:
          type: segments
          mask_token_prob: 0.95
        """)
    assert problems(path) == [f"{path}:4: batching.random_token_prob: mask_token_prob 0.95 + random_token_prob 0.1 "
                              f"exceed 1; together they must be at most 1"]
