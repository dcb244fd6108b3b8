"""plmkit's shipped recipes: this folder is installed inside plmkit as the data package
``plmkit.recipes`` (see setup.py), so that ``plmkit:gpt.yaml`` names a file here wherever
plmkit is installed. Nothing to import: the recipes are the YAML files."""
