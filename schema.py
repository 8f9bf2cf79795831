"""The whole database schema: imports every package's models onto one metadata.

Alembic and the tests use this; nothing in the domains imports it.
"""

from __future__ import annotations

from sqlalchemy import MetaData

import bot.storage
import broadcasts.models
import core.audit
import core.identity
import core.outbox
import core.signin
import knowledge.models
import reminders.models
import rights.models
import tasks.models
from core.db import Base

MODEL_MODULES = (
    core.identity,
    core.audit,
    core.outbox,
    core.signin,
    knowledge.models,
    reminders.models,
    rights.models,
    broadcasts.models,
    tasks.models,
    bot.storage,
)


def load_models() -> MetaData:
    """Returns the metadata every models module above has registered its tables on."""
    return Base.metadata
