"""Main menu, help, and the language setting."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.command_menu import set_officer_commands
from bot.keyboards import (
    ASK,
    HELP,
    SETTINGS,
    UNANSWERED,
    LanguageChoice,
    MenuLabel,
    language_buttons,
    main_menu,
)
from bot.middlewares import Enrolled, HasRole
from bot.render import esc
from core import identity
from core.identity import LANGUAGES, Officer, Role


def help_text() -> str:
    """Explains what the bot does, in the current language."""
    return _(
        "<b>Frontline assistant</b>\n"
        "• Type any legal question; the answer quotes the exact articles.\n"
        "• 👍/👎 tells us whether an answer helped; 📨 refers a question to the legal brigade.\n"
        "• My reminders: statutory deadlines of your cases.\n"
        "• My tasks: work assigned to you; mark it done here.\n"
        "• My notices: risk tips from the legal brigade; press ✅ Acknowledge once read.\n"
        "• My rights applications: apply for protection after an assault, insult, threat or false accusation on duty, with photos and documents.\n"
        "• Settings / Language: switch between Chinese and English.\n"
        "• /cancel stops what you are doing."
    )


async def welcome(message: Message, officer: Officer, i18n: I18n, state: FSMContext) -> None:
    """Greets an enrolled officer and shows the menu."""
    await state.set_state(None)
    text = _("Hello, {name}. Type a legal question, or use the menu below.").format(name=esc(officer.name))
    await message.answer(text, reply_markup=main_menu(officer, i18n, i18n.current_locale))
    if message.bot is not None:
        await set_officer_commands(message.bot, i18n, officer)  # roles may have changed since


async def show_help(message: Message, officer: Officer, i18n: I18n) -> None:
    """Shows the help text."""
    await message.answer(help_text(), reply_markup=main_menu(officer, i18n, i18n.current_locale))


async def prompt_question(message: Message) -> None:
    """Invites the officer to type a question."""
    await message.answer(_("Please type your question, for example: How long can bail pending trial last?"))


async def cancel(message: Message, officer: Officer, state: FSMContext, i18n: I18n) -> None:
    """Leaves whatever the officer was in the middle of."""
    await state.set_state(None)
    await message.answer(_("Cancelled."), reply_markup=main_menu(officer, i18n, i18n.current_locale))


async def settings_menu(message: Message, officer: Officer) -> None:
    """Offers the language choice."""
    await message.answer(_("Choose your language:"), reply_markup=language_buttons(officer.language))


async def choose_language(
    query: CallbackQuery, callback_data: LanguageChoice, officer: Officer, session: AsyncSession, i18n: I18n
) -> None:
    """Switches the officer's language and shows the menu in it."""
    code = callback_data.code
    if code not in LANGUAGES:
        await query.answer(_("Unknown language."), show_alert=True)
        return
    await identity.set_language(session=session, officer=officer, language=code)
    text = i18n.gettext("Language set to English.", locale=code)
    await query.answer(text)
    if query.message is not None:
        await query.bot.send_message(  # type: ignore[union-attr]  # a callback from Telegram is always bound to a bot
            query.message.chat.id, text, reply_markup=main_menu(officer, i18n, code)
        )
    if query.bot is not None:
        await set_officer_commands(query.bot, i18n, officer)  # the / list in the new language


async def unanswered_not_allowed(message: Message) -> None:
    """Tells officers outside the legal brigade that the queue is not theirs."""
    await message.answer(_("This is for the legal brigade only."))


def create_router() -> Router:
    """Builds the menu router (a new one per application)."""
    router = Router(name="menu")
    router.message.filter(Enrolled())
    router.callback_query.filter(Enrolled())
    router.message.register(welcome, CommandStart())
    router.message.register(welcome, Command("menu"))
    router.message.register(show_help, Command("help"))
    router.message.register(show_help, MenuLabel(HELP))
    router.message.register(prompt_question, Command("ask"))
    router.message.register(prompt_question, MenuLabel(ASK))
    router.message.register(cancel, Command("cancel"))
    router.message.register(settings_menu, Command("language"))
    router.message.register(settings_menu, MenuLabel(SETTINGS))
    router.callback_query.register(choose_language, LanguageChoice.filter())
    router.message.register(unanswered_not_allowed, Command("unanswered"), ~HasRole(Role.LEGAL))
    router.message.register(unanswered_not_allowed, MenuLabel(UNANSWERED), ~HasRole(Role.LEGAL))
    return router
