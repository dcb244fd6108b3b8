"""Rules about the heads together and the batches they train on, read from class facts (no torch).

Each head's Params declares the ``objective`` it trains (``HeadParams.objective``); each batching
declares the ``objectives`` its batches serve (``BatchingParams.objectives``) and the tokenizer
roles it needs (``required_tokens()``); each tokenizer the ``special_tokens`` it has. So:

* without a ``batching:`` section, the batching is the built-in whose objectives are the fewest
  that cover the heads' (a plugin's only when no built-in serves them, and only one plugin does);
* a named batching must serve every head's objective;
* at most one language-model head and at most one head that transforms the inputs;
* every head works with ``model.direction``;
* the tokenizer has the special tokens the batching needs (when it says which it has).
"""

from __future__ import annotations

from typing import Any

__all__ = ["default_batching", "objective_problems", "untrainable"]

BUILTIN = "plmkit"


def _objectives(heads: dict[str, Any]) -> dict[str, str]:
    """head name -> objective, for the heads that train on one."""
    return {name: spec.params.objective for name, spec in heads.items() if spec.params.objective}


def _listing(registry: Any) -> str:
    return "; ".join(f"{c.name} ({', '.join(sorted(c.params.objectives))})" for c in registry.of_kind("batching"))


def default_batching(heads: dict[str, Any], registry: Any) -> tuple[str | None, str | None]:
    """(name of the batching serving these heads, None), (None, why none can be chosen), or
    (None, None) when no head trains on anything (such a model can be built, not trained)."""
    needs = _objectives(heads)
    if not needs:
        return None, None
    wanted = set(needs.values())
    serving = [c for c in registry.of_kind("batching") if wanted <= c.params.objectives]
    if not serving:
        heads_text = ", ".join(f"{n} ({o})" for n, o in needs.items())
        return None, (f"no batching serves these heads together: {heads_text}; batchings and the objectives "
                      f"they serve: {_listing(registry)}")
    for group in ([c for c in serving if c.provider == BUILTIN], [c for c in serving if c.provider != BUILTIN]):
        if group:
            fewest = min(len(c.params.objectives) for c in group)
            best = [c for c in group if len(c.params.objectives) == fewest]
            if len(best) == 1:
                return best[0].name, None
            names = ", ".join(f"{c.name} ({c.provider})" for c in best)
            return None, f"several batchings serve these heads equally well: {names}; name one with batching: {{type: NAME}}"
    return None, "no batching found"  # not reached: serving is not empty


def objective_problems(recipe: Any) -> list[tuple[str, str]]:
    """(dotted key, message) for every rule above that the validated recipe breaks."""
    heads = {name: spec for name, spec in recipe.model.head.items() if spec is not None}
    problems = []
    language_models = [name for name, spec in heads.items() if spec.params.language_model]
    rewriting = [name for name, spec in heads.items() if spec.params.transforms_inputs]
    for named, what in ((language_models, "language models"), (rewriting, "rewriting the inputs")):
        if len(named) > 1:
            problems.append(("model.head", f"heads {', '.join(named)} are all {what}; keep one"))
    direction = recipe.model.direction
    for name, spec in heads.items():
        allowed = spec.params.directions
        if direction not in allowed:
            problems.append((f"model.head.{name}", f"{spec.type} works with model.direction "
                             f"{' or '.join(allowed)}, but model.direction is {direction!r}"))
    batching = recipe.batching
    if batching is not None:
        served = batching.params.objectives
        for name, objective in _objectives(heads).items():
            if objective not in served:
                problems.append(("batching.type", f"batching {batching.type} serves {', '.join(sorted(served))}, "
                                 f"but head {name} ({heads[name].type}) trains on {objective}; choose a batching "
                                 f"that serves it or leave batching out to have one chosen"))
        problems += _token_problems(recipe)
    return problems


def _token_problems(recipe: Any) -> list[tuple[str, str]]:
    has = recipe.tokenizer.params.special_tokens
    if has is None:  # not known before the tokenizer is loaded: checked when the data is prepared
        return []
    missing = sorted(set(recipe.batching.params.required_tokens()) - has)
    if not missing:
        return []
    return [("tokenizer.type", f"the {recipe.tokenizer.type} tokenizer has no {', '.join(missing)} token(s), "
             f"which {recipe.batching.type} batches are made with; choose a tokenizer that has them")]


def untrainable(recipe: Any) -> str | None:
    """Why this recipe builds a model that cannot be trained (no head has an objective), or None."""
    if recipe.batching is not None:
        return None
    heads = ", ".join(name for name, spec in recipe.model.head.items() if spec is not None)
    return (f"no head trains on anything (heads: {heads}): the model can be built and used, not trained; "
            f"add a head with an objective, e.g. causal_lm, masked_lm or bidirectional_lm")
