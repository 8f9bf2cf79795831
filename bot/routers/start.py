"""Enrollment: the only thing an unknown or deactivated account can do."""

from __future__ import annotations

import math

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.command_menu import set_officer_commands
from bot.keyboards import main_menu
from bot.middlewares import NotEnrolled
from bot.render import esc
from core import identity
from core.identity import EnrollOutcome, Officer
from core.settings import Settings


def _ask_for_code() -> str:
    return _(
        "Welcome to Frontline. This assistant is for enrolled police officers only.\n"
        "Please send the 8-character enrollment code you received from your administrator."
    )


async def _redeem(
    message: Message, code: str, *, session: AsyncSession, settings: Settings, i18n: I18n
) -> None:
    """Redeems a code and tells the account how it went."""
    assert message.from_user is not None  # private chats always have a sender
    result = await identity.redeem_code(
        session=session,
        telegram_user_id=message.from_user.id,
        code=code,
        max_failures_per_hour=settings.enroll_max_failures_per_hour,
    )
    if result.outcome is EnrollOutcome.ENROLLED and result.officer is not None:
        officer: Officer = result.officer
        locale = officer.language if officer.language in i18n.available_locales else i18n.default_locale
        text = i18n.gettext(
            "Enrolled. Welcome, {name} ({badge}).\nType a legal question at any time, or use the menu below.",
            locale=locale,
        ).format(name=esc(officer.name), badge=esc(officer.badge))
        await message.answer(text, reply_markup=main_menu(officer, i18n, locale))
        if message.bot is not None:
            await set_officer_commands(message.bot, i18n, officer)
        return
    if result.outcome is EnrollOutcome.LOCKED:
        minutes = max(1, math.ceil(result.retry_after.total_seconds() / 60)) if result.retry_after else 60
        await message.answer(
            _("Too many wrong codes. For your security, please try again in {minutes} minutes.").format(
                minutes=minutes
            )
        )
        return
    replies = {
        EnrollOutcome.WRONG_CODE: _("This code is not valid. Please check it and send it again."),
        EnrollOutcome.EXPIRED: _("This code has expired. Please ask your administrator for a new one."),
        EnrollOutcome.USED: _(
            "This code has already been used. Please ask your administrator for a new one."
        ),
        EnrollOutcome.INACTIVE: _("This account has been deactivated. Please contact your administrator."),
    }
    await message.answer(replies[result.outcome])


async def start_with_code(
    message: Message, command: CommandObject, session: AsyncSession, settings: Settings, i18n: I18n
) -> None:
    """Enrolls from a deep link: /start CODE."""
    await _redeem(message, command.args or "", session=session, settings=settings, i18n=i18n)


async def start(message: Message, account: Officer | None) -> None:
    """Asks an unknown account for its enrollment code."""
    if account is not None and not account.active:
        await message.answer(_("This account has been deactivated. Please contact your administrator."))
        return
    await message.answer(_ask_for_code())


async def code_sent(message: Message, session: AsyncSession, settings: Settings, i18n: I18n) -> None:
    """Enrolls with a code typed into the chat."""
    await _redeem(message, message.text or "", session=session, settings=settings, i18n=i18n)


async def not_enrolled(message: Message, account: Officer | None) -> None:
    """Answers anything else from an unknown or deactivated account without giving any data."""
    if account is not None and not account.active:
        await message.answer(_("This account has been deactivated. Please contact your administrator."))
        return
    await message.answer(_ask_for_code())


async def not_enrolled_button(query: CallbackQuery, account: Officer | None) -> None:
    """Refuses buttons pressed by an unknown or deactivated account."""
    if account is not None and not account.active:
        await query.answer(
            _("This account has been deactivated. Please contact your administrator."), show_alert=True
        )
        return
    await query.answer(_("Please enroll first: send your enrollment code."), show_alert=True)


def create_router() -> Router:
    """Builds the enrollment router (a new one per application)."""
    router = Router(name="start")
    router.message.filter(NotEnrolled())
    router.callback_query.filter(NotEnrolled())
    router.message.register(start_with_code, CommandStart(deep_link=True))
    router.message.register(start, CommandStart())
    router.message.register(code_sent, F.text.func(identity.looks_like_code))
    router.message.register(not_enrolled)
    router.callback_query.register(not_enrolled_button)
    return router
