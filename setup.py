"""Only what pyproject.toml cannot say: plmkit's recipes (recipes/ at the top of the repository,
their source) are installed inside plmkit as the data package ``plmkit.recipes``.

``packages`` is computed here because pyproject's ``packages.find`` cannot add a package that
lives outside the ``plmkit/`` folder; every ``plmkit*`` package is still found automatically.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["plmkit", "plmkit.*"]) + ["plmkit.recipes"],
    package_dir={"plmkit.recipes": "recipes"},
)
