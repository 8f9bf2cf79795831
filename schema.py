"""The whole database schema: imports every package's models onto one metadata.

Alembic and the tests use this; nothing in the domains imports it.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from core.db import Base

MODEL_MODULES = (
    "core.identity",
    "core.audit",
    "core.outbox",
    "knowledge.models",
    "reminders.models",
    "rights.models",
    "bot.storage",
)


def load_models() -> MetaData:
    """Imports every models module that exists and returns the shared metadata."""
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return Base.metadata
