"""Test asset: would register attention 'broken_block', but its import fails."""

import plmkit_dependency_that_is_not_installed  # noqa: F401  (the failure under test)
