"""The / command list Telegram shows each officer: everyone's commands, plus those of their roles.

The everyday list is set once for every chat, in each language. An officer whose roles bring
more commands (the legal brigade's 未答问题) gets a list of their own, set on their chat in
their language: at start-up, when they enroll, open the menu or switch language. Whoever is
shown a command, its handler still checks the role.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeChat
from aiogram.utils.i18n import I18n
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.identity import Officer, OfficerRole, Role

log = logging.getLogger(__name__)

# (command, description, roles it is shown to; empty: every officer). Admins hold every role.
COMMANDS: tuple[tuple[str, str, frozenset[Role]], ...] = (
    ("start", "Open the menu", frozenset()),
    ("help", "Help", frozenset()),
    ("language", "Settings / Language", frozenset()),
    ("reminders", "My reminders", frozenset()),
    ("tasks", "My tasks", frozenset()),
    ("notices", "My notices", frozenset()),
    ("rights", "My rights applications", frozenset()),
    ("unanswered", "Unanswered questions (legal brigade)", frozenset({Role.LEGAL})),
    ("broadcast", "Broadcast a tip (legal brigade)", frozenset({Role.LEGAL})),
    ("newtask", "Assign a task", frozenset({Role.SUPERVISOR, Role.LEGAL})),
    ("rightsoffice", "Rights office: applications", frozenset({Role.RIGHTS})),
    ("desk", "Sign in to the desk (web console)", frozenset({Role.LEGAL, Role.RIGHTS, Role.SUPERVISOR})),
    ("cancel", "Cancel", frozenset()),
)
ROLES_WITH_COMMANDS = frozenset(role for _name, _text, roles in COMMANDS for role in roles) | {Role.ADMIN}


def command_list(i18n: I18n, locale: str, officer: Officer | None = None) -> list[BotCommand]:
    """Returns the commands an officer is shown (None: the list every chat gets)."""
    return [
        BotCommand(command=name, description=i18n.gettext(text, locale=locale))
        for name, text, roles in COMMANDS
        if not roles or (officer is not None and officer.has_role(*roles))
    ]


async def set_commands(bot: Bot, i18n: I18n) -> None:
    """Sets everyone's / command list in each language; a failure is logged, never fatal."""
    for language in (None, *i18n.available_locales):
        locale = language or i18n.default_locale
        try:
            await bot.set_my_commands(command_list(i18n, locale), language_code=language)
        except Exception:
            log.exception("setMyCommands(%s) failed; carrying on", language or "default")


async def set_officer_commands(bot: Bot, i18n: I18n, officer: Officer) -> None:
    """Gives an officer's chat the commands of their roles, or back the common list; never fatal."""
    if officer.telegram_user_id is None:
        return
    locale = officer.language if officer.language in i18n.available_locales else i18n.default_locale
    own = command_list(i18n, locale, officer)
    scope = BotCommandScopeChat(chat_id=officer.telegram_user_id)
    try:
        if len(own) == len(command_list(i18n, locale)):
            await bot.delete_my_commands(scope=scope)
        else:
            await bot.set_my_commands(own, scope=scope)
    except Exception:
        log.exception("setMyCommands for officer %s failed; carrying on", officer.badge)


async def set_role_commands(bot: Bot, i18n: I18n, *, session: AsyncSession) -> int:
    """Sets the own lists of every enrolled, active officer whose roles bring commands; returns how many."""
    officers = (
        await session.scalars(
            select(Officer)
            .options(selectinload(Officer.role_rows))
            .join(OfficerRole, OfficerRole.officer_id == Officer.id)
            .where(
                OfficerRole.role.in_([role.value for role in ROLES_WITH_COMMANDS]),
                Officer.active.is_(True),
                Officer.telegram_user_id.is_not(None),
            )
        )
    ).unique().all()
    for officer in officers:
        await set_officer_commands(bot, i18n, officer)
    return len(officers)
