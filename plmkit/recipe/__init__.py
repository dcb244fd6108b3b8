"""Recipes: loading (loader), their shape (schema), validation (validate) and summaries (summary)."""
