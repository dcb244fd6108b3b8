"""The test plugin packages of tests/assets/plugins, pip-installed for real into one folder.

Each package is a tiny real plugin with one failure (an import error, a hook that raises, an
unknown kind, a name collision, a wrong Params class, a build that is not callable, no hook, a
misspelled hook, a check/build/forward/training hook that raises). They are installed once per
test session into a folder that subprocesses get on PYTHONPATH, so discovery goes through
importlib.metadata entry points exactly as for a user's installed plugin.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ASSETS

PACKAGES = sorted(p for p in (ASSETS / "plugins").iterdir() if (p / "pyproject.toml").is_file())
_INSTALLED: list[Path] = []


def install(tmp_path_factory) -> Path:
    """The folder every test plugin package is installed in (installed on the first call)."""
    if not _INSTALLED:
        target = tmp_path_factory.mktemp("plugin-site")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
             "--disable-pip-version-check", "--target", str(target), *map(str, PACKAGES)],
            check=True, capture_output=True,
        )
        _INSTALLED.append(target)
    return _INSTALLED[0]


def env(site: Path, allow: str | None = None) -> dict[str, str]:
    """Environment for a subprocess that sees the installed test plugins (and PLMKIT_PLUGINS=allow)."""
    result = {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")])),
              "PLMKIT_DEBUG": ""}  # tracebacks only where a test asks for them
    if allow is not None:
        result["PLMKIT_PLUGINS"] = allow
    return result


def where(site: Path, module: str, text: str) -> str:
    """``FILE:LINE`` of the first line of an installed test plugin that contains ``text``."""
    path = site / module / "__init__.py"
    lines = path.read_text(encoding="utf-8").splitlines()
    return f"{path}:{next(n for n, line in enumerate(lines, 1) if text in line)}"
