"""The ``plmkit`` command: one small module per verb, each with ``add_parser`` and ``run``.

Verb modules are imported lazily, so ``plmkit --help`` and ``plmkit validate`` never import
torch. A ``PlmkitError`` prints as its lines (file:line: key: message) and exits with its code:
2 for a wrong recipe or command line, 1 for failures at run time. An exception raised by a
plugin's code prints as one line naming the plugin (``plmkit.plugins.blame``), exit 1; any other
exception is a bug in plmkit and keeps its traceback. ``--debug`` (or ``PLMKIT_DEBUG=1``) prints
the traceback behind every error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from ..errors import DEBUG_ENV, PlmkitError, PluginError, debug_requested

# verb -> (module under plmkit.cli, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "validate": ("validate", "check a recipe; exit 0, or print every problem and exit 2"),
    "show": ("show", "print the fully resolved recipe, its parameter count and memory estimate"),
    "components": ("components", "list registered components by kind, with their parameters"),
    "plugins": ("plugins", "list installed plugin packages and whether they loaded"),
    "plugin": ("plugin", "create a plugin package: plmkit plugin new NAME"),
    "recipes": ("recipes", "list the recipes plmkit and its plugins ship (run them as plmkit:gpt.yaml)"),
    "run": ("run", "train a model from a recipe (or --resume a run folder)"),
    "eval": ("evaluate", "evaluate a trained run on its held-out data"),
    "generate": ("generate", "generate text from a trained causal model"),
    "embed": ("embed", "print contextual vectors for a text from a trained model"),
    "schema": ("schema", "print the JSON Schema of recipes (every registered component), for editors"),
    "export": ("export", "write a trained run for transformers (hf), as safetensors, or in the ELMo format"),
    "compare": ("compare", "pretrain recipes under one budget (or load runs) and compare them on downstream tasks"),
    "report": ("report", "render a comparison's report again from its folder"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2 (as for a wrong recipe)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(verbs: list[str] | None = None) -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="plmkit", description="Build, train and compare BERT, GPT and ELMo variants from YAML recipes.")
    parser.add_argument("--version", action="version", version=f"plmkit {__version__}")
    parser.add_argument("--debug", action="store_true", help=f"print the traceback behind an error (or set {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=_Parser)
    for verb, (module_name, help_text) in VERBS.items():
        if verbs is not None and verb not in verbs:
            sub.add_parser(verb, help=help_text, add_help=False)
            continue
        module = importlib.import_module(f"plmkit.cli.{module_name}")
        verb_parser = sub.add_parser(verb, help=help_text, description=help_text)
        module.add_arguments(verb_parser)
        verb_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        verb_parser.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = next((a for a in argv if not a.startswith("-")), None)
    # only the chosen verb's module is imported; --help lists all without importing them
    parser = build_parser([verb] if verb in VERBS else [])
    args, extra = parser.parse_known_args(argv)
    if extra:  # KEY=VALUE overrides may follow options too (run RECIPE --out DIR train.steps=5)
        unknown = [a for a in extra if a.startswith("-") or "=" not in a or not hasattr(args, "overrides")]
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.overrides = [*args.overrides, *extra]
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    if args.debug:
        os.environ[DEBUG_ENV] = "1"  # also seen by the verb (plmkit plugins) and by torchrun's workers
    args.argv = argv  # plmkit run device.processes=N starts torchrun with the same arguments
    try:
        return int(args.handler(args) or 0)
    except PlmkitError as error:
        return _report(error)
    except KeyboardInterrupt:
        if not quiet_rank():
            print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped early (plmkit components | head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        from ..plugins import blame

        error = blame(exc)
        if error is None:
            raise  # a bug in plmkit itself: its traceback is the report
        error.__cause__ = exc
        return _report(error)


def _report(error: PlmkitError) -> int:
    """Print an error as its lines (after its traceback with --debug); return its exit code."""
    if debug_requested():
        traceback.print_exception(error)
    lines = error.lines()
    if isinstance(error, PluginError) and error.__cause__ is not None and not debug_requested():
        lines[-1] += " (plmkit --debug shows the traceback)"
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and not _rank_should_print(error, lines):
        return error.exit_code
    for line in lines:
        print(line, file=sys.stderr)
    return error.exit_code


def quiet_rank() -> bool:
    """A process other than rank 0 of a run on N processes: rank 0 says what the run did."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and os.environ.get("RANK", "0") != "0"


def _rank_should_print(error: PlmkitError, lines: list[str]) -> bool:
    """One of N processes failed: note it for the launcher (which prints the first failure)."""
    from ..training.distributed import PeerFailed, record_failure

    world, rank = os.environ.get("WORLD_SIZE", "1"), os.environ.get("RANK", "0")
    if not isinstance(error, PeerFailed):
        lines[-1] += f" (process {rank} of {world})"
    return record_failure(lines, error.exit_code, isinstance(error, PeerFailed))


if __name__ == "__main__":
    sys.exit(main())
