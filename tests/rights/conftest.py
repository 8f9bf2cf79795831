"""Fixtures of the rights tests (defined in rights_helpers, which the tests import by name)."""

from rights_helpers import fetcher, org, submit_app  # noqa: F401  # fixtures are found by name
