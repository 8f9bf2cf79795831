"""The legal brigade's queue: answer referred questions and keep good answers as guidance."""

from __future__ import annotations

import asyncio
import contextlib

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keyboards import UNANSWERED, LegalAction, MenuLabel, save_guidance_button
from bot.middlewares import HasRole
from bot.notify import push
from bot.render import esc, fold
from bot.services import FeedbackLike, KnowledgeBaseLike
from core import audit, identity
from core.identity import Officer, Role

MAX_ANSWER = 3000
OPEN = "open"


class LegalReply(StatesGroup):
    """A legal officer is typing the answer to a referred question."""

    typing = State()


def _is_open(status: object) -> bool:
    return str(getattr(status, "value", status)).lower() == OPEN


async def list_unanswered(message: Message, session: AsyncSession, feedback: FeedbackLike) -> None:
    """Lists the open referred questions, one button each."""
    items = await feedback.list_open(session=session, limit=20)
    if not items:
        await message.answer(_("No unanswered questions. Well done."))
        return
    rows = []
    lines = [_("<b>Unanswered questions</b> (oldest first):")]
    for number, item in enumerate(items, start=1):
        shown, _cut = fold(item.question, 80)
        lines.append(f"{number}. {esc(shown)}")
        rows.append(
            [
                InlineKeyboardButton(
                    text=f"✍️ {number}. {fold(item.question, 24)[0]}",
                    callback_data=LegalAction(action="pick", question_id=item.id).pack(),
                )
            ]
        )
    await message.answer("\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def pick(
    query: CallbackQuery,
    callback_data: LegalAction,
    session: AsyncSession,
    feedback: FeedbackLike,
    state: FSMContext,
) -> None:
    """Starts answering one referred question."""
    item = await feedback.get_question(session=session, question_id=callback_data.question_id)
    if item is None or not _is_open(item.status):
        await query.answer(_("This question has already been answered."), show_alert=True)
        return
    await state.set_state(LegalReply.typing)
    await state.update_data(legal_question_id=item.id)
    await query.answer()
    if query.message is not None:
        text = _("Type your answer to this question (send /cancel to stop):")
        await query.message.answer(f"{text}\n<blockquote>{esc(item.question)}</blockquote>")


async def reply(
    message: Message,
    officer: Officer,
    state: FSMContext,
    session: AsyncSession,
    feedback: FeedbackLike,
    i18n: I18n,
    bot: Bot,
) -> None:
    """Sends the legal answer to the officer who asked and offers to keep it as guidance."""
    text = (message.text or "").strip()
    if len(text) > MAX_ANSWER:
        await message.answer(
            _("The answer is too long ({n} characters). Please keep it under {limit}.").format(
                n=len(text), limit=MAX_ANSWER
            )
        )
        return
    question_id = (await state.get_data()).get("legal_question_id")
    await state.set_state(None)
    if not isinstance(question_id, int):
        await message.answer(_("Please pick a question from the list first."))
        return
    item = await feedback.get_question(session=session, question_id=question_id)
    if item is None or not _is_open(item.status):
        await message.answer(_("This question has already been answered."))
        return
    item = await feedback.answer_question(
        session=session, question_id=question_id, answer=text, answered_by_id=officer.id
    )
    asker = await identity.get_officer_by_id(session=session, officer_id=item.officer_id)
    delivered = False
    if asker is not None:
        locale = asker.language if asker.language in i18n.available_locales else i18n.default_locale
        heading = i18n.gettext("The legal brigade answered your question:", locale=locale)
        delivered = await push(
            session=session,
            officer=asker,
            text=(
                f"⚖️ <b>{esc(heading)}</b>\n<blockquote>{esc(fold(item.question, 500)[0])}</blockquote>\n"
                f"{esc(text)}"
            ),
            kind="legal.answer",
            dedupe_key=f"legal-answer:{item.id}",
            # The officer asked and is waiting for this answer, so quiet hours do not hold it back.
            urgent=True,
        )
    confirm = (
        _("Answer sent to the officer who asked.")
        if delivered
        else _("Answer saved; the officer cannot be reached now.")
    )
    await message.answer(confirm, reply_markup=save_guidance_button(item.id, i18n))


async def save_guidance(
    query: CallbackQuery,
    callback_data: LegalAction,
    officer: Officer,
    session: AsyncSession,
    feedback: FeedbackLike,
    kb: KnowledgeBaseLike,
    bot: Bot,
) -> None:
    """Saves an answered question as curated guidance in the knowledge base."""
    item = await feedback.get_question(session=session, question_id=callback_data.question_id)
    if item is None or not item.answer:
        await query.answer(_("There is no answer to save yet."), show_alert=True)
        return
    if item.saved_as_guidance:
        await query.answer(_("Already saved as guidance."), show_alert=True)
        return
    citation = await asyncio.to_thread(
        kb.add_guidance,
        title=fold(item.question, 40)[0],
        question=item.question,
        answer=item.answer,
        author=officer.badge,
    )
    await feedback.mark_saved_as_guidance(session=session, question_id=item.id)
    await audit.record(
        session=session,
        actor=officer.badge,
        action="bot.guidance_saved",
        target_type="unanswered_question",
        target_id=item.id,
        officer_id=officer.id,
        detail={"record_id": citation.record_id},
    )
    await query.answer(_("Saved as guidance."))
    if query.message is not None:
        # Removing the button is cosmetic; the guidance is saved either way.
        with contextlib.suppress(TelegramAPIError):
            await bot.edit_message_reply_markup(
                chat_id=query.message.chat.id, message_id=query.message.message_id, reply_markup=None
            )
        await query.message.answer(_("Saved as guidance. Officers asking similar questions will now see it."))


def create_router() -> Router:
    """Builds the legal brigade router (a new one per application)."""
    router = Router(name="legal")
    router.message.filter(HasRole(Role.LEGAL))
    router.callback_query.filter(HasRole(Role.LEGAL))
    router.message.register(list_unanswered, Command("unanswered"))
    router.message.register(list_unanswered, MenuLabel(UNANSWERED))
    router.callback_query.register(pick, LegalAction.filter(F.action == "pick"))
    router.message.register(reply, LegalReply.typing, F.text, ~F.text.startswith("/"))
    router.callback_query.register(save_guidance, LegalAction.filter(F.action == "save"))
    return router
