"""The knowledge domain's error."""

from __future__ import annotations


class KnowledgeError(Exception):
    """A knowledge-base operation that cannot be done; the message says why."""
